import Sockets
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

  public init(
    mode: Mode, addresses: [SocketAddress], tls: TLSContext?, serverName: String?,
    connections: Int, threads: Int, duration: Double, size: Int, resume: Bool
  ) {
    self.mode = mode
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
  static let maximumChunk = 64 * 1024
}

/// The bytes every connection sends, so that every echoed byte can be checked: connection `c`
/// sends, at stream offset `o`, byte `bytes[(o + c * 7919) % period]`.
struct Pattern: Sendable {
  static let period = 65_521  // prime, so that chunk sizes never line up with it
  let bytes: [UInt8]

  init() {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var bytes = [UInt8](repeating: 0, count: Self.period + BenchPlan.maximumChunk)
    for index in bytes.indices {
      // xorshift: cheap, and every byte value appears.
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    for index in Self.period..<bytes.count { bytes[index] = bytes[index - Self.period] }
    self.bytes = bytes
  }

  static func start(offset: Int, seed: Int) -> Int { (offset + seed) % period }
}
