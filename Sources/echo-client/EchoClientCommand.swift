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

  @OptionGroup(title: "TLS")
  var tls: TLSOptions

  @Option(help: "PEM client certificate to present (mutual TLS; needs --key).")
  var cert: String?

  @Option(help: "PEM private key of --cert.")
  var key: String?

  @Option(help: "Resume the session saved in this file (by --sess-out).")
  var sessIn: String?

  @Option(help: "Save the session (with its ticket) to this file at the end, for --sess-in.")
  var sessOut: String?

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
    if (cert == nil) != (key == nil) {
      throw ValidationError("--cert and --key go together")
    }
    let tlsOnly = [cert, sessIn, sessOut, tls.alpn, tls.keylog].contains { $0 != nil }
    if plaintext && tlsOnly {
      throw ValidationError(
        "TLS options (--cert, --sess-in, --sess-out, --alpn, --keylog) do not apply to --plaintext")
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
      // Over TLS 1.3 the ticket comes after the handshake, so the session is saved last.
      if let sessOut, let stream = stream as? TLSStream {
        do {
          if try !stream.saveSession(to: sessOut) {
            StandardIO.printError(
              "echo-client: the server offered no resumable session; '\(sessOut)' not written")
          }
        } catch {
          throw ClientFailure(error.description, exitCode: 73)
        }
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
      var configuration = TLSConfiguration.client(trustedCAFile: trustFile, verifyPeer: !insecure)
      tls.apply(to: &configuration)
      configuration.certificateChainFile = cert
      configuration.privateKeyFile = key
      // The variable Firefox, Chrome and curl honour, for Wireshark.
      configuration.keyLogFile = tls.keylog ?? Self.environmentKeyLogFile
      let context = try TLSContext(configuration, role: .client)
      stream = try TLSStream(socket: socket, context: context, serverName: servername ?? host)
      if let sessIn { try stream.offerSession(from: sessIn) }
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

  private static var environmentKeyLogFile: String? {
    guard let value = getenv("SSLKEYLOGFILE"), value.pointee != 0 else { return nil }
    return String(cString: value)
  }

  /// `TLSv1.3, TLS_AES_128_GCM_SHA256, group X25519, ALPN echo, new session, server
  /// certificate CN=localhost issued by CN=Dev CA (verified)`.
  private func summary(of stream: TLSStream) -> String {
    let subject = stream.peerCertificateSubject ?? "none"
    let issuer = stream.peerCertificateIssuer ?? "none"
    let verified =
      insecure ? "not verified: --insecure; verification: \(stream.verificationResult)" : "verified"
    return [
      stream.protocolVersion, stream.cipher, "group \(stream.negotiatedGroup ?? "none")",
      "ALPN \(stream.alpnProtocol ?? "none")", stream.isResumed ? "resumed session" : "new session",
      "server certificate \(subject) issued by \(issuer) (\(verified))",
    ].joined(separator: ", ")
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
