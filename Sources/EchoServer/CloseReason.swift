/// Why a connection ended: the `reason` field of its log line and a counter of its own.
public enum CloseReason: Int, CaseIterable, Sendable {
  /// The client closed cleanly (FIN in plaintext, close_notify over TLS).
  case clientClosed
  /// The client closed the TCP connection without close_notify.
  case uncleanClose
  /// The connection was reset (RST, broken pipe) or failed underneath.
  case reset
  case handshakeFailed
  case handshakeTimeout
  case idleTimeout
  /// The service finished by itself: `source` sent its bytes, `sink` answered.
  case completed
  case refusedAtLimit
  /// Accepted and closed at once because the process had no descriptor left to serve it with.
  case refusedNoDescriptors
  /// `--proxy-required`: a connection from outside `--proxy-from`, closed without a byte read.
  case refusedUntrusted
  /// A PROXY header that was malformed, failed its checksum, or ended before it was complete.
  case proxyHeaderInvalid
  /// A balancer's health check: a PROXY v2 LOCAL header, or a trusted source's connection, and
  /// nothing after it. Logged at debug, never counted as a failed handshake.
  case healthCheck
  /// A fault the connection was given ended it, as asked: a limit, a reset, a truncation, a
  /// held handshake, a handshake alert. Not counted as a failed handshake.
  case fault
  /// A server name under the fault or scenario suffix that does not parse (or whose
  /// certificate could not be issued): the handshake was refused with an alert.
  case faultRefused
  case shutdown
  /// Anything else (a TLS protocol error after the handshake, a failed set-up, an epoll
  /// failure).
  case error

  public var name: String {
    switch self {
    case .clientClosed: "client_closed"
    case .uncleanClose: "client_closed_unclean"
    case .reset: "reset"
    case .handshakeFailed: "handshake_failed"
    case .handshakeTimeout: "handshake_timeout"
    case .idleTimeout: "idle_timeout"
    case .completed: "completed"
    case .refusedAtLimit: "refused_at_limit"
    case .refusedNoDescriptors: "refused_no_descriptors"
    case .refusedUntrusted: "refused_untrusted"
    case .proxyHeaderInvalid: "proxy_header_invalid"
    case .healthCheck: "health_check"
    case .fault: "fault"
    case .faultRefused: "fault_refused"
    case .shutdown: "shutdown"
    case .error: "error"
    }
  }
}
