import ArgumentParser
import CommandLineSupport
import LoadGenerator
import ProxyProtocol
import Sockets
import StreamServices
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

      Otherwise pipe mode: all of stdin is sent and exactly the bytes that come back are written \
      to stdout; once the whole echo is back (or --reply-timeout passes), the sending side is \
      closed. The exit status is non-zero if the reply is not what the server's --mode promises \
      (an echo: as many bytes as were sent); a server that closes without close_notify after a \
      complete echo is only a warning.

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

  @Flag(
    help: """
      Ask the server for its handshake report (by the server name report.NAME, so nothing else \
      the client offers changes) and print it instead of a session.
      """)
  var report = false

  /// Not `--json`: the parent's options are parsed after the subcommand's name too, so that
  /// name would take `bench --json` away from bench.
  @Flag(help: "Like --report, but print the server's JSON line as it came.")
  var reportJson = false

  @Option(
    help: """
      Pipe mode: seconds to wait, once all input is sent, for the rest of the echo before \
      ending our side anyway.
      """)
  var replyTimeout: Double = 10

  @OptionGroup
  var service: ServiceModeOption

  @Option(
    help: """
      --udp, --dtls pipe mode: bytes of input per datagram (1 to 65507; with --dtls at most \
      16384, a record's worth).
      """)
  var datagramSize = 1024

  @Option(help: "--udp, --dtls: seconds to wait for each datagram's echo before counting it lost.")
  var datagramTimeout: Double = 2

  func validate() throws {
    if (report || reportJson) && (server.plaintext || interactive || sessOut != nil) {
      throw ValidationError(
        "--report asks a TLS server for a report; it does not go with "
          + (server.plaintext ? "--plaintext" : interactive ? "--interactive" : "--sess-out"))
    }
    try RangeCheck.requirePositive("--reply-timeout", replyTimeout, atMost: 3600, unit: " seconds")
    try RangeCheck.requirePositive(
      "--datagram-timeout", datagramTimeout, atMost: 3600, unit: " seconds")
    try RangeCheck.require(
      "--datagram-size", datagramSize, in: 1...(server.dtls ? 16_384 : Socket.maximumDatagram))
    if server.isDatagram {
      let given = [
        ("--report", report || reportJson), ("--sess-in", sessIn != nil),
        ("--sess-out", sessOut != nil), ("--mode", service.mode != .echo),
      ].filter(\.1).map(\.0)
      if let option = given.first {
        throw ValidationError("\(option) does not apply to \(server.udp ? "--udp" : "--dtls")")
      }
    }
    if server.plaintext && (sessIn != nil || sessOut != nil) {
      throw ValidationError("--sess-in and --sess-out do not apply to --plaintext")
    }
    if server.plaintext && service.mode.needsTLS {
      throw ValidationError(
        "--mode \(service.mode.rawValue) is a TLS mode; it does not apply to --plaintext")
    }
  }

  func run() throws {
    ProcessSignals.prepare()
    do throws(ClientFailure) {
      if server.isDatagram {
        let session = DatagramSession(
          link: try connectDatagrams(), size: datagramSize,
          timeoutMilliseconds: Int32((datagramTimeout * 1000).rounded()))
        if interactive || StandardIO.isTerminal(StandardIO.input) {
          try session.interactive()
        } else {
          try session.pipe()
        }
        return
      }
      let transport = try connect()
      if report || reportJson {
        try ReportSession.run(transport, json: reportJson)
        return
      }
      if interactive || StandardIO.isTerminal(StandardIO.input) {
        try InteractiveSession(transport: transport).run()
      } else {
        try PipeSession(
          transport: transport, mode: service.mode,
          replyTimeoutMilliseconds: Int32((replyTimeout * 1000).rounded())
        ).run()
      }
      // Over TLS 1.3 the ticket comes after the handshake, so the session is saved last.
      if let sessOut, let stream = transport.tlsStream {
        guard let session = stream.resumableSession() else {
          // A script that asked for a session must not go on as if it had one.
          throw ClientFailure(
            "--sess-out '\(sessOut)' not written: the server issued no session ticket "
              + "(is it running with --no-tickets?)", status: .failure)
        }
        do {
          try session.save(to: sessOut)
        } catch {
          throw ClientFailure(error.description, status: .cannotCreate)
        }
      }
    } catch {
      throw error.report()
    }
  }

  private func connect() throws(ClientFailure) -> Transport {
    let target = server.target
    let addresses = try server.addresses()
    let socket: Socket
    do {
      socket = try Socket.connect(
        to: addresses, timeoutMilliseconds: server.connectTimeoutMilliseconds)
      try socket.setNoDelay()
    } catch {
      let hint =
        error.code == ETIMEDOUT
        ? " (--connect-timeout)"
        : error.code == ECONNREFUSED
          ? " (is the server running on that port? echo-server listens on 4433 for TLS, 8080 "
            + "with --plaintext)" : ""
      throw ClientFailure(error.description + hint, status: error.exitStatus)
    }
    if let proxyHeader = server.proxyHeader {
      try sendProxyHeader(proxyHeader.version, on: socket, target: target)
    }
    guard let context = try server.tlsContext(session: true) else {
      StandardIO.printError("echo-client: connected to \(target) (plaintext)")
      return .plain(socket)
    }
    let stream: TLSStream
    do {
      stream = try TLSStream(
        socket: socket, context: context,
        serverName: report || reportJson
          ? TLSContext.reportPrefix + server.serverName : server.serverName)
      if let sessIn { stream.offer(try TLSSession(contentsOf: sessIn)) }
    } catch {
      throw ClientFailure(error.description, status: error.exitStatus)
    }
    try ClientHandshake.run(
      stream, target: target, timeoutMilliseconds: server.handshakeTimeoutMilliseconds)
    StandardIO.printError("echo-client: connected to \(target): \(summary(of: stream))")
    return .tls(stream)
  }

  /// `--udp`, `--dtls`: a UDP socket connected to the server's first address (and a DTLS
  /// handshake over it).
  private func connectDatagrams() throws(ClientFailure) -> DatagramLink {
    let target = server.target
    guard let address = try server.addresses().first else {
      throw ClientFailure("\(target): no address", status: .unavailable)
    }
    let socket: Socket
    do { socket = try Socket.connectedClient(to: address) } catch {
      throw ClientFailure(error.description, status: error.exitStatus)
    }
    guard let context = try server.tlsContext(session: true) else {
      StandardIO.printError("echo-client: sending datagrams to \(target) (UDP)")
      return .udp(socket)
    }
    let stream: TLSStream
    do {
      stream = try TLSStream(
        datagramSocket: socket, context: context, peer: address, serverName: server.serverName)
    } catch {
      throw ClientFailure(error.description, status: error.exitStatus)
    }
    try ClientHandshake.run(
      stream, target: target, timeoutMilliseconds: server.handshakeTimeoutMilliseconds)
    StandardIO.printError("echo-client: connected to \(target): \(summary(of: stream))")
    return .dtls(stream)
  }

  /// `--proxy-header`: the header first, on the blocking socket, before any TLS byte.
  private func sendProxyHeader(
    _ version: ProxyVersion, on socket: Socket, target: String
  ) throws(ClientFailure) {
    do {
      let header = try ProxyPreamble.bytes(version, for: socket)
      try header.withUnsafeBytes { try socket.writeAll($0) }
      StandardIO.printError(
        "echo-client: sent a PROXY \(version == .v1 ? "v1" : "v2") header: "
          + "\(try socket.localAddress()) -> \(try socket.peerAddress())")
    } catch {
      // (Array.withUnsafeBytes forgets the error's type; a SocketError is all it can be.)
      throw ClientFailure(
        "sending the PROXY header to \(target): \(error)",
        status: (error as? SocketError)?.exitStatus ?? .ioError)
    }
  }

  /// `TLSv1.3, TLS_AES_128_GCM_SHA256, group X25519, ALPN echo, new session, server
  /// certificate CN=localhost issued by CN=Dev CA (verified)`.
  private func summary(of stream: TLSStream) -> String {
    let subject = stream.peerCertificateSubject ?? "none"
    let issuer = stream.peerCertificateIssuer ?? "none"
    // With --insecure nothing was checked, so OpenSSL's verdict (made without the trust
    // store) would only mislead.
    let verified = server.insecure ? "not verified: --insecure" : "verified"
    var parts = [
      stream.protocolVersion, stream.cipher, "group \(stream.negotiatedGroup ?? "none")",
      "ALPN \(stream.alpnProtocol ?? "none")", stream.isResumed ? "resumed session" : "new session",
      "server certificate \(subject) issued by \(issuer) (\(verified))",
    ]
    // What a SecureEcho server says it does to this connection on purpose.
    if let applied = ServerAnnouncement(stream.serverAnnouncement) { parts.append(applied.summary) }
    return parts.joined(separator: ", ")
  }
}

/// `--mode`: what the server does. Shared by the session and `bench` (one option group, so
/// that `echo-client bench ... --mode source` reaches the subcommand).
struct ServiceModeOption: ParsableArguments {
  @Option(
    help: """
      What the server does (its --mode). Pipe mode checks the reply by it: echo, record and \
      reverse answer as many bytes as were sent; sink answers one line with the count, which \
      must match; discard, chargen and source are not checked. bench throughput takes echo, \
      source (the client only reads, checking the source pattern) or sink (the client only \
      writes; each server report must count what was sent).
      """)
  var mode: ServiceMode = .echo
}
