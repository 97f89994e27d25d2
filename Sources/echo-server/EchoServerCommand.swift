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

  @Option(help: "Event-loop threads (default: the number of cores).")
  var threads: Int?

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel = "info"

  func validate() throws {
    if let port, !(0...65535).contains(port) {
      throw ValidationError("--port must be between 0 and 65535, not \(port)")
    }
    if let threads, !(1...1024).contains(threads) {
      throw ValidationError("--threads must be between 1 and 1024, not \(threads)")
    }
    if Logger.Level(rawValue: logLevel) == nil {
      throw ValidationError(
        "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(logLevel)'"
      )
    }
  }

  func run() throws {
    let level = Logger.Level(rawValue: logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "echo-server")
    let signals = SignalSet.serverSignals
    // Before any thread starts, so that every loop thread inherits the mask and signals reach
    // only the waiting main thread; writes to a vanished peer must fail with EPIPE, not kill us.
    signals.block()
    signal(SIGPIPE, SIG_IGN)

    let mode: ServerConfiguration.Mode
    if plaintext {
      mode = .plaintext
    } else {
      do {
        mode = .tls(
          try TLSContext(.server(certificateChainFile: cert, privateKeyFile: key), role: .server))
      } catch {
        throw fail(
          error.description + hint(error), code: error.reason.contains("No such file") ? 66 : 65)
      }
    }
    let threadCount = threads ?? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    let server = EchoServer(
      configuration: ServerConfiguration(
        host: host, port: UInt16(port ?? (plaintext ? 8080 : 4433)), mode: mode,
        threads: threadCount),
      logger: logger)
    let addresses: [SocketAddress]
    do {
      addresses = try server.start()
    } catch {
      throw fail(error.description, code: 69)
    }
    let list = addresses.map(\.description).joined(separator: ", ")
    // Written straight to the descriptor: scripts and tests wait for this line, so it must not
    // sit in a buffer.
    try? StandardIO.write(
      "echo-server: listening on \(list) (\(plaintext ? "plaintext" : "TLS"), \(threadCount) threads)\n",
      to: StandardIO.output)

    let received = signals.wait()
    logger.info("received \(received), shutting down")
    server.stop()
    server.wait()
  }

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
