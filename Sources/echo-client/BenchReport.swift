import CommandLineSupport
import LoadGenerator

/// How a bench result is shown: a table for people, one JSON object for scripts.
enum BenchReport {
  static func table(_ result: BenchResult, plan: BenchPlan, target: String) -> String {
    var rows: [(String, String)] = [
      ("mode", result.mode.rawValue),
      ("server", target),
      (
        "transport",
        (result.tlsVersion.map { "\($0), \(result.cipher ?? "")" }
          ?? (plan.tls == nil ? "plaintext" : "TLS")) + (plan.datagram ? " datagrams" : "")
      ),
      (
        "connections",
        "\(result.connections) on \(result.threads) thread\(result.threads == 1 ? "" : "s")"
      ),
      ("duration", format(result.elapsed, 2) + " s"),
    ]
    switch result.mode {
    case .throughput:
      let megabytes = format(Double(result.bytes) / 1_000_000, 1) + " MB"
      switch plan.service {
      case .source: rows.append(("received", megabytes + ", every byte verified"))
      case .sink: rows.append(("sent", megabytes + ", the server's count checked"))
      default: rows.append(("echoed", megabytes + ", every byte verified"))
      }
      rows.append(("throughput", format(result.megabytesPerSecond, 1) + " MB/s"))
    case .latency:
      rows.append(
        (
          "round trips",
          "\(result.roundTrips), " + format(result.roundTripsPerSecond, 0) + " per second"
        ))
      rows += latencyRows(result)
    case .handshakes:
      rows.append(
        (
          "handshakes",
          "\(result.handshakes), " + format(result.handshakesPerSecond, 0) + " per second"
        ))
      rows.append(("resumed", "\(result.resumed)"))
      rows += latencyRows(result)
    case .hold:
      rows.append(
        ("held", "\(result.roundTrips) of \(result.connections) connections, each echo verified"))
    }
    if plan.datagram {
      rows.append(("datagrams", "\(result.sent) sent, \(result.datagrams) echoed and checked"))
      // UDP from one host is one source to the server's reflection guard.
      let hint =
        plan.tls == nil && result.lost > 0
        ? "; an echo-server drops past --udp-source-limit, 1000 a second by default" : ""
      rows.append(("lost", "\(result.lost) (no echo within the datagram timeout\(hint))"))
      rows.append(("reordered", "\(result.reordered), late \(result.late)"))
    }
    rows.append(("errors", "\(result.errors)"))
    let width = rows.map(\.0.count).max() ?? 0
    return rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }
      .joined(separator: "\n") + "\n"
  }

  /// Why the run failed, in one line (not one per connection): the first error and how many
  /// more there were, or that nothing at all succeeded. nil for a good run.
  static func failure(_ result: BenchResult, plan: BenchPlan) -> ClientFailure? {
    if result.errors > 0 {
      let first = result.errorMessages.first ?? "unknown error"
      let more = result.errors - 1
      let rest = more == 0 ? "" : " (and \(more) more error\(more == 1 ? "" : "s"))"
      return ClientFailure(
        "bench: \(first)\(rest)" + ClientHints.bench(first, plaintext: plan.tls == nil),
        status: result.operations == 0 ? .unavailable : .dataError)
    }
    guard result.operations == 0 else { return nil }
    let waiting =
      result.stalled == 0
      ? "" : "; \(result.stalled) connections were still waiting for the server at the end"
    return ClientFailure(
      "bench: \(plan.nothingMeasured) in \(format(plan.duration, 1)) s\(waiting)",
      status: .unavailable)
  }

  private static func latencyRows(_ result: BenchResult) -> [(String, String)] {
    result.percentiles.map { ("latency \($0.0)", "\($0.1) µs") }
  }

  static func json(_ result: BenchResult, plan: BenchPlan, target: String) -> String {
    let latency = result.percentiles.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
    let errors = result.errorMessages.map { quote($0) }.joined(separator: ",")
    let kinds = result.errorKinds.keys.sorted().map { "\(quote($0)):\(result.errorKinds[$0]!)" }
    func text(_ value: String?) -> String { value.map(quote) ?? "null" }
    let fields = [
      "\"mode\":\"\(result.mode.rawValue)\"", "\"target\":\(quote(target))",
      "\"transport\":\"\(transport(plan))\"",
      "\"service\":\"\(plan.service.rawValue)\"", "\"tls_version\":\(text(result.tlsVersion))",
      "\"cipher\":\(text(result.cipher))", "\"connections\":\(result.connections)",
      "\"opened\":\(result.opened)",
      "\"held\":\(result.mode == .hold ? "\(result.roundTrips)" : "null")",
      "\"threads\":\(result.threads)", "\"duration_s\":\(result.elapsed)",
      "\"bytes\":\(result.bytes)", "\"mb_per_s\":\(format(result.megabytesPerSecond, 3))",
      "\"round_trips\":\(result.roundTrips)",
      "\"round_trips_per_s\":\(format(result.roundTripsPerSecond, 1))",
      "\"handshakes\":\(result.handshakes)",
      "\"handshakes_per_s\":\(format(result.handshakesPerSecond, 1))",
      "\"resumed\":\(result.resumed)", "\"latency_us\":{\(latency)}",
      "\"stalled\":\(result.stalled)", "\"reported_bytes\":\(result.reportedBytes)",
      "\"errors\":\(result.errors)", "\"errors_by_kind\":{\(kinds.joined(separator: ","))}",
      "\"error_messages\":[\(errors)]", "\"datagrams_sent\":\(result.sent)",
      "\"datagrams_echoed\":\(result.datagrams)", "\"datagrams_lost\":\(result.lost)",
      "\"datagrams_reordered\":\(result.reordered)", "\"datagrams_late\":\(result.late)",
    ]
    return "{" + fields.joined(separator: ",") + "}\n"
  }

  private static func transport(_ plan: BenchPlan) -> String {
    switch (plan.datagram, plan.tls == nil) {
    case (true, true): "udp"
    case (true, false): "dtls"
    case (false, true): "plaintext"
    case (false, false): "tls"
    }
  }

  private static func format(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    let text = "\(rounded)"
    if decimals == 0 { return text.hasSuffix(".0") ? String(text.dropLast(2)) : text }
    let parts = text.split(separator: ".", maxSplits: 1)
    let fraction = parts.count == 2 ? String(parts[1]) : ""
    let digits = fraction.prefix(decimals)
    return "\(parts[0])." + digits + String(repeating: "0", count: decimals - digits.count)
  }

  private static func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case _ where scalar.value < 0x20: out += " "
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
