/// One fault a connection can be given, with its parameters: what `--fault SPEC` and the labels
/// of a `…fault.localhost` server name spell (`delay-200`, `limit-4096-rst`, `small-records-512`).
/// A value only: which stage applies it, and how, is the server's business.
public enum Fault: Sendable, Equatable, Hashable {
  /// Hold every write back this long (the bytes keep their order).
  case delay(milliseconds: Int)
  /// With `delay`: each write's delay varies by up to this much either way.
  case jitter(milliseconds: Int)
  /// At most this many bytes a second, each way: a token bucket that stops reading when empty.
  case bandwidth(bytesPerSecond: Int)
  /// Writes in chunks of `bytes`, `gap` milliseconds apart.
  case slice(bytes: Int, gapMilliseconds: Int)
  /// After `bytes` echoed, close, as `close` says.
  case limit(bytes: Int, close: LimitClose)
  /// A reset (RST) after `bytes` echoed, or `milliseconds` after the service starts.
  case reset(ResetPoint)
  /// Read and drop everything, never answer.
  case blackhole
  /// After `bytes` echoed, stop reading and writing, and keep the connection open.
  case stall(afterBytes: Int)
  /// Wait this long before closing, once the connection is to close.
  case slowClose(milliseconds: Int)
  /// TLS: records of at most this many bytes of plaintext.
  case smallRecords(bytes: Int)
  /// TLS 1.3: a KeyUpdate every `bytes` sent, asking the client to update its keys too when
  /// `requested`.
  case keyUpdate(everyBytes: Int, requested: Bool)
  /// TLS: end with a bare FIN, no close_notify.
  case noCloseNotify
  /// TLS: close in the middle of a record.
  case truncate
  /// TLS: hold the handshake this many seconds after the ClientHello, then close.
  case handshakeStall(seconds: Int)
  /// TLS: fail the handshake with this alert.
  case handshakeAlert(TLSAlert)
  /// TLS 1.3: issue this many session tickets.
  case tickets(count: Int)

  /// How `limit` ends a connection.
  public enum LimitClose: String, Sendable, CaseIterable {
    /// As the transport ends normally: close_notify over TLS, FIN in plaintext.
    case normal
    case fin, rst
    /// close_notify (TLS only).
    case notify
  }

  public enum ResetPoint: Sendable, Equatable, Hashable {
    case afterBytes(Int)
    case afterMilliseconds(Int)
  }

  /// What the fault is, without its parameters: the `<kind>` of `faults_applied_<kind>` and of
  /// the log field. Two faults of one kind on one connection are a mistake.
  public var kind: Kind {
    switch self {
    case .delay: .delay
    case .jitter: .jitter
    case .bandwidth: .bandwidth
    case .slice: .slice
    case .limit: .limit
    case .reset: .reset
    case .blackhole: .blackhole
    case .stall: .stall
    case .slowClose: .slowClose
    case .smallRecords: .smallRecords
    case .keyUpdate: .keyUpdate
    case .noCloseNotify: .noCloseNotify
    case .truncate: .truncate
    case .handshakeStall: .handshakeStall
    case .handshakeAlert: .handshakeAlert
    case .tickets: .tickets
    }
  }

  public enum Kind: String, Sendable, CaseIterable, Comparable {
    case delay, jitter, bandwidth, slice, limit, reset, blackhole, stall
    case slowClose = "slow-close"
    case smallRecords = "small-records"
    case keyUpdate = "keyupdate"
    case noCloseNotify = "no-close-notify"
    case truncate
    case handshakeStall = "handshake-stall"
    case handshakeAlert = "handshake-alert"
    case tickets

    /// Faults that only mean something over TLS.
    public var needsTLS: Bool {
      switch self {
      case .smallRecords, .keyUpdate, .noCloseNotify, .truncate, .handshakeStall,
        .handshakeAlert, .tickets:
        true
      default: false
      }
    }

    /// Faults that only TLS 1.3 has (TLS 1.2 has no KeyUpdate, and issues one ticket at most).
    public var needsTLS13: Bool { self == .keyUpdate || self == .tickets }

    /// The counter's and log field's name: `faults_applied_<name>`.
    public var counterName: String { String(rawValue.map { $0 == "-" ? "_" : $0 }) }

    public static func < (lhs: Kind, rhs: Kind) -> Bool {
      allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
  }
}
