import ArgumentParser
import CommandLineSupport
import ProxyProtocol
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// Where to connect and how to trust the server: shared by the session and `bench`.
struct ServerOptions: ParsableArguments {
  @Flag(help: "Connect in plaintext TCP instead of TLS.")
  var plaintext = false

  @Flag(help: "Send UDP datagrams instead of a TCP stream (plaintext; default port 8080).")
  var udp = false

  @Flag(help: "Send DTLS 1.2 records over UDP instead of TLS over TCP (default port 4433).")
  var dtls = false

  @Option(help: "Server name or address.")
  var host = "localhost"

  @Option(help: "Server port (default: 4433 for TLS, 8080 plaintext).")
  var port: Int?

  @Option(
    help: """
      PEM file of the CA certificates that may sign the server's certificate (default: \
      certs/ca.crt if it exists, else the system's trust store).
      """)
  var cafile: String?

  @Flag(help: "Do not verify the server's certificate or name (testing only).")
  var insecure = false

  @Option(help: "Name sent as SNI and checked against the certificate (default: --host).")
  var servername: String?

  @OptionGroup(title: "TLS")
  var tls: TLSOptions

  @Option(help: "PEM client certificate to present (mutual TLS; needs --key).")
  var cert: String?

  @Option(help: "PEM private key of --cert.")
  var key: String?

  @Option(help: "Seconds to wait for the TCP connection to be accepted.")
  var connectTimeout: Double = 10

  @Option(help: "Seconds to wait for the TLS handshake to complete.")
  var handshakeTimeout: Double = 10

  @Option(
    help: ArgumentHelp(
      """
      Start every connection with a PROXY protocol header, v1 (text) or v2 (binary), carrying \
      its own addresses, as a load balancer would: to test a server that expects a balancer's \
      header (echo-server --proxy-protocol, nginx proxy_protocol, HAProxy accept-proxy) \
      without a balancer. Sent before the TLS handshake; off unless given.
      """, valueName: "version"))
  var proxyHeader: ProxyHeaderVersion?

  func validate() throws {
    if let port { try RangeCheck.require("--port", port, in: 1...65535) }
    if let servername, servername.isEmpty {
      throw ValidationError("--servername must not be empty")
    }
    for (name, value) in [
      ("--connect-timeout", connectTimeout), ("--handshake-timeout", handshakeTimeout),
    ] {
      try RangeCheck.requirePositive(name, value, atMost: 3600, unit: " seconds")
    }
    if (cert == nil) != (key == nil) {
      throw ValidationError("--cert and --key go together")
    }
    if host.contains(":"), SocketAddress(numericHost: host, port: 0) == nil,
      let port = host.split(separator: ":").last, UInt16(port) != nil
    {
      throw ValidationError(
        "--host takes a name or an address, not '\(host)': give the port with --port \(port)")
    }
    let given =
      [
        ("--cafile", cafile != nil), ("--insecure", insecure), ("--servername", servername != nil),
        ("--cert", cert != nil), ("--key", key != nil),
      ].filter(\.1).map(\.0) + tls.given
    if (plaintext || udp) && !given.isEmpty {
      throw ValidationError(
        "\(udp ? "--udp" : "--plaintext") has no TLS: \(given.joined(separator: ", ")) "
          + (given.count == 1 ? "does" : "do") + " not apply to it")
    }
    let transports = [("--plaintext", plaintext), ("--udp", udp), ("--dtls", dtls)].filter(\.1)
    if transports.count > 1 {
      throw ValidationError(
        "\(transports.map(\.0).joined(separator: " and ")) contradict each other: choose one")
    }
    if dtls, let option = tls.needingTLS13.first {
      throw ValidationError("\(option) needs TLS 1.3; --dtls is DTLS 1.2, all OpenSSL 3.0 has")
    }
    if isDatagram, proxyHeader != nil {
      throw ValidationError("--proxy-header goes before a TCP stream; it does not apply to UDP")
    }
  }

  /// `--udp` or `--dtls`: datagrams instead of a stream.
  var isDatagram: Bool { udp || dtls }

  var resolvedPort: UInt16 { UInt16(port ?? (plaintext || udp ? 8080 : 4433)) }

  /// `host:port`, with an IPv6 address in brackets.
  var target: String {
    "\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):\(resolvedPort)"
  }

  var serverName: String { servername ?? host }

  var connectTimeoutMilliseconds: Int32 { Int32((connectTimeout * 1000).rounded()) }
  var handshakeTimeoutMilliseconds: Int32 { Int32((handshakeTimeout * 1000).rounded()) }

  func addresses() throws(ClientFailure) -> [SocketAddress] {
    do {
      return try SocketAddress.resolve(host: host, port: resolvedPort)
    } catch {
      throw ClientFailure(error.description, status: error.exitStatus)
    }
  }

  /// The client TLS context these options describe; nil in plaintext mode.
  /// `session`: for one interactive or pipe connection, which asks a SecureEcho server what
  /// faults or certificate scenario it applied, and checks a stapled OCSP response; a bench
  /// load sends the plain hello.
  func tlsContext(session: Bool = false) throws(ClientFailure) -> TLSContext? {
    guard !plaintext && !udp else { return nil }
    var configuration = TLSConfiguration.client(trustedCAFile: trustFile, verifyPeer: !insecure)
    tls.apply(to: &configuration)
    configuration.asksForFaultAnnouncement = session && !dtls
    configuration.checksStapledStatus = session && !dtls
    configuration.datagram = dtls
    configuration.certificateChainFile = cert
    configuration.privateKeyFile = key
    do {
      guard tls.keylog == nil, let variable = Self.environmentKeyLogFile else {
        return try TLSContext(configuration, role: .client)
      }
      // The variable Firefox, Chrome and curl honour, for Wireshark; like them, a file that
      // cannot be opened is a warning, not a reason to fail the connection.
      var logging = configuration
      logging.keyLogFile = variable
      do {
        return try TLSContext(logging, role: .client)
      } catch  where error.operation == "cannot open key log file '\(variable)'" {
        // (The operation CallbackState names: only the key log's own failure is forgiven.)
        StandardIO.printError(
          "echo-client: warning: SSLKEYLOGFILE='\(variable)': \(error.reason); no key log written")
        return try TLSContext(configuration, role: .client)
      }
    } catch {
      throw ClientFailure(error.description, status: error.exitStatus)
    }
  }

  private var trustFile: String? {
    if let cafile { return cafile }
    return access("certs/ca.crt", R_OK) == 0 ? "certs/ca.crt" : nil
  }

  private static var environmentKeyLogFile: String? {
    guard let value = getenv("SSLKEYLOGFILE"), value.pointee != 0 else { return nil }
    return String(cString: value)
  }
}

/// `--proxy-header`.
enum ProxyHeaderVersion: String, ExpressibleByArgument, CaseIterable {
  case v1, v2

  var version: ProxyVersion { self == .v1 ? .v1 : .v2 }
}

/// A failure the client reports in one line, with the exit status (sysexits) it maps to.
struct ClientFailure: Error {
  var message: String
  var status: ExitStatus

  init(_ message: String, status: ExitStatus) {
    self.message = message
    self.status = status
  }
}

extension ClientFailure {
  /// Prints the failure as one line and returns the exit code to throw.
  func report() -> ExitCode {
    StandardIO.printError("echo-client: \(message)")
    return status.exitCode
  }
}
