import ArgumentParser
import EchoServer
import Logging
import ProxyProtocol
import Sockets

/// The options for running behind a load balancer, several instances to a host.
struct BalancerOptions: ParsableArguments {
  @Option(
    help: """
      Expect a PROXY protocol header (HAProxy's) before anything else from the sources \
      --proxy-from names: v1 (text), v2 (binary), any (either), or off. The client's address \
      in it stands for the connection's peer in logs and reports.
      """)
  var proxyProtocol: ProxyChoice = .off

  @Option(
    help: ArgumentHelp(
      """
      A balancer's address or network (CIDR, repeatable; needed with --proxy-protocol): \
      10.0.0.0/8, ::1, 0.0.0.0/0 for any IPv4 source. Connections from there must start with \
      a PROXY header; others are served as themselves, or refused with --proxy-required.
      """, valueName: "cidr"))
  var proxyFrom: [String] = []

  @Flag(help: "Refuse connections from outside --proxy-from instead of serving them directly.")
  var proxyRequired = false

  @Flag(
    help: """
      Listen with SO_REUSEPORT, so that several echo-server processes can share one port (the \
      kernel spreads new connections, or UDP and DTLS clients, over them); tell them apart \
      with --instance. Without it a UDP port another server has is refused at start.
      """)
  var reusePort = false

  @Option(
    help: ArgumentHelp(
      """
      Serve Prometheus metrics over plain HTTP at http://ADDRESS:PORT/metrics (PORT alone: on \
      127.0.0.1). Off unless given.
      """, valueName: "address:port"))
  var metrics: String?

  /// The PROXY settings, or nil with `--proxy-protocol off`.
  func proxySettings() throws(ValidationError) -> ProxySettings? {
    guard let versions = proxyProtocol.versions else {
      if !proxyFrom.isEmpty || proxyRequired {
        let given = proxyFrom.isEmpty ? "--proxy-required" : "--proxy-from"
        throw ValidationError("\(given) has no effect without --proxy-protocol v1, v2 or any")
      }
      return nil
    }
    // Whoever may send a header may set the address the server logs: never everyone by
    // default. Those who mean it say 0.0.0.0/0 (and ::/0).
    if proxyFrom.isEmpty {
      throw ValidationError(
        "--proxy-protocol \(proxyProtocol.rawValue) needs --proxy-from: the balancers that may "
          + "send a header (e.g. 10.0.0.0/8, or 0.0.0.0/0 and ::/0 for any source)")
    }
    let trusted = try proxyFrom.map { text throws(ValidationError) in
      switch AddressRange.parse(text) {
      case .success(let range): return range
      case .failure(let error): throw ValidationError("--proxy-from '\(text)': \(error.reason)")
      }
    }
    return ProxySettings(versions: versions, trusted: trusted, required: proxyRequired)
  }

  /// `--metrics`: where to listen, or nil when off.
  func metricsAddress() throws(ValidationError) -> ListenAddress? {
    guard let metrics else { return nil }
    if let port = UInt16(metrics.hasPrefix(":") ? String(metrics.dropFirst()) : metrics) {
      // 127.0.0.1 rather than localhost, whose first address may be ::1: scrapers and users
      // point at 127.0.0.1.
      return ListenAddress(host: "127.0.0.1", port: port)
    }
    switch ListenAddress.parse(metrics) {
    case .success(let address): return address
    case .failure(let error): throw ValidationError("--metrics '\(metrics)': \(error.reason)")
    }
  }

  /// What the start-up line adds about these options, only those in use.
  func startFields(metrics address: SocketAddress?) -> Logger.Metadata {
    var fields: Logger.Metadata = [:]
    if proxyProtocol != .off {
      fields["proxy_protocol"] = "\(proxyProtocol.rawValue)"
      fields["proxy_from"] = "\(proxyFrom.joined(separator: ","))"
      if proxyRequired { fields["proxy_required"] = .stringConvertible(true) }
    }
    if reusePort { fields["reuse_port"] = .stringConvertible(true) }
    if let address { fields["metrics"] = "http://\(address)/metrics" }
    return fields
  }
}

/// `--proxy-protocol`.
enum ProxyChoice: String, ExpressibleByArgument, CaseIterable {
  case off, v1, v2, any

  var versions: Set<ProxyVersion>? {
    switch self {
    case .off: nil
    case .v1: [.v1]
    case .v2: [.v2]
    case .any: [.v1, .v2]
    }
  }
}
