import Faults
import Sockets

/// What keeps a UDP echo from being turned against a third party. A UDP source address can
/// be forged, so every reply may be aimed at someone who never asked: the guard makes sure a
/// reply is never larger than its request (an echo is the same size; a truncated datagram is
/// not echoed at all), caps what one source address and all of them together get (packets
/// and bytes a second), and refuses sources no real client has: port 0, the server's own port
/// on any address (itself, on this or another of the host's addresses, or another echo server
/// on the same port: each would bounce the echo back for ever), and the well-known ports of
/// services that answer UDP by themselves (echo, chargen, DNS, NTP, SSDP, memcached), which
/// two reflectors would bounce between for ever too (CVE-1999-0103).
///
/// A value: the loops share one behind a lock, taken once per batch of datagrams.
struct ReflectionGuard {
  typealias Limits = UDPLimits

  /// Why a datagram got no echo: a counter and a log field each. (`sendFailed` is not the
  /// guard's: the echo was allowed, and the socket was full.)
  enum Drop: Int, CaseIterable, Sendable {
    case portZero, reflectorPort, ownPort, truncated, sourceRate, globalRate, sendFailed

    var name: String {
      switch self {
      case .portZero: "port_zero"
      case .reflectorPort: "reflector_port"
      case .ownPort: "own_port"
      case .truncated: "truncated"
      case .sourceRate: "source_rate"
      case .globalRate: "global_rate"
      case .sendFailed: "send_failed"
      }
    }
  }

  /// Echo, chargen, DNS, NTP, SSDP, memcached.
  static let reflectorPorts: Set<UInt16> = [7, 19, 53, 123, 1900, 11_211]
  /// Sources kept at once. A source whose buckets are full again is the same as a new one and
  /// is forgotten; past this many busy ones, new sources share one more pair of buckets, as if
  /// they were one source.
  static let maximumSources = 65_536

  let limits: Limits
  private var sources: [HostKey: (packets: TokenBucket, bytes: TokenBucket)] = [:]
  private var global: (packets: TokenBucket, bytes: TokenBucket)
  /// The sources the table has no room for, together.
  private var overflow: (packets: TokenBucket, bytes: TokenBucket)
  private var sweptAt: Int64

  init(_ limits: Limits, now: Int64) {
    self.limits = limits
    global = Self.buckets(limits.globalPackets, limits.globalBytes, now)
    overflow = Self.buckets(limits.sourcePackets, limits.sourceBytes, now)
    sweptAt = now
  }

  /// A bucket pair with a second's worth of each, and room for the largest datagram.
  private static func buckets(
    _ packets: Int, _ bytes: Int, _ now: Int64
  ) -> (packets: TokenBucket, bytes: TokenBucket) {
    (
      TokenBucket(rate: packets, capacity: packets, now: now),
      TokenBucket(rate: bytes, capacity: max(bytes, Socket.maximumDatagram), now: now)
    )
  }

  /// Whether `size` bytes from `peer`, sent to the server's `localPort`, may be echoed; if so,
  /// the echo is counted against the limits. nil: echo it.
  mutating func judge(
    _ size: Int, from peer: SocketAddress, truncated: Bool, localPort: UInt16, now: Int64
  ) -> Drop? {
    if truncated { return .truncated }
    if peer.port == 0 { return .portZero }
    if Self.reflectorPorts.contains(peer.port) { return .reflectorPort }
    if peer.port == localPort { return .ownPort }
    if now - sweptAt >= 1000 { sweep(now) }
    let key = peer.hostKey
    let tracked = sources[key] != nil || sources.count < Self.maximumSources
    var source =
      sources[key]
      ?? (tracked ? Self.buckets(limits.sourcePackets, limits.sourceBytes, now) : overflow)
    guard source.packets.available(now) >= 1, source.bytes.available(now) >= size else {
      return .sourceRate
    }
    guard global.packets.available(now) >= 1, global.bytes.available(now) >= size else {
      return .globalRate
    }
    source.packets.take(1, now)
    source.bytes.take(size, now)
    global.packets.take(1, now)
    global.bytes.take(size, now)
    if tracked { sources[key] = source } else { overflow = source }
    return nil
  }

  /// Forgets the sources that have been quiet long enough for their buckets to fill again.
  private mutating func sweep(_ now: Int64) {
    sweptAt = now
    sources = sources.filter { _, buckets in
      var (packets, bytes) = buckets
      _ = packets.available(now)
      _ = bytes.available(now)
      return !(packets.isFull && bytes.isFull)
    }
  }

  /// Sources tracked now (for the tests: the table stays bounded).
  var trackedSources: Int { sources.count }
}

/// `--udp`'s rates: packets and bytes a second, per source address and for all sources
/// together. On by default: a thousand datagrams and a megabyte a second per source, a
/// hundred thousand and 100 MB a second in all.
public struct UDPLimits: Sendable, Equatable {
  public var sourcePackets = 1000
  public var sourceBytes = 1_000_000
  public var globalPackets = 100_000
  public var globalBytes = 100_000_000

  public init() {}
}
