import Foundation
import Sockets
import TLS
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `echo-server --dtls`: DTLS 1.2 on the same loops, each record's payload back as one record,
/// no state for a client before its cookie comes back, many peers, idle peers closed.
@Suite("DTLS echo", .timeLimit(.minutes(3)))
struct DTLSEchoTests {
  static func server(_ extra: [String] = []) async throws -> ServerProcess {
    try await ServerProcess.start(.tls, extraArguments: ["--dtls", "--log-format", "json"] + extra)
  }

  static func echoClient(port: UInt16, _ extra: [String] = [], input: Data) async throws
    -> CommandResult
  {
    try await runCommand(
      try Locations.executable("echo-client"),
      ["--dtls", "--host", "127.0.0.1", "--port", "\(port)", "--servername", "localhost"] + extra,
      input: .bytes(input))
  }

  @Test("openssl s_client -dtls1_2 gets its line back, and verifies the certificate")
  func sClient() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    #expect(server.listeningLine.contains("(DTLS, echo"), "\(server.listeningLine)")
    let result = try await runSClient(
      port: server.port, ["-dtls1_2", "-brief"] + verifyWithDevelopmentCA)
    #expect(result.echoed, "\(result.output)")
    #expect(result.output.contains("Protocol version: DTLSv1.2"), "\(result.output)")
  }

  @Test(
    "GnuTLS's DTLS client: its line back, a resumed session, and DTLS 1.0 refused",
    .enabled(if: Locations.canRun(with: "gnutls-cli")))
  func gnutls() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let gnutls = try Locations.tool("gnutls-cli")
    let common = [
      "--udp", "--x509cafile", Locations.caCertificate.path, "-p", "\(server.port)", "127.0.0.1",
    ]
    let full = try await runLineClient(gnutls, common, send: "gnutls \(UUID().uuidString)")
    #expect(full.echoed, "\(full.output)")
    #expect(full.output.contains("The certificate is trusted"), "\(full.output)")
    #expect(full.output.contains("(DTLS1.2-X.509)"), "\(full.output)")
    #expect(full.termination == .exit(0), "\(full.output)")

    let resumed = try await runLineClient(
      gnutls, ["--resume"] + common, send: "gnutls resumed \(UUID().uuidString)")
    #expect(resumed.echoed, "\(resumed.output)")
    #expect(resumed.output.contains("This is a resumed session"), "\(resumed.output)")

    let old = try await runLineClient(
      gnutls, ["--priority", "NORMAL:-VERS-ALL:+VERS-DTLS1.0"] + common, send: "dtls 1.0")
    #expect(!old.echoed, "\(old.output)")
    #expect(old.output.contains("Received alert [70]"), "protocol_version: \(old.output)")
    #expect(old.termination != .exit(0), "\(old.output)")
  }

  @Test("echo-client --dtls: a byte-exact pipe, one record per datagram")
  func echoClient() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let input = try Payload.random(count: 50_000)
    let result = try await Self.echoClient(
      port: server.port, ["--datagram-size", "1200"], input: input)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == input)
    #expect(result.stderr.contains("DTLSv1.2"), "\(result.stderr)")
    #expect(result.stderr.contains("42 datagrams sent, 42 echoed, 0 lost"), "\(result.stderr)")
    let closed = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    #expect(closed?.string("reason") == "client_closed", "close_notify ends it at once")
    #expect(closed?.string("transport") == "dtls")
  }

  @Test("no state before the cookie: 20,000 ClientHellos that never return it cost nothing")
  func cookieFirst() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let (port, pid) = (server.port, server.pid)
    let hello = try await Self.clientHello()
    let before = try server.residentMemoryBytes()
    let verifyRequest = try await runBlocking {
      let senders = try (0..<8).map { _ in try connectUDP(port: port) }
      for index in 0..<20_000 { try? senders[index % senders.count].sendDatagram(hello) }
      return try senders[0].receiveDatagram(withinMilliseconds: 5000)
    }
    // A DTLS record (13-byte header) holding a handshake message of type 3.
    let reply = try #require(verifyRequest)
    #expect(reply.count > 13 && reply[reply.startIndex] == 22 && reply[reply.startIndex + 13] == 3)
    #expect(reply.count <= hello.count, "an answer never larger than what asked for it")
    // (A reply can reach the client before its loop counts it.)
    let statistics = try await server.settledStatistics {
      ($0.integer("dtls_cookies_sent") ?? 0) > 0
    }
    #expect(statistics.integer("accepted") == 0, "\(statistics.line)")
    #expect(statistics.integer("active") == 0)
    // Each answered (those the socket's queue held): at most one answer per ClientHello.
    let answered = statistics.integer("dtls_cookies_sent") ?? 0
    #expect(answered > 0 && answered <= 20_000, "\(statistics.line)")
    // (A sanitizer's shadow memory and quarantine make RSS say nothing of the server's own.)
    if !Sanitizer.isActive {
      let growth = try ServerProcess.residentMemoryBytes(pid: pid) - before
      #expect(growth < 4 << 20, "VmRSS grew by \(growth >> 10) KiB")
    }
    // And a real client, which returns its cookie, is served.
    let line = Data("after the flood\n".utf8)
    let client = try await Self.echoClient(port: port, input: line)
    #expect(client.stdout == line, "\(client.stderr)")
  }

  /// The first datagram `openssl s_client -dtls1_2` sends: its ClientHello, without a cookie.
  static func clientHello() async throws -> Data {
    let catcher = try Socket.datagramListening(
      on: SocketAddress(numericHost: "127.0.0.1", port: 0)!, packetInfo: false)
    let port = try catcher.localAddress().port
    // Its stdin stays open (a pipe nobody writes), so it waits for an answer that never comes.
    let client = try ChildProcess(
      try Locations.openssl(), ["s_client", "-dtls1_2", "-connect", "127.0.0.1:\(port)"],
      stdin: Pipe())
    defer { client.stop() }
    let held = Handoff(catcher)
    let datagram = try await runBlocking {
      try held.value.receiveDatagram(withinMilliseconds: 10_000)
    }
    return try #require(datagram, "s_client sent nothing")
  }

  @Test("100 peers at once on two threads, each echo checked")
  func manyPeers() async throws {
    // The idle timeout: a peer whose close_notify were lost still closes within the wait for
    // the close lines below, and none while the others are still shaking hands.
    let server = try await Self.server(["--threads", "2", "--idle-timeout", "15"])
    defer { _ = server.stop() }
    let threads = try server.threadCount()
    let port = server.port
    let finished = ThreadLock(false)
    let bench = Task {
      defer { finished.withLock { $0 = true } }
      return try await runCommand(
        try Locations.executable("echo-client"),
        [
          "bench", "latency", "--dtls", "--host", "127.0.0.1", "--port", "\(port)",
          "--servername", "localhost", "--connections", "100", "--duration", "2", "--json",
        ], timeoutSeconds: 60)
    }
    var most = threads
    while !finished.withLock({ $0 }) {
      most = max(most, try server.threadCount())
      try await Task.sleep(for: .milliseconds(20))
    }
    let result = try await bench.value
    #expect(most == threads, "no thread per peer: \(most) threads at most, \(threads) at start")
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let json = try #require(
      try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    #expect(json["errors"] as? Int == 0, "\(json)")
    #expect(json["handshakes"] as? Int == 100)
    #expect((json["round_trips"] as? Int ?? 0) > 100)
    #expect(json["transport"] as? String == "dtls")
    // At once on the server too: every connection opened before the first one closed. (From
    // the close lines, not by sampling the active count: a loaded machine may miss a window.)
    var closes: [LogRecord] = []
    _ = try await Deadline(seconds: 20).poll {
      closes = try server.jsonLog().filter { $0.message == "connection closed" }
      return closes.count >= 100
    }
    #expect(closes.count == 100)
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let spans = try closes.map { close in
      let end = try #require(formatter.date(from: close.string("time") ?? ""), "\(close.line)")
      let duration = Double(try #require(close.integer("duration_ms"), "\(close.line)")) / 1000
      return (opened: end.addingTimeInterval(-duration), closed: end)
    }
    let lastOpened = try #require(spans.map(\.opened).max())
    let firstClosed = try #require(spans.map(\.closed).min())
    #expect(lastOpened < firstClosed, "the last peer opened after the first one closed")
  }

  @Test("an idle peer is closed, with close_notify")
  func idlePeer() async throws {
    let server = try await Self.server(["--idle-timeout", "1"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      var configuration = TLSConfiguration.client(trustedCAFile: Locations.caCertificate.path)
      configuration.datagram = true
      let context = try TLSContext(configuration, role: .client)
      let address = SocketAddress(numericHost: "127.0.0.1", port: port)!
      let socket = try Socket.connectedClient(to: address)
      try socket.setNonBlocking(true)
      let stream = try TLSStream(
        datagramSocket: socket, context: context, peer: address, serverName: "localhost")
      let deadline = Deadline(seconds: 20)
      // Before the handshake: the server's idle time starts at its end, later.
      let start = ContinuousClock.now
      while case .wantRead = try stream.handshake() {
        guard !deadline.hasPassed else { throw TestFailure("no DTLS handshake") }
        if try !socket.waitUntil(writable: false, timeoutMilliseconds: 100),
          stream.retransmissionDue == 0
        {
          try stream.retransmit()
        }
      }
      var buffer = [UInt8](repeating: 0, count: 100)
      while true {
        guard !deadline.hasPassed else { throw TestFailure("the idle peer was never closed") }
        _ = try socket.waitUntil(writable: false, timeoutMilliseconds: 500)
        let step = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
        if case .closed = step { break }
      }
      #expect(milliseconds(since: start) >= 1000)
    }
    let closed = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    #expect(closed?.string("reason") == "idle_timeout")
  }
}
