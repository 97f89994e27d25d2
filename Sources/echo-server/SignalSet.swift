import CLinux
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// The signals the server acts on, delivered as events on a signalfd that the main thread
/// polls, so no code ever runs in signal context.
final class SignalWatcher {
  enum Received {
    /// SIGINT or SIGTERM: stop (drain first, close at once on a second one).
    case stop(String)
    /// SIGHUP: reload the certificate and key.
    case reload
    /// SIGUSR1: log the counters.
    case report
    /// What the caller also waited for became ready.
    case other
    /// Nothing came within the time the caller gave.
    case timeout
  }

  private let descriptor: Int32

  /// Blocks the signals in this thread, and so in every thread started after, and opens the
  /// signalfd. Call before starting any thread.
  init() throws(SocketError) {
    var set = sigset_t()
    sigemptyset(&set)
    for number in [SIGINT, SIGTERM, SIGHUP, SIGUSR1] { sigaddset(&set, number) }
    pthread_sigmask(SIG_BLOCK, &set, nil)
    descriptor = try Self.open(set)
  }

  private static func open(_ set: sigset_t) throws(SocketError) -> Int32 {
    var set = set
    return try SystemCall.blocking("signalfd") { signalfd(-1, &set, Int32(SFD_CLOEXEC)) }
  }

  deinit { close(descriptor) }

  /// Waits for a signal, or for `other` to become readable, for at most `timeoutMilliseconds`
  /// (-1: no limit).
  func wait(orReadable other: Int32, timeoutMilliseconds: Int32 = -1) -> Received {
    while true {
      var events = [
        pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
        pollfd(fd: other, events: Int16(POLLIN), revents: 0),
      ]
      let ready = try? SystemCall.blocking("poll") { poll(&events, 2, timeoutMilliseconds) }
      guard let ready else { continue }
      if ready == 0 { return .timeout }
      if events[1].revents != 0 { return .other }
      var info = signalfd_siginfo()
      let count = try? SystemCall.blocking("read signalfd") {
        read(descriptor, &info, MemoryLayout<signalfd_siginfo>.size)
      }
      guard count == MemoryLayout<signalfd_siginfo>.size else { continue }
      switch Int32(info.ssi_signo) {
      case SIGINT: return .stop("SIGINT")
      case SIGTERM: return .stop("SIGTERM")
      case SIGHUP: return .reload
      case SIGUSR1: return .report
      default: continue
      }
    }
  }
}
