import ArgumentParser
import CommandLineSupport
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

@main
struct EchoClientCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "echo-client",
    abstract: "Connect to an echo server over TLS or plaintext and send it your input.",
    discussion: """
      Interactive when stdin is a terminal (or with --interactive): type a line at the ':' \
      prompt and the echo is shown as '>line'; an empty line or end of input ends the session.

      Otherwise pipe mode: all of stdin is sent, then the sending side is closed, and exactly the \
      bytes echoed back are written to stdout. The exit status is non-zero if the echo differs \
      in length from what was sent.

      A one-line summary of the handshake (TLS version, cipher, server certificate) goes to \
      stderr.
      """,
    version: "0.1.0")

  static func main() { mainReportingOneLineErrors() }

  @Flag(help: "Connect in plaintext TCP instead of TLS.")
  var plaintext = false

  @Option(help: "Server name or address.")
  var host = "localhost"

  @Option(help: "Server port (default: 4433 for TLS, 8080 plaintext).")
  var port: Int?

  @Option(
    help:
      "PEM file of the CA certificates that may sign the server's certificate (default: certs/ca.crt if it exists, else the system's trust store)."
  )
  var cafile: String?

  @Flag(help: "Do not verify the server's certificate or name (testing only).")
  var insecure = false

  @Option(help: "Name sent as SNI and checked against the certificate (default: --host).")
  var servername: String?

  @Flag(help: "Interactive mode even when stdin is not a terminal.")
  var interactive = false

  func validate() throws {
    if let port, !(1...65535).contains(port) {
      throw ValidationError("--port must be between 1 and 65535, not \(port)")
    }
    if plaintext && (cafile != nil || insecure || servername != nil) {
      throw ValidationError("--cafile, --insecure and --servername apply to TLS, not --plaintext")
    }
    if let servername, servername.isEmpty {
      throw ValidationError("--servername must not be empty")
    }
  }

  func run() throws {
    // A server that vanishes must show up as an EPIPE error, not kill the client silently.
    signal(SIGPIPE, SIG_IGN)
    let target =
      "\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):\(resolvedPort)"
    do throws(ClientFailure) {
      let stream = try connect(target: target)
      if interactive || StandardIO.isTerminal(StandardIO.input) {
        try InteractiveSession(stream: stream).run()
      } else {
        try PipeSession(stream: stream).run()
      }
    } catch {
      StandardIO.printError("echo-client: \(error.message)")
      throw ExitCode(error.exitCode)
    }
  }

  private var resolvedPort: UInt16 { UInt16(port ?? (plaintext ? 8080 : 4433)) }

  private func connect(target: String) throws(ClientFailure) -> any ByteStream {
    let socket: Socket
    do {
      let addresses = try SocketAddress.resolve(host: host, port: resolvedPort)
      socket = try Socket.connect(to: addresses)
      try socket.setNoDelay()
    } catch {
      throw ClientFailure(error.description, exitCode: error.code == 0 ? 68 : 69)
    }
    if plaintext {
      StandardIO.printError("echo-client: connected to \(target) (plaintext)")
      return PlainStream(socket)
    }
    let stream: TLSStream
    do {
      let context = try TLSContext(
        .client(trustedCAFile: trustFile, verifyPeer: !insecure), role: .client)
      stream = try TLSStream(socket: socket, context: context, serverName: servername ?? host)
    } catch {
      throw ClientFailure(
        error.description, exitCode: error.reason.contains("No such file") ? 66 : 65)
    }
    do {
      // The socket is still blocking here, so the handshake either finishes or throws.
      _ = try stream.handshake()
    } catch {
      let what =
        error.kind == .verification ? "certificate verification failed for" : "TLS handshake with"
      let detail = error.kind == .verification ? error.reason : "\(error.description)"
      throw ClientFailure("\(what) \(target): \(detail)", exitCode: 69)
    }
    StandardIO.printError("echo-client: connected to \(target): \(summary(of: stream))")
    return stream
  }

  private var trustFile: String? {
    if let cafile { return cafile }
    return access("certs/ca.crt", R_OK) == 0 ? "certs/ca.crt" : nil
  }

  private func summary(of stream: TLSStream) -> String {
    let subject = stream.peerCertificateSubject ?? "none"
    let verified = insecure ? "not verified: --insecure" : "verified"
    return
      "\(stream.protocolVersion), \(stream.cipher), server certificate \(subject) (\(verified))"
  }
}

/// A failure the client reports in one line, with the exit status (sysexits) it maps to.
struct ClientFailure: Error {
  var message: String
  var exitCode: Int32

  init(_ message: String, exitCode: Int32) {
    self.message = message
    self.exitCode = exitCode
  }
}
