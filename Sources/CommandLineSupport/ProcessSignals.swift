#if canImport(Glibc)
  import Glibc
#endif

/// What both executables do with signals before anything else.
public enum ProcessSignals {
  /// A process inherits the signal mask of the thread that started it, and harnesses often
  /// start processes from threads that block signals (Swift concurrency's pool blocks SIGTERM,
  /// SIGINT and SIGHUP among others): a client started so would never see the SIGTERM meant to
  /// end it. So every signal is unblocked (the server then blocks the ones it reads from its
  /// signalfd). SIGPIPE is ignored: a write to a peer that went away fails with EPIPE, and is
  /// reported, instead of killing the process without a word. Call before starting any thread.
  public static func prepare() {
    var none = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, nil)
    signal(SIGPIPE, SIG_IGN)
  }
}
