import ProxyProtocol
import Sockets
import StreamServices
import TLS

/// What a load run does, decided before it starts; shared read-only by every load thread.
public struct BenchPlan: Sendable {
  public enum Mode: String, Sendable, CaseIterable {
    /// Each connection streams `size`-byte chunks, keeping a window in flight.
    case throughput
    /// Each connection sends one `size`-byte message and waits for its echo, again and again.
    case latency
    /// A new connection per iteration: handshake, one byte echoed, close.
    case handshakes
    /// Open every connection, verify one echo on each, hold them for the duration.
    case hold
  }

  public var mode: Mode
  /// What the server does: `.echo`, or for throughput `.source` (the server sends, the client
  /// only reads) or `.sink` (the client only sends).
  public var service: ServiceMode
  public var addresses: [SocketAddress]
  /// nil: plaintext.
  public var tls: TLSContext?
  public var serverName: String?
  public var connections: Int
  public var threads: Int
  /// Seconds of measurement, after every connection is set up (handshakes: from the start).
  public var duration: Double
  public var size: Int
  /// Handshakes mode: resume the session of the slot's previous connection.
  public var resume: Bool
  /// Milliseconds a connection may take to be accepted, and then to finish its handshake.
  public var connectTimeout: Int64 = 10_000
  public var handshakeTimeout: Int64 = 10_000
  /// A PROXY header of this version, with the connection's own addresses, as every
  /// connection's first bytes (before the TLS handshake): to load a server that expects a
  /// balancer in front of it. nil: none.
  public var proxyHeader: ProxyVersion?
  /// `--udp` or `--dtls` (then `tls` is a DTLS context): datagrams, each one a message.
  public var datagram = false
  /// Datagrams: milliseconds after which a datagram without its echo counts as lost.
  public var datagramTimeout: Int64 = 1000

  public init(
    mode: Mode, service: ServiceMode = .echo, addresses: [SocketAddress], tls: TLSContext?,
    serverName: String?, connections: Int, threads: Int, duration: Double, size: Int,
    resume: Bool
  ) {
    self.mode = mode
    self.service = service
    self.addresses = addresses
    self.tls = tls
    self.serverName = serverName
    self.connections = connections
    self.threads = threads
    self.duration = duration
    self.size = size
    self.resume = resume
  }

  /// Largest chunk written at once; the pattern is long enough to serve any chunk unwrapped.
  static let maximumChunk = SourcePattern.tail

  /// The name of what a run counts, for "no ... completed" messages.
  /// What "nothing measured" means for this plan, as a sentence's subject and verb.
  public var nothingMeasured: String {
    switch mode {
    case .throughput:
      switch service {
      case .sink: "no byte was sent"
      case .source: "no byte arrived"
      default: "no byte came back"
      }
    case .latency: "no round trip completed"
    case .handshakes: "no handshake completed"
    case .hold: "no connection was set up"
    }
  }
}
