import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// Signals the server handles synchronously on its main thread (with `sigwait`), so no code
/// runs in signal context.
struct SignalSet {
  private var set = sigset_t()

  static var serverSignals: SignalSet {
    var signals = SignalSet()
    sigemptyset(&signals.set)
    for number in [SIGINT, SIGTERM] { sigaddset(&signals.set, number) }
    return signals
  }

  /// Blocks the signals in this thread and in every thread started after.
  func block() {
    var set = self.set
    pthread_sigmask(SIG_BLOCK, &set, nil)
  }

  /// Waits for one of the signals and returns its name.
  func wait() -> String {
    var set = self.set
    var number: Int32 = 0
    while sigwait(&set, &number) != 0 {}
    return number == SIGINT ? "SIGINT" : number == SIGTERM ? "SIGTERM" : "signal \(number)"
  }
}
