import Faults
import Synchronization

/// A counter that one thread writes and any thread reads. With a single writer, a plain load
/// and store is exact, and costs no locked read-modify-write instruction on the data path.
/// Stores release and reads acquire (plain moves on x86): a reader that sees one counter's new
/// value sees every counter its loop changed before it, which `LoopStatistics.snapshot` and
/// `ServerLoop.close` rely on.
final class Counter: Sendable {
  private let value = Atomic<Int>(0)

  /// For the owning loop's thread only.
  func add(_ amount: Int) {
    value.store(value.load(ordering: .relaxed) &+ amount, ordering: .releasing)
  }

  /// A gauge: the owning loop's thread replaces the value.
  func set(_ amount: Int) { value.store(amount, ordering: .releasing) }

  var current: Int { value.load(ordering: .acquiring) }
}

/// One loop's counters, summed with the other loops' on demand.
final class LoopStatistics: Sendable {
  let accepted = Counter()
  let active = Counter()
  /// Entries in the loop's deadline heap: one per open connection at most.
  let timers = Counter()
  /// System calls on TLS connections: reads, and writes with pushes (plaintext splices are not
  /// counted).
  let socketReads = Counter()
  let socketWrites = Counter()
  let handshakesOK = Counter()
  let handshakesResumed = Counter()
  let bytesIn = Counter()
  let bytesOut = Counter()
  private let closes = CloseReason.allCases.map { _ in Counter() }
  /// Handshakes that did not finish, by what ended them.
  private let failedHandshakes = CloseReason.allCases.map { _ in Counter() }
  private let proxyHeaders = ProxyOutcome.allCases.map { _ in Counter() }
  private let faults = Fault.Kind.allCases.map { _ in Counter() }
  /// `--udp`: datagrams and their bytes, in and echoed, and those dropped, by why.
  let datagramsIn = Counter()
  let datagramBytesIn = Counter()
  let datagramsOut = Counter()
  let datagramBytesOut = Counter()
  private let datagramDrops = ReflectionGuard.Drop.allCases.map { _ in Counter() }
  /// `--dtls`: HelloVerifyRequests sent, and datagrams the listening sockets dropped.
  let dtlsCookiesSent = Counter()
  let dtlsDatagramsDropped = Counter()

  func closed(_ reason: CloseReason) { closes[reason.rawValue].add(1) }
  func datagramDropped(_ reason: ReflectionGuard.Drop) { datagramDrops[reason.rawValue].add(1) }
  func faultApplied(_ kind: Fault.Kind) {
    faults[Fault.Kind.allCases.firstIndex(of: kind)!].add(1)
  }
  func handshakeFailed(_ reason: CloseReason) { failedHandshakes[reason.rawValue].add(1) }
  func proxyHeader(_ outcome: ProxyOutcome) { proxyHeaders[outcome.rawValue].add(1) }

  /// Read in this order, against the order a loop writes them in (`ServerLoop.store` and
  /// `close`): `accepted` first, then `active`, then what a close counts ahead of taking a
  /// connection off `active` (its reason, its timer). So no snapshot shows a connection
  /// accepted that is neither open nor closed, nor one gone from `active` and not closed.
  func snapshot() -> ServerStatistics {
    ServerStatistics(
      accepted: accepted.current, active: active.current, timers: timers.current,
      socketReads: socketReads.current, socketWrites: socketWrites.current,
      handshakesOK: handshakesOK.current, handshakesResumed: handshakesResumed.current,
      bytesIn: bytesIn.current, bytesOut: bytesOut.current,
      closes: closes.map(\.current), failedHandshakes: failedHandshakes.map(\.current),
      proxyHeaders: proxyHeaders.map(\.current), faultsApplied: faults.map(\.current),
      datagramsIn: datagramsIn.current, datagramBytesIn: datagramBytesIn.current,
      datagramsOut: datagramsOut.current, datagramBytesOut: datagramBytesOut.current,
      datagramDrops: datagramDrops.map(\.current), dtlsCookiesSent: dtlsCookiesSent.current,
      dtlsDatagramsDropped: dtlsDatagramsDropped.current)
  }
}

/// The server's counters, summed over its loops when asked for.
public struct ServerStatistics: Sendable, Equatable {
  public var accepted = 0
  public var active = 0
  /// Timer entries held, summed over the loops.
  public var timers = 0
  /// System calls of the TLS connections' sockets, summed over the loops.
  public var socketReads = 0
  public var socketWrites = 0
  public var handshakesOK = 0
  /// Of `handshakesOK`, those that resumed a session instead of a full handshake.
  public var handshakesResumed = 0
  public var bytesIn = 0
  public var bytesOut = 0
  /// Closed connections by `CloseReason.rawValue`.
  public var closes = Array(repeating: 0, count: CloseReason.allCases.count)
  /// Handshakes that did not finish, by `CloseReason.rawValue` of what ended them.
  public var failedHandshakes = Array(repeating: 0, count: CloseReason.allCases.count)
  /// PROXY headers by `ProxyOutcome.rawValue`.
  public var proxyHeaders = Array(repeating: 0, count: ProxyOutcome.allCases.count)
  /// Faults applied, by the index of their kind in `Fault.Kind.allCases`.
  public var faultsApplied = Array(repeating: 0, count: Fault.Kind.allCases.count)
  /// `--udp`: datagrams received and echoed, their bytes, and those dropped by
  /// `ReflectionGuard.Drop` raw value.
  public var datagramsIn = 0
  public var datagramBytesIn = 0
  public var datagramsOut = 0
  public var datagramBytesOut = 0
  public var datagramDrops = Array(repeating: 0, count: ReflectionGuard.Drop.allCases.count)
  /// `--dtls`: HelloVerifyRequests sent, and datagrams the listening sockets dropped.
  public var dtlsCookiesSent = 0
  public var dtlsDatagramsDropped = 0

  public static func + (lhs: Self, rhs: Self) -> Self {
    var sum = lhs
    sum.accepted += rhs.accepted
    sum.active += rhs.active
    sum.timers += rhs.timers
    sum.socketReads += rhs.socketReads
    sum.socketWrites += rhs.socketWrites
    sum.handshakesOK += rhs.handshakesOK
    sum.handshakesResumed += rhs.handshakesResumed
    sum.bytesIn += rhs.bytesIn
    sum.bytesOut += rhs.bytesOut
    sum.closes = zip(sum.closes, rhs.closes).map(+)
    sum.failedHandshakes = zip(sum.failedHandshakes, rhs.failedHandshakes).map(+)
    sum.proxyHeaders = zip(sum.proxyHeaders, rhs.proxyHeaders).map(+)
    sum.faultsApplied = zip(sum.faultsApplied, rhs.faultsApplied).map(+)
    sum.datagramsIn += rhs.datagramsIn
    sum.datagramBytesIn += rhs.datagramBytesIn
    sum.datagramsOut += rhs.datagramsOut
    sum.datagramBytesOut += rhs.datagramBytesOut
    sum.datagramDrops = zip(sum.datagramDrops, rhs.datagramDrops).map(+)
    sum.dtlsCookiesSent += rhs.dtlsCookiesSent
    sum.dtlsDatagramsDropped += rhs.dtlsDatagramsDropped
    return sum
  }

  public func closes(_ reason: CloseReason) -> Int { closes[reason.rawValue] }
  public func proxyHeaders(_ outcome: ProxyOutcome) -> Int { proxyHeaders[outcome.rawValue] }
  public func faultsApplied(_ kind: Fault.Kind) -> Int {
    faultsApplied[Fault.Kind.allCases.firstIndex(of: kind)!]
  }
  public var handshakesFailed: Int { failedHandshakes.reduce(0, +) }

  /// Connections accepted and closed at once, whatever the reason.
  public var refused: Int {
    closes(.refusedAtLimit) + closes(.refusedNoDescriptors) + closes(.refusedUntrusted)
  }

  /// Every connection accepted has been closed for exactly one reason, or is still open.
  public var isBalanced: Bool { accepted == closes.reduce(0, +) + active }

  /// The counters as log metadata: one summary line.
  public var fields: [String: Int] {
    var fields = [
      "accepted": accepted, "refused": refused, "active": active, "timers": timers,
      "tls_socket_reads": socketReads, "tls_socket_writes": socketWrites,
      "handshakes_ok": handshakesOK, "handshakes_failed": handshakesFailed,
      "handshakes_resumed": handshakesResumed,
      "bytes_in": bytesIn, "bytes_out": bytesOut,
    ]
    for reason in CloseReason.allCases { fields["closed_\(reason.name)"] = closes(reason) }
    for outcome in ProxyOutcome.allCases where proxyHeaders(outcome) > 0 {
      fields["proxy_\(outcome.name)"] = proxyHeaders(outcome)
    }
    for kind in Fault.Kind.allCases where faultsApplied(kind) > 0 {
      fields["faults_applied_\(kind.counterName)"] = faultsApplied(kind)
    }
    fields.merge(datagramFields) { $1 }
    if dtlsCookiesSent > 0 || dtlsDatagramsDropped > 0 {
      fields["dtls_cookies_sent"] = dtlsCookiesSent
      fields["dtls_datagrams_dropped"] = dtlsDatagramsDropped
    }
    return fields
  }

  /// The datagram counters (`--udp`) as log fields: none until a datagram came.
  public var datagramFields: [String: Int] {
    guard datagramsIn > 0 else { return [:] }
    var fields = [
      "udp_received": datagramsIn, "udp_bytes_in": datagramBytesIn, "udp_echoed": datagramsOut,
      "udp_bytes_out": datagramBytesOut,
    ]
    for reason in ReflectionGuard.Drop.allCases {
      fields["udp_dropped_\(reason.name)"] = datagramDrops[reason.rawValue]
    }
    return fields
  }
}
