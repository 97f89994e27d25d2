import Faults
import Prometheus
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// `--metrics`: what a scrape shows, rendered in the Prometheus text format by swift-prometheus.
///
/// The data path pays nothing for it: the counters stay each loop's own (`LoopStatistics`,
/// single-writer, no lock) and are summed into a registry made for each scrape. Only the
/// handshake-duration histogram lives in a lasting registry, since buckets cannot be summed in
/// after the fact: one uncontended lock per finished handshake, none per byte.
public final class ServerMetrics: Sendable {
  private let lasting = PrometheusCollectorRegistry()
  private let handshakeDuration: DurationHistogram
  private let startTime: Double
  private let version: String
  /// The log sink's count, which the executable owns.
  private let logLinesDropped: @Sendable () -> Int
  /// `--udp`, `--dtls`: their datagram families are shown, and only then.
  private let udp: Bool
  private let dtls: Bool

  public init(
    version: String, udp: Bool = false, dtls: Bool = false,
    logLinesDropped: @escaping @Sendable () -> Int
  ) {
    self.version = version
    self.udp = udp
    self.dtls = dtls
    self.logLinesDropped = logLinesDropped
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    startTime = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    let buckets: [Duration] = [
      .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
      .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
      .seconds(10),
    ]
    handshakeDuration = lasting.makeDurationHistogram(
      descriptor: Self.name(
        "secureecho_handshake_duration_seconds",
        "Time from accepting a TLS connection to the end of its handshake."),
      buckets: buckets)
  }

  /// The names here are whole (the `_total` of counters included): no parts to assemble.
  private static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
  }

  /// A finished handshake's time since its connection was accepted.
  func recordHandshake(nanoseconds: UInt64) {
    handshakeDuration.record(.nanoseconds(Int64(clamping: nanoseconds)))
  }

  /// The scrape's body.
  func render(_ statistics: ServerStatistics) -> [UInt8] {
    let scrape = PrometheusCollectorRegistry()
    func counter(_ name: String, _ help: String, _ value: Int, _ labels: [(String, String)] = []) {
      scrape.makeCounter(descriptor: Self.name(name, help), labels: labels)
        .increment(by: Int64(value))
    }
    func gauge(_ name: String, _ help: String, _ value: Double, _ labels: [(String, String)] = []) {
      scrape.makeGauge(descriptor: Self.name(name, help), labels: labels).set(value)
    }
    counter(
      "secureecho_connections_accepted_total", "Connections accepted.", statistics.accepted)
    gauge("secureecho_connections_active", "Connections open now.", Double(statistics.active))
    let refusals: [(String, CloseReason)] = [
      ("at_limit", .refusedAtLimit), ("no_descriptors", .refusedNoDescriptors),
      ("untrusted", .refusedUntrusted),
    ]
    for (label, reason) in refusals {
      counter(
        "secureecho_connections_refused_total", "Connections refused as soon as accepted.",
        statistics.closes(reason), [("reason", label)])
    }
    for reason in CloseReason.allCases {
      counter(
        "secureecho_connections_closed_total", "Connections closed, by why.",
        statistics.closes(reason), [("reason", reason.name)])
    }
    counter(
      "secureecho_handshakes_completed_total", "TLS handshakes that finished.",
      statistics.handshakesOK)
    counter(
      "secureecho_handshakes_resumed_total", "Finished TLS handshakes that resumed a session.",
      statistics.handshakesResumed)
    // What can end a handshake, always shown so that rates work from the first scrape; any
    // other reason once it has happened.
    let failures: Set<CloseReason> = [
      .handshakeFailed, .handshakeTimeout, .reset, .clientClosed, .error,
    ]
    for reason in CloseReason.allCases
    where failures.contains(reason) || statistics.failedHandshakes[reason.rawValue] > 0 {
      counter(
        "secureecho_handshakes_failed_total", "TLS handshakes begun that did not finish, by why.",
        statistics.failedHandshakes[reason.rawValue], [("reason", reason.name)])
    }
    counter(
      "secureecho_received_bytes_total", "Bytes received from clients, after TLS.",
      statistics.bytesIn)
    counter(
      "secureecho_sent_bytes_total", "Bytes sent to clients, before TLS.", statistics.bytesOut)
    for outcome in ProxyOutcome.allCases {
      counter(
        "secureecho_proxy_headers_total", "PROXY protocol headers, by what became of them.",
        statistics.proxyHeaders(outcome), [("result", outcome.name)])
    }
    // Label values are the fault kinds' own names, never anything a client wrote.
    for kind in Fault.Kind.allCases {
      counter(
        "secureecho_faults_applied_total", "Faults given to connections on purpose, by kind.",
        statistics.faultsApplied(kind), [("kind", kind.counterName)])
    }
    if udp {
      counter(
        "secureecho_udp_datagrams_received_total", "UDP datagrams received.",
        statistics.datagramsIn)
      counter(
        "secureecho_udp_received_bytes_total", "Bytes of the UDP datagrams received.",
        statistics.datagramBytesIn)
      counter(
        "secureecho_udp_datagrams_echoed_total", "UDP datagrams echoed.", statistics.datagramsOut)
      counter(
        "secureecho_udp_sent_bytes_total", "Bytes of the UDP datagrams echoed.",
        statistics.datagramBytesOut)
      for reason in ReflectionGuard.Drop.allCases {
        counter(
          "secureecho_udp_datagrams_dropped_total", "UDP datagrams not echoed, by why.",
          statistics.datagramDrops[reason.rawValue], [("reason", reason.name)])
      }
    }
    if dtls {
      counter(
        "secureecho_dtls_cookies_sent_total",
        "HelloVerifyRequests sent: ClientHellos without a valid cookie, answered statelessly.",
        statistics.dtlsCookiesSent)
      counter(
        "secureecho_dtls_datagrams_dropped_total",
        "Datagrams the DTLS listening sockets dropped: not a ClientHello, a bad cookie, cut.",
        statistics.dtlsDatagramsDropped)
    }
    counter(
      "secureecho_log_lines_dropped_total", "Log lines dropped because stderr did not keep up.",
      logLinesDropped())
    gauge(
      "process_start_time_seconds", "When the process started, in seconds since the epoch.",
      startTime)
    gauge(
      "secureecho_build_info", "The server's version and the OpenSSL it runs with.", 1,
      [("version", version), ("openssl", TLSContext.libraryVersion)])
    var body: [UInt8] = []
    body.reserveCapacity(8192)
    scrape.emit(into: &body)
    lasting.emit(into: &body)
    return body
  }
}
