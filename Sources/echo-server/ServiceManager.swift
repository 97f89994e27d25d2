import Logging
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// What the server tells the service manager that started it (systemd, `Type=notify`; see
/// `deploy/secureecho.service`) as it goes: ready once the listening line is out, draining on
/// the first stop signal, reloading around a SIGHUP.
///
/// Without `$NOTIFY_SOCKET` every call does nothing. A notification that cannot be sent, or a
/// `$NOTIFY_SOCKET` that names no usable socket, is a warning in the log and nothing more: the
/// server serves whether or not anyone is listening for its state.
struct ServiceManager {
  private let notifier: ServiceNotifier?
  private let logger: Logger

  init(logger: Logger) {
    self.logger = logger
    do {
      notifier = try ServiceNotifier.fromEnvironment()
    } catch {
      notifier = nil
      warn(error)
    }
  }

  /// `READY=1`. Call right after the listening line is written, so that whoever waits for
  /// either, a script reading stdout or systemd, finds the listeners accepting. Also after a
  /// reload (the service serves again, with the new certificate or, if it failed, the old one).
  func ready(listening addresses: String) {
    send("READY=1\nSTATUS=listening on \(addresses)\nMAINPID=\(getpid())")
  }

  /// `STOPPING=1`: the first SIGINT or SIGTERM; the server drains, then exits.
  func stopping() {
    send("STOPPING=1\nSTATUS=draining open connections")
  }

  /// `RELOADING=1`, before a SIGHUP reload; `ready` follows once it is done. `MONOTONIC_USEC`
  /// (CLOCK_MONOTONIC in microseconds) is what `Type=notify-reload` (systemd 253 and later)
  /// needs to match the message to the reload it asked for; `Type=notify` ignores it.
  func reloading() {
    send("RELOADING=1\nMONOTONIC_USEC=\(MonotonicClock.nanoseconds() / 1000)\nSTATUS=reloading")
  }

  private func send(_ assignments: String) {
    guard let notifier else { return }
    do {
      try notifier.notify(assignments)
    } catch {
      warn(error)
    }
  }

  private func warn(_ error: SocketError) {
    logger.warning(
      "cannot notify the service manager through NOTIFY_SOCKET; serving regardless",
      metadata: ["error": "\(error)"])
  }
}
