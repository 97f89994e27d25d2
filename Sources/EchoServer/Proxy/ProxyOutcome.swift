/// What became of a connection's PROXY header: the `result` of its counter and metric.
public enum ProxyOutcome: Int, CaseIterable, Sendable {
  /// A v1 or v2 PROXY header with the client's address, which then stands for the peer.
  case v1, v2
  /// A header that says nothing of the client (v1 UNKNOWN, v2 UNSPEC or a UNIX socket): the
  /// balancer's own address stays the peer.
  case unknown
  /// A v2 LOCAL header: the balancer's health check, served as itself.
  case local
  /// A trusted source that ended the connection before sending a byte: a plain TCP health check
  /// (cloud balancers send those without a header).
  case empty
  /// Malformed, of a version not accepted, or with a wrong CRC32C.
  case invalid
  /// Cut short: the connection ended, or the handshake timeout passed, inside the header.
  case truncated
  /// A source outside `--proxy-from`: refused with `--proxy-required`, else served as itself.
  case untrustedRefused, untrustedDirect

  public var name: String {
    switch self {
    case .v1: "v1"
    case .v2: "v2"
    case .unknown: "unknown"
    case .local: "local"
    case .empty: "empty"
    case .invalid: "invalid"
    case .truncated: "truncated"
    case .untrustedRefused: "untrusted_refused"
    case .untrustedDirect: "untrusted_direct"
    }
  }
}
