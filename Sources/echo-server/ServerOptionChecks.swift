import ArgumentParser
import CommandLineSupport
import EchoServer
import Logging
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// The checks run before anything starts: each contradiction or out-of-range value is one
/// usage error (exit 64) naming the options involved, never a server that starts and then
/// fails every client.
extension EchoServerCommand {
  static let defaultCertificate = "certs/server.crt"
  static let defaultKey = "certs/server.key"

  var certFile: String { cert ?? Self.defaultCertificate }
  var keyFile: String { key ?? Self.defaultKey }

  func validate() throws {
    try validateListeners()
    if let threads { try RangeCheck.require("--threads", threads, in: 1...1024) }
    try validateLimits()
    _ = try balancer.proxySettings()
    _ = try balancer.metricsAddress()
    try faultOptions.validate(plaintext: servesPlaintext)
    try validateDatagrams()
    if let bytes, mode != .source {
      throw ValidationError("--bytes \(bytes) applies to --mode source only")
    }
    if let bytes { try RangeCheck.require("--bytes", bytes, in: 0...Int.max) }
    if Logger.Level(named: logLevel) == nil {
      let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
      throw ValidationError("--log-level must be one of \(levels), not '\(logLevel)'")
    }
    if ServerLogHandler.Format(rawValue: logFormat.lowercased()) == nil {
      throw ValidationError("--log-format must be text or json, not '\(logFormat)'")
    }
    if servesPlaintext {
      try validatePlaintext()
    } else {
      try validateTLS()
    }
  }

  /// Where to listen: every `--listen`, or every `--host` on `--port`, or localhost.
  func listenAddresses() throws(ValidationError) -> [ListenAddress] {
    if !listen.isEmpty {
      return try listen.map { text throws(ValidationError) in
        switch ListenAddress.parse(text) {
        case .success(let address): return address
        case .failure(let error): throw ValidationError("--listen '\(text)': \(error.reason)")
        }
      }
    }
    let port = UInt16(clamping: port ?? (servesPlaintext ? 8080 : 4433))
    return (host.isEmpty ? ["localhost"] : host).map { name in
      // `--host [::1]` is how an address is written in a URL: take it as `::1`.
      let bare =
        name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
      return ListenAddress(host: bare, port: port)
    }
  }

  private func validateListeners() throws {
    if let port { try RangeCheck.require("--port", port, in: 0...65535) }
    if !listen.isEmpty && (!host.isEmpty || port != nil) {
      throw ValidationError(
        "--listen gives both address and port; use it instead of --host and --port, not with them")
    }
    for name in host where name.isEmpty {
      throw ValidationError("--host must not be empty (use '*' for every interface)")
    }
    let addresses = try listenAddresses()
    var seen: Set<ListenAddress> = []
    for address in addresses where address.port != 0 && !seen.insert(address).inserted {
      throw ValidationError("\(address) is given twice (\(listen.isEmpty ? "--host" : "--listen"))")
    }
  }

  private func validateLimits() throws {
    try RangeCheck.requirePositive(
      "--handshake-timeout", handshakeTimeout, atMost: 86_400, unit: " seconds")
    try RangeCheck.require("--idle-timeout", idleTimeout, in: 0...86_400, unit: " seconds")
    try RangeCheck.require("--drain-timeout", drainTimeout, in: 0...86_400, unit: " seconds")
    if let ticketLifetime {
      try RangeCheck.require("--ticket-lifetime", ticketLifetime, in: 1...604_800, unit: " seconds")
    }
    guard let maxConnections else { return }
    try RangeCheck.require("--max-connections", maxConnections, in: 1...Int.max)
    // Each connection is a descriptor: more than the hard limit allows could never be open.
    guard let hard = FileDescriptorLimit.hardLimit() else { return }
    let threadCount = threads ?? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    let possible = max(1, hard - Self.reservedDescriptors(threads: threadCount))
    if maxConnections > possible {
      throw ValidationError(
        "--max-connections \(maxConnections) is more than the descriptor limit allows (hard "
          + "limit \(hard): at most \(possible) connections; raise it with 'ulimit -Hn')")
    }
  }

  /// Descriptors the server keeps for itself: listeners, epoll sets, pipes, log, signals.
  static func reservedDescriptors(threads: Int) -> Int { 32 + 4 * threads }

  private func validatePlaintext() throws {
    let given =
      [
        ("--cert", cert != nil), ("--key", key != nil), ("--client-ca", clientCa != nil),
        ("--verify-client", verifyClient != .none), ("--sni", !sni.isEmpty),
        ("--ticket-lifetime", ticketLifetime != nil), ("--no-tickets", noTickets),
        ("--ocsp-response", ocspResponse != nil), ("--report", report != .off),
        ("--scenarios", faultOptions.scenarios != nil),
      ].filter(\.1).map(\.0) + tls.given
    if !given.isEmpty {
      throw ValidationError(
        "\(datagrams.udp ? "--udp" : "--plaintext") serves no TLS: \(given.joined(separator: ", ")) "
          + (given.count == 1 ? "does" : "do") + " not apply to it")
    }
    if mode.needsTLS {
      throw ValidationError(
        "--mode \(mode.rawValue) preserves TLS records; it does not apply to "
          + (datagrams.udp ? "--udp (whose datagrams come back whole anyway)" : "--plaintext"))
    }
  }

  /// `--udp` and `--dtls` echo datagrams, nothing else: no other mode, no stream faults, no
  /// PROXY header (and DTLS: no report, no certificate scenarios).
  private func validateDatagrams() throws {
    if let option = datagrams.udpOnlyGiven.first, !datagrams.udp {
      throw ValidationError("\(option) applies to --udp only")
    }
    if datagrams.dtlsMtu != nil && !datagrams.dtls {
      throw ValidationError("--dtls-mtu applies to --dtls only")
    }
    if let mtu = datagrams.dtlsMtu { try RangeCheck.require("--dtls-mtu", mtu, in: 256...65_535) }
    guard datagrams.isDatagram else { return }
    let name = datagrams.udp ? "--udp" : "--dtls"
    if datagrams.udp && datagrams.dtls {
      throw ValidationError("--udp and --dtls contradict each other: choose one")
    }
    if datagrams.dtls && plaintext {
      throw ValidationError("--dtls is DTLS; it does not go with --plaintext (use --udp)")
    }
    if datagrams.dtls, let option = tls.needingTLS13.first {
      throw ValidationError("\(option) needs TLS 1.3; --dtls is DTLS 1.2, all OpenSSL 3.0 has")
    }
    let given = [
      ("--mode \(mode.rawValue)", mode != .echo && mode != .record),
      ("--proxy-protocol", balancer.proxyProtocol != .off),
      ("--fault", !faultOptions.faults.isEmpty), ("--fault-port", !faultOptions.faultPorts.isEmpty),
      ("--scenarios", faultOptions.scenarios != nil),
      ("--report", report != .off),
    ].filter(\.1).map(\.0)
    if let option = given.first {
      throw ValidationError("\(option) does not apply to \(name), which echoes datagrams")
    }
  }

  private func validateTLS() throws {
    _ = try namedIdentities()
    if (cert == nil) != (key == nil) {
      throw ValidationError(
        cert == nil
          ? "--key needs its certificate: pass --cert too"
          : "--cert needs its private key: pass --key too")
    }
    if verifyClient != .none && clientCa == nil {
      throw ValidationError("--verify-client \(verifyClient.rawValue) needs --client-ca")
    }
    if clientCa != nil && verifyClient == .none {
      throw ValidationError(
        "--client-ca has no effect without --verify-client optional or required")
    }
    if ticketLifetime != nil && noTickets {
      throw ValidationError("--ticket-lifetime has no effect with --no-tickets")
    }
  }
}

extension Logger.Level {
  /// A level as users write it: any case, and `warn` as syslog and most loggers spell it.
  init?(named name: String) {
    let lower = name.lowercased()
    self.init(rawValue: lower == "warn" ? "warning" : lower)
  }
}
