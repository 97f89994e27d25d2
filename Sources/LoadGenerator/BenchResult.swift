import Histogram

/// What a load run measured, summed over its threads.
public struct BenchResult: Sendable {
  public var mode: BenchPlan.Mode
  public var connections: Int
  public var threads: Int
  /// Seconds actually measured.
  public var elapsed: Double = 0
  /// Echoed payload bytes received and verified.
  public var bytes = 0
  public var roundTrips = 0
  public var handshakes = 0
  public var resumed = 0
  /// Connections that failed, and echoes that came back wrong.
  public var errors = 0
  /// Connections still connecting or handshaking when the run ended.
  public var stalled = 0
  /// Sink mode: the bytes the server reported receiving (each report checked against the
  /// bytes sent).
  public var reportedBytes = 0
  /// The first few errors, in words.
  public var errorMessages: [String] = []
  /// Every error counted by what went wrong (`refused`, `timeout`, `echo_mismatch`...).
  public var errorKinds: [String: Int] = [:]
  /// Connections that were set up (connected and, over TLS, through their handshake).
  public var opened = 0
  /// What the first TLS connection negotiated; nil in plaintext.
  public var tlsVersion: String?
  public var cipher: String?
  /// `--udp`, `--dtls`: datagrams sent, echoed (checked), lost (no echo within the datagram
  /// timeout), echoed after one with a higher sequence number (reordered), and echoed after
  /// they were counted lost (late).
  public var sent = 0
  public var datagrams = 0
  public var lost = 0
  public var reordered = 0
  public var late = 0
  /// Round-trip (latency) or handshake (handshakes) times in microseconds.
  public var latency = Histogram<UInt64>(
    highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

  public init(mode: BenchPlan.Mode, connections: Int, threads: Int) {
    self.mode = mode
    self.connections = connections
    self.threads = threads
  }

  mutating func record(error: String, kind: String) {
    errors += 1
    errorKinds[kind, default: 0] += 1
    if errorMessages.count < 5 { errorMessages.append(error) }
  }

  mutating func merge(_ other: BenchResult) {
    bytes += other.bytes
    roundTrips += other.roundTrips
    handshakes += other.handshakes
    resumed += other.resumed
    errors += other.errors
    stalled += other.stalled
    reportedBytes += other.reportedBytes
    opened += other.opened
    sent += other.sent
    datagrams += other.datagrams
    lost += other.lost
    reordered += other.reordered
    late += other.late
    errorKinds.merge(other.errorKinds, uniquingKeysWith: +)
    tlsVersion = tlsVersion ?? other.tlsVersion
    cipher = cipher ?? other.cipher
    errorMessages += other.errorMessages.prefix(max(0, 5 - errorMessages.count))
    latency.add(other.latency)
  }

  public var megabytesPerSecond: Double { elapsed > 0 ? Double(bytes) / 1_000_000 / elapsed : 0 }
  public var roundTripsPerSecond: Double { elapsed > 0 ? Double(roundTrips) / elapsed : 0 }
  public var handshakesPerSecond: Double { elapsed > 0 ? Double(handshakes) / elapsed : 0 }

  /// What the mode counts: nothing counted means the run measured nothing.
  public var operations: Int {
    switch mode {
    case .throughput: bytes
    case .latency, .hold: roundTrips
    case .handshakes: handshakes
    }
  }

  /// p50, p90, p99, p99.9 and max in microseconds (zeros when nothing was timed).
  public var percentiles: [(String, UInt64)] {
    guard latency.totalCount > 0 else {
      return [("p50", 0), ("p90", 0), ("p99", 0), ("p999", 0), ("max", 0)]
    }
    return [
      ("p50", latency.valueAtPercentile(50)), ("p90", latency.valueAtPercentile(90)),
      ("p99", latency.valueAtPercentile(99)), ("p999", latency.valueAtPercentile(99.9)),
      ("max", latency.max),
    ]
  }
}
