import ArgumentParser
import CLinux
import CommandLineSupport
import EchoServer
import Logging
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

@main
struct EchoServerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "echo-server",
    abstract: "Echo every byte a client sends back to it, over TLS 1.2/1.3 or plaintext TCP.",
    discussion: """
      Serves many clients at once on a fixed number of event-loop threads. Prints one line with \
      the addresses it listens on once it accepts connections. SIGINT or SIGTERM stops it \
      (exit 0).

      Try it: openssl s_client -connect localhost:4433 -CAfile certs/ca.crt
      """,
    version: "0.1.0")

  static func main() { mainReportingOneLineErrors() }

  @Flag(help: "Serve plaintext TCP instead of TLS (for debugging; no certificate needed).")
  var plaintext = false

  @Option(help: "Address or name to listen on; a name gets a listener per address it has.")
  var host = "localhost"

  @Option(help: "TCP port (default: 4433 for TLS, 8080 plaintext; 0: any free port).")
  var port: Int?

  @Option(help: "PEM certificate chain, leaf first.")
  var cert = "certs/server.crt"

  @Option(help: "PEM private key of the certificate.")
  var key = "certs/server.key"

  @OptionGroup(title: "TLS")
  var tls: TLSOptions

  @Option(help: "PEM file of the CAs that may sign client certificates (for --verify-client).")
  var clientCa: String?

  @Option(
    help: """
      Ask clients for a certificate: none, optional (a client without one is served, one with \
      a bad one is refused) or required.
      """)
  var verifyClient: TLSConfiguration.ClientVerification = .none

  @Option(
    help: """
      Another certificate for clients asking for NAME by SNI, as NAME=CERT,KEY (repeatable). \
      Other names, and clients sending none, get --cert.
      """)
  var sni: [String] = []

  @Option(help: "Seconds a session ticket is valid; ticket keys rotate on this schedule.")
  var ticketLifetime = 7200

  @Flag(help: "Issue no session tickets: every connection does a full handshake.")
  var noTickets = false

  @Option(help: "DER OCSP response to staple for --cert (from 'openssl ocsp -respout').")
  var ocspResponse: String?

  @Option(help: "Event-loop threads (default: the number of cores).")
  var threads: Int?

  @Option(
    help: """
      Connections open at once; more are accepted and closed at once, and counted \
      (default: what the file-descriptor limit allows, after raising it to the hard limit).
      """)
  var maxConnections: Int?

  @Option(help: "Seconds a client has to complete the TLS handshake (plaintext: to send a byte).")
  var handshakeTimeout: Double = 10

  @Option(help: "Seconds a connection may stay without traffic before it is closed (0: never).")
  var idleTimeout: Double = 300

  @Option(help: "Seconds open connections may go on after SIGINT/SIGTERM before they are closed.")
  var drainTimeout: Double = 10

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel = "info"

  @Option(help: "Log format on stderr: text or json (one object per line).")
  var logFormat = "text"

  func validate() throws {
    if let port, !(0...65535).contains(port) {
      throw ValidationError("--port must be between 0 and 65535, not \(port)")
    }
    if let threads, !(1...1024).contains(threads) {
      throw ValidationError("--threads must be between 1 and 1024, not \(threads)")
    }
    if let maxConnections, maxConnections < 1 {
      throw ValidationError("--max-connections must be at least 1, not \(maxConnections)")
    }
    for (name, value) in [
      ("--handshake-timeout", handshakeTimeout), ("--idle-timeout", idleTimeout),
      ("--drain-timeout", drainTimeout),
    ] where !(value >= 0 && value <= 86_400) {
      throw ValidationError("\(name) must be between 0 and 86400 seconds, not \(value)")
    }
    if handshakeTimeout == 0 {
      throw ValidationError("--handshake-timeout must be more than 0")
    }
    _ = try namedIdentities()
    if verifyClient != .none && clientCa == nil {
      throw ValidationError("--verify-client \(verifyClient.rawValue) needs --client-ca")
    }
    if !(1...604_800).contains(ticketLifetime) {
      throw ValidationError(
        "--ticket-lifetime must be between 1 and 604800 seconds, not \(ticketLifetime)")
    }
    if plaintext && (clientCa != nil || !sni.isEmpty || tls.alpn != nil || tls.keylog != nil) {
      throw ValidationError(
        "TLS options (--client-ca, --sni, --alpn, --keylog) do not apply to --plaintext")
    }
    if Logger.Level(rawValue: logLevel) == nil {
      let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
      throw ValidationError("--log-level must be one of \(levels), not '\(logLevel)'")
    }
    if ServerLogHandler.Format(rawValue: logFormat) == nil {
      throw ValidationError("--log-format must be text or json, not '\(logFormat)'")
    }
  }

  func run() throws {
    let level = Logger.Level(rawValue: logLevel) ?? .info
    let format = ServerLogHandler.Format(rawValue: logFormat) ?? .text
    LoggingSystem.bootstrap { _ in ServerLogHandler(format: format, level: level) }
    let logger = Logger(label: "echo-server")
    // Before any thread starts, so that every loop thread inherits the signal mask; writes to
    // a vanished peer must fail with EPIPE, not kill the process.
    let signals: SignalWatcher
    do { signals = try SignalWatcher() } catch { throw fail(error.description, code: 71) }
    signal(SIGPIPE, SIG_IGN)

    var tlsContext = plaintext ? nil : try loadTLS()
    let mode: ServerConfiguration.Mode = tlsContext.map { .tls($0) } ?? .plaintext
    let threadCount = threads ?? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    let descriptorLimit = FileDescriptorLimit.raiseToHardLimit()
    var limits = ServerConfiguration.Limits(
      maxConnections: maxConnections ?? max(1, descriptorLimit - 32 - 4 * threadCount))
    limits.handshakeTimeout = milliseconds(handshakeTimeout)
    limits.idleTimeout = milliseconds(idleTimeout)
    limits.drainTimeout = milliseconds(drainTimeout)
    let configuration = ServerConfiguration(
      host: host, port: UInt16(port ?? (plaintext ? 8080 : 4433)), mode: mode,
      threads: threadCount, limits: limits)
    let server: EchoServer
    let addresses: [SocketAddress]
    do {
      server = try EchoServer(configuration: configuration, logger: logger)
      addresses = try server.start()
    } catch {
      throw fail(error.description, code: 69)
    }
    let list = addresses.map(\.description).joined(separator: ", ")
    if let keylog = tls.keylog {
      logger.warning(
        "writing TLS session secrets to a key log file: anyone who has it can decrypt the traffic",
        metadata: ["keylog": "\(keylog)"])
    }
    logger.info(
      "started",
      metadata: [
        "listen": "\(list)", "mode": "\(plaintext ? "plaintext" : "tls")",
        "threads": .stringConvertible(threadCount),
        "max_connections": .stringConvertible(limits.maxConnections),
        "fd_limit": .stringConvertible(descriptorLimit),
      ])
    // Written straight to the descriptor: scripts and tests wait for this line, so it must not
    // sit in a buffer.
    try? StandardIO.write(
      "echo-server: listening on \(list) (\(plaintext ? "plaintext" : "TLS"), \(threadCount) threads)\n",
      to: StandardIO.output)

    var draining = false
    loop: while true {
      switch signals.wait(orReadable: server.finishedDescriptor) {
      case .other: break loop
      case .stop(let name) where !draining:
        draining = true
        logger.info(
          "shutting down: no longer accepting, draining open connections",
          metadata: ["signal": "\(name)", "drain_timeout_s": "\(drainTimeout)"])
        server.drain()
      case .stop(let name):
        logger.info(
          "second stop signal: closing every connection now", metadata: ["signal": "\(name)"])
        server.stop()
      case .reload: tlsContext = reload(server, replacing: tlsContext, logger) ?? tlsContext
      case .report: logger.info("statistics", metadata: Self.metadata(server.statistics()))
      }
    }
    server.wait()
    logger.info("stopped", metadata: Self.metadata(server.statistics()))
  }

  private func loadTLS() throws -> TLSContext {
    do {
      return try TLSContext(try tlsConfiguration(), role: .server)
    } catch let error as TLSError {
      throw fail(
        error.description + hint(error), code: error.reason.contains("No such file") ? 66 : 65)
    }
  }

  /// The server's TLS settings from the command line; read again on every reload.
  private func tlsConfiguration() throws -> TLSConfiguration {
    var configuration = TLSConfiguration.server(certificateChainFile: cert, privateKeyFile: key)
    tls.apply(to: &configuration)
    configuration.trustedCAFile = clientCa
    configuration.clientVerification = verifyClient
    configuration.namedIdentities = try namedIdentities()
    configuration.sessionTickets = !noTickets
    configuration.ticketLifetime = ticketLifetime
    configuration.ocspResponseFile = ocspResponse
    return configuration
  }

  /// `--sni NAME=CERT,KEY` values, parsed.
  private func namedIdentities() throws -> [TLSConfiguration.NamedIdentity] {
    try sni.map { value in
      let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
      let files = parts.count == 2 ? parts[1].split(separator: ",").map(String.init) : []
      guard parts.count == 2, !parts[0].isEmpty, files.count == 2 else {
        throw ValidationError("--sni must be NAME=CERT,KEY, not '\(value)'")
      }
      return .init(serverName: parts[0], certificateChainFile: files[0], privateKeyFile: files[1])
    }
  }

  /// SIGHUP: new handshakes get the files as they are now; a bad file keeps the old ones.
  /// Returns the context now in service, or nil if nothing changed.
  private func reload(
    _ server: EchoServer, replacing current: TLSContext?, _ logger: Logger
  ) -> TLSContext? {
    guard let current else {
      logger.notice("SIGHUP ignored: plaintext mode has no certificate to reload")
      return nil
    }
    do {
      // The ticket keys carry over, so clients holding tickets still resume after a reload.
      let context = try TLSContext(try tlsConfiguration(), role: .server, replacing: current)
      server.replaceTLS(context)
      logger.info("certificate reloaded", metadata: ["cert": "\(cert)", "key": "\(key)"])
      return context
    } catch {
      logger.error(
        "certificate reload failed; still serving the previous certificate",
        metadata: ["error": "\(error)"])
      return nil
    }
  }

  private static func metadata(_ statistics: ServerStatistics) -> Logger.Metadata {
    statistics.fields.mapValues { .stringConvertible($0) }
  }

  private func milliseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }

  private func hint(_ error: TLSError) -> String {
    let usingDefaults = cert == "certs/server.crt" && key == "certs/server.key"
    return usingDefaults && error.reason.contains("No such file")
      ? " (run 'make certs' to create the development certificates, or pass --cert and --key)" : ""
  }

  /// Prints one line to stderr and returns the exit code to throw.
  private func fail(_ message: String, code: Int32) -> ExitCode {
    StandardIO.printError("echo-server: \(message)")
    return ExitCode(code)
  }
}
