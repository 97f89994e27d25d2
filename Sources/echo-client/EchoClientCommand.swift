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
    version: "0.1.0",
    subcommands: [BenchCommand.self])

  static func main() { mainReportingOneLineErrors() }

  @OptionGroup
  var server: ServerOptions

  @Flag(help: "Interactive mode even when stdin is not a terminal.")
  var interactive = false

  @Option(help: "Resume the session saved in this file (by --sess-out).")
  var sessIn: String?

  @Option(help: "Save the session (with its ticket) to this file at the end, for --sess-in.")
  var sessOut: String?

  func validate() throws {
    if server.plaintext && (sessIn != nil || sessOut != nil) {
      throw ValidationError("--sess-in and --sess-out do not apply to --plaintext")
    }
  }

  func run() throws {
    // A server that vanishes must show up as an EPIPE error, not kill the client silently.
    signal(SIGPIPE, SIG_IGN)
    do throws(ClientFailure) {
      let stream = try connect()
      if interactive || StandardIO.isTerminal(StandardIO.input) {
        try InteractiveSession(stream: stream).run()
      } else {
        try PipeSession(stream: stream).run()
      }
      // Over TLS 1.3 the ticket comes after the handshake, so the session is saved last.
      if let sessOut, let stream = stream as? TLSStream {
        guard let session = stream.resumableSession() else {
          StandardIO.printError(
            "echo-client: the server offered no resumable session; '\(sessOut)' not written")
          return
        }
        do {
          try session.save(to: sessOut)
        } catch {
          throw ClientFailure(error.description, exitCode: 73)
        }
      }
    } catch {
      throw error.report()
    }
  }

  private func connect() throws(ClientFailure) -> any ByteStream {
    let target = server.target
    let addresses = try server.addresses()
    let socket: Socket
    do {
      socket = try Socket.connect(to: addresses)
      try socket.setNoDelay()
    } catch {
      throw ClientFailure(error.description, exitCode: 69)
    }
    guard let context = try server.tlsContext() else {
      StandardIO.printError("echo-client: connected to \(target) (plaintext)")
      return PlainStream(socket)
    }
    let stream: TLSStream
    do {
      stream = try TLSStream(socket: socket, context: context, serverName: server.serverName)
      if let sessIn { stream.offer(try TLSSession(contentsOf: sessIn)) }
    } catch {
      throw ClientFailure(
        error.description, exitCode: error.reason.contains("No such file") ? 66 : 65)
    }
    do throws(TLSError) {
      // The socket is still blocking here, so the handshake finishes, throws, or meets a
      // close_notify.
      guard case .done = try stream.handshake() else {
        throw TLSError(.handshake, "TLS handshake", reason: "the server closed the connection")
      }
    } catch {
      let what =
        error.kind == .verification ? "certificate verification failed for" : "TLS handshake with"
      let detail = error.kind == .verification ? error.reason : "\(error.description)"
      throw ClientFailure("\(what) \(target): \(detail)", exitCode: 69)
    }
    StandardIO.printError("echo-client: connected to \(target): \(summary(of: stream))")
    return stream
  }

  /// `TLSv1.3, TLS_AES_128_GCM_SHA256, group X25519, ALPN echo, new session, server
  /// certificate CN=localhost issued by CN=Dev CA (verified)`.
  private func summary(of stream: TLSStream) -> String {
    let subject = stream.peerCertificateSubject ?? "none"
    let issuer = stream.peerCertificateIssuer ?? "none"
    let verified =
      server.insecure
      ? "not verified: --insecure; verification: \(stream.verificationResult)" : "verified"
    return [
      stream.protocolVersion, stream.cipher, "group \(stream.negotiatedGroup ?? "none")",
      "ALPN \(stream.alpnProtocol ?? "none")", stream.isResumed ? "resumed session" : "new session",
      "server certificate \(subject) issued by \(issuer) (\(verified))",
    ].joined(separator: ", ")
  }
}
