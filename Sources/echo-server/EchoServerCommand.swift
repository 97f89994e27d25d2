import ArgumentParser
import CLinux
import CommandLineSupport
import EchoServer
import Faults
import Logging
import Sockets
import StreamServices
import TLS

#if canImport(Glibc)
  import Glibc
#endif

@main
struct EchoServerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "echo-server",
    abstract:
      "Echo every byte a client sends back to it (or, with --mode, another stream service), "
      + "over TLS 1.2/1.3 or plaintext TCP.",
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

  @Option(
    help: """
      Address or name to listen on, with --port (repeatable): a name gets a listener per \
      address it has; '*' is every interface, IPv4 and IPv6 ('::' is IPv6 only) \
      (default: localhost).
      """)
  var host: [String] = []

  @Option(help: "TCP port for --host (default: 4433 for TLS, 8080 plaintext; 0: any free port).")
  var port: Int?

  @Option(
    help: ArgumentHelp(
      """
      ADDRESS:PORT to listen on (repeatable; instead of --host and --port): 127.0.0.1:4433, \
      [::1]:4433, localhost:0, *:4433 (every interface, IPv4 and IPv6).
      """, valueName: "address:port"))
  var listen: [String] = []

  @Option(help: "PEM certificate chain, leaf first (default: certs/server.crt).")
  var cert: String?

  @Option(help: "PEM private key of the certificate (default: certs/server.key).")
  var key: String?

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
    help: ArgumentHelp(
      """
      Another certificate for clients asking for NAME by SNI, as NAME=CERT,KEY (repeatable). \
      Other names, and clients sending none, get --cert.
      """, valueName: "name=cert,key"))
  var sni: [String] = []

  @Option(
    help: "Seconds a session ticket is valid; ticket keys rotate on this schedule (default: 7200).")
  var ticketLifetime: Int?

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

  @Option(
    help: """
      What to do with each connection's data: echo (every byte back), record (TLS: each record \
      back as one record), reverse (each line back reversed), discard (RFC 863), chargen \
      (RFC 864), source (send --bytes of a binary pattern, then close), sink (read to the end, \
      then answer one line with the count and rate).
      """)
  var mode: ServiceMode = .echo

  @Option(
    help: """
      Send each TLS client a report of its handshake (what it offered: versions, ciphers, \
      extensions, JA3, JA4; what was negotiated) before serving it: json (one line), text, or \
      off. With off, a client that asks for the server name report.NAME still gets the JSON one.
      """)
  var report: ReportChoice = .off

  @Option(help: "This server's name in reports and log lines (default: host name and PID).")
  var instance: String?

  @OptionGroup(title: "Behind a load balancer")
  var balancer: BalancerOptions

  @OptionGroup(title: "Faults and certificate scenarios")
  var faultOptions: FaultOptions

  @OptionGroup(title: "Datagrams")
  var datagrams: DatagramOptions

  @Option(help: "Source mode: bytes to send before closing (default: until the client closes).")
  var bytes: Int?

  @Option(
    help: """
      Log level: trace (each read and write), debug (each accept and handshake), info (one line \
      per closed connection), notice, warning, error, critical.
      """)
  var logLevel = "info"

  @Option(help: "Log format on stderr: text or json (one object per line).")
  var logFormat = "text"

  func run() throws {
    // Before any thread starts, so that every thread (loops, the log writer) inherits the
    // signal mask.
    ProcessSignals.prepare()
    let signals: SignalWatcher
    let sink: LogSink
    do {
      signals = try SignalWatcher()
      sink = try LogSink()
    } catch {
      throw fail(error.description, status: .osError)
    }
    // Whatever ends the run, the log lines queued so far are written first (a stderr that
    // never drains holds the exit up for a few seconds at most).
    defer {
      sink.lift()
      sink.finish(waitingAtMost: 5000)
    }
    let level = Logger.Level(named: logLevel) ?? .info
    let format = ServerLogHandler.Format(rawValue: logFormat.lowercased()) ?? .text
    let instanceName = instance ?? Self.defaultInstance
    LoggingSystem.bootstrap { _ in
      var handler = ServerLogHandler(format: format, level: level, sink: sink)
      handler.metadata["instance"] = "\(instanceName)"
      return handler
    }
    let logger = Logger(label: "echo-server")
    let serviceManager = ServiceManager(logger: logger)

    var tlsContext = servesPlaintext ? nil : try loadTLS()
    let transport: ServerConfiguration.Mode = tlsContext.map { .tls($0) } ?? .plaintext
    let threadCount = threads ?? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    let descriptorLimit = FileDescriptorLimit.raiseToHardLimit()
    var limits = ServerConfiguration.Limits(
      maxConnections: maxConnections
        ?? max(1, descriptorLimit - Self.reservedDescriptors(threads: threadCount)))
    limits.handshakeTimeout = milliseconds(handshakeTimeout)
    limits.idleTimeout = milliseconds(idleTimeout)
    limits.drainTimeout = milliseconds(drainTimeout)
    var configuration = ServerConfiguration(
      listen: try listenAddresses(), mode: transport,
      threads: threadCount, limits: limits)
    configuration.service = ServiceConfiguration(mode: mode, sourceBytes: bytes)
    configuration.report = report.format
    configuration.instance = instanceName
    configuration.proxy = try balancer.proxySettings()
    configuration.reusePort = balancer.reusePort
    configuration.faults = try faultOptions.plan()
    configuration.faultListeners = try faultListeners()
    configuration.datagram = datagrams.isDatagram
    configuration.udpLimits = try datagrams.limits()
    if let address = try balancer.metricsAddress() {
      let metrics = ServerMetrics(
        version: Self.configuration.version, udp: datagrams.udp, dtls: datagrams.dtls
      ) { sink.dropped }
      configuration.metrics = (address, metrics)
    }
    let server: EchoServer
    let bound: [BoundListener]
    do {
      server = try EchoServer(configuration: configuration, logger: logger)
      bound = try server.start()
    } catch {
      throw fail(error.description, status: error.exitStatus)
    }
    let list = bound.filter { !$0.isFaultPort }.map(\.address.description)
      .joined(separator: ", ")
    let faultNote = bound.filter(\.isFaultPort).map {
      "; faults \($0.faults.spelling) on \($0.address)"
    }.joined()
    if let keylog = tls.keylog {
      logger.warning(
        "writing TLS session secrets to a key log file: anyone who has it can decrypt the traffic",
        metadata: ["keylog": "\(keylog)"])
    }
    if let path = ocspResponse, let summary = tlsContext?.stapledOCSPSummary {
      logger.notice(
        "stapling OCSP response", metadata: ["ocsp_response": "\(path)", "ocsp": "\(summary)"])
    }
    logger.notice(
      "started",
      metadata: [
        "listen": "\(list)", "transport": "\(transportName.lowercased())",
        "mode": "\(mode.rawValue)",
        "threads": .stringConvertible(threadCount),
        "max_connections": .stringConvertible(limits.maxConnections),
        "fd_limit": .stringConvertible(descriptorLimit),
      ].merging(balancer.startFields(metrics: server.metricsAddress)) { $1 }
        .merging(faultOptions.startFields.mapValues { .string($0) }) { $1 })
    // Written straight to the descriptor: scripts and tests wait for this line, so it must not
    // sit in a buffer; the start-up log lines go first.
    sink.flush(waitingAtMost: 1000)
    let metricsNote = server.metricsAddress.map { "; metrics at http://\($0)/metrics" } ?? ""
    try? StandardIO.write(
      "echo-server: listening on \(list) (\(transportName), \(mode.rawValue), "
        + "\(threadCount) threads)\(faultNote)\(metricsNote)\n",
      to: StandardIO.output)
    serviceManager.ready(listening: list)

    var draining = false
    // UDP has no connection to log a line for: its counters are logged every few seconds
    // instead, when they changed.
    var datagramsLogged: [String: Int] = [:]
    loop: while true {
      let event = signals.wait(
        orReadable: server.finishedDescriptor,
        timeoutMilliseconds: datagrams.udp ? Self.datagramLogInterval : -1)
      switch event {
      case .timeout:
        let fields = server.statistics().datagramFields
        if fields != datagramsLogged {
          datagramsLogged = fields
          logger.notice("datagrams", metadata: fields.mapValues { .stringConvertible($0) })
        }
      case .other: break loop
      case .stop(let name) where !draining:
        draining = true
        serviceManager.stopping()
        logger.notice(
          "shutting down: no longer accepting, draining open connections",
          metadata: ["signal": "\(name)", "drain_timeout_s": .stringConvertible(drainTimeout)])
        server.drain()
      case .stop(let name):
        logger.notice(
          "second stop signal: closing every connection now", metadata: ["signal": "\(name)"])
        server.stop()
      case .reload:
        serviceManager.reloading()
        tlsContext = reload(server, replacing: tlsContext, logger) ?? tlsContext
        serviceManager.ready(listening: list)
      case .report:
        logger.notice("statistics", metadata: Self.metadata(server.statistics(), sink))
      }
    }
    server.wait()
    sink.lift()
    logger.notice("stopped", metadata: Self.metadata(server.statistics(), sink))
  }

  /// How often, in milliseconds, the datagram counters are logged when they changed.
  static let datagramLogInterval: Int32 = 10_000

  /// What clients speak to this server: `TLS`, `plaintext` (TCP), `UDP`.
  var transportName: String {
    datagrams.udp ? "UDP" : datagrams.dtls ? "DTLS" : plaintext ? "plaintext" : "TLS"
  }

  /// No TLS: `--plaintext`, or `--udp`.
  var servesPlaintext: Bool { plaintext || datagrams.udp }

  /// `--fault-port`: a listener on the port for each address the others listen on.
  func faultListeners() throws -> [(address: ListenAddress, faults: FaultPlan)] {
    let hosts = try listenAddresses().map(\.host)
    return try faultOptions.ports().flatMap { port, faults in
      hosts.map { (ListenAddress(host: $0, port: port), faults) }
    }
  }

  private static func metadata(_ statistics: ServerStatistics, _ sink: LogSink) -> Logger.Metadata {
    var fields = statistics.fields
    fields["log_lines_dropped"] = sink.dropped
    return fields.mapValues { .stringConvertible($0) }
  }

  private func milliseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }

  /// Prints one line to stderr and returns the exit code to throw.
  func fail(_ message: String, status: ExitStatus) -> ExitCode {
    StandardIO.printError("echo-server: \(message)")
    return status.exitCode
  }
}

/// `--report`: a format, or off.
enum ReportChoice: String, ExpressibleByArgument, CaseIterable {
  case json, text, off

  var format: ReportFormat? { ReportFormat(rawValue: rawValue) }
}

extension EchoServerCommand {
  /// `host-1234`: tells instances on one host apart, and hosts from each other.
  static var defaultInstance: String {
    var name = [UInt8](repeating: 0, count: 256)
    let ok = name.withUnsafeMutableBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count) == 0 }
    }
    let host = ok ? String(decoding: name.prefix { $0 != 0 }, as: UTF8.self) : "echo-server"
    return "\(host)-\(getpid())"
  }
}
