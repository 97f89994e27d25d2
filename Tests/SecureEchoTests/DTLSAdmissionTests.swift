import Foundation
import Testing

/// `echo-server --dtls` on the way in: lost flights sent again (by the client's timer and by
/// the server's own), a ClientHello that arrives twice, and a client of a wildcard listener
/// answered from the address it wrote to.
@Suite("DTLS admission", .timeLimit(.minutes(3)))
struct DTLSAdmissionTests {
  /// `lossy_relay.py` between one client and the server: its port, and what it reports.
  struct Relay {
    let process: ChildProcess
    let port: UInt16
    var report: PipeReader

    init(to serverPort: UInt16, _ options: [String]) async throws {
      let (output, errors) = (Pipe(), Pipe())
      process = try ChildProcess(
        try Locations.tool("python3"),
        [Locations.scripts.appendingPathComponent("lossy_relay.py").path, "\(serverPort)"]
          + options + ["--seconds", "60"], stdin: Pipe(), stdout: output, stderr: errors)
      var reader = PipeReader(output)
      _ = try await reader.read(until: Deadline(seconds: 10)) { $0.contains("\n") }
      guard let port = UInt16(reader.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        _ = process.stop()
        throw TestFailure("the relay gave no port: \(reader.text)")
      }
      self.port = port
      report = PipeReader(errors)
    }
  }

  @Test("a lost flight is sent again: the handshake completes through a relay that drops one")
  func retransmission() async throws {
    let server = try await DTLSEchoTests.server()
    defer { _ = server.stop() }
    // The server's second datagram is the first of its ServerHello flight (the first is the
    // HelloVerifyRequest): dropped once, it must come again.
    var relay = try await Relay(to: server.port, ["--drop-server", "2"])
    defer { _ = relay.process.stop() }
    let line = Data("through a lossy path\n".utf8)
    let result = try await DTLSEchoTests.echoClient(port: relay.port, input: line)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == line)
    relay.report.readAvailable()
    #expect(relay.report.text.contains("dropped server 2"), "\(relay.report.text)")
  }

  @Test("the server sends its lost flight again on its own timer, the client silent")
  func serverTimer() async throws {
    let server = try await DTLSEchoTests.server()
    defer { _ = server.stop() }
    // Its ServerHello lost, and nothing of the client's after its two ClientHellos: only the
    // server's retransmission timer can bring the ServerHello (handshake type 2) back.
    var relay = try await Relay(
      to: server.port, ["--drop-server", "2", "--drop-client-after", "2"])
    defer { _ = relay.process.stop() }
    let relayPort = relay.port
    let client = Task {
      try await DTLSEchoTests.echoClient(
        port: relayPort, ["--handshake-timeout", "4"], input: Data("never echoed\n".utf8))
    }
    let resent = try await relay.report.read(until: Deadline(seconds: 15)) {
      $0.contains("dropped server 2") && $0.contains("handshake 2)")
    }
    #expect(resent, "no ServerHello after the lost one: \(relay.report.text)")
    _ = try await client.value
  }

  @Test("a ClientHello that comes twice with its cookie never gives its client a second socket")
  func duplicateHello() async throws {
    let server = try await DTLSEchoTests.server(["--log-level", "debug"])
    defer { _ = server.stop() }
    // The client's second datagram is its ClientHello with the cookie.
    let relay = try await Relay(to: server.port, ["--duplicate-client", "2"])
    defer { _ = relay.process.stop() }
    let line = Data("admitted once\n".utf8)
    let result = try await DTLSEchoTests.echoClient(port: relay.port, input: line)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == line)
    _ = try await server.settledStatistics { $0.integer("closed_client_closed") == 1 }
    // Usually the copy is dropped (`dtls_datagrams_dropped`), or discarded from the new
    // socket. A copy that waits in the other loop's socket until the client has gone (a
    // loaded machine) is a new client to the server, its cookie still valid: admitted after
    // the close, it is a handshake that times out. Never while the first is open.
    let log = try server.jsonLog().filter { $0.string("transport") == "dtls" }
    let admissions = log.indices.filter { log[$0].message == "accepted" }
    let firstClose = try #require(
      log.firstIndex { $0.message == "connection closed" }, "\(server.stderrText)")
    try #require(!admissions.isEmpty, "\(server.stderrText)")
    #expect(admissions[0] < firstClose)
    #expect(
      admissions.dropFirst().allSatisfy { $0 > firstClose },
      "admitted again while open: \(log.map(\.line))")
  }

  @Test("on a wildcard address, a client of 127.0.0.2 is answered from 127.0.0.2")
  func wildcard() async throws {
    let server = try await ServerProcess.start(
      .tls, listen: ["0.0.0.0:0"], extraArguments: ["--dtls", "--log-format", "json"])
    defer { _ = server.stop() }
    // The client's socket is connected to 127.0.0.2: a reply from 127.0.0.1 never reaches it.
    let line = Data("from the address I wrote to\n".utf8)
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--dtls", "--host", "127.0.0.2", "--port", "\(server.port)", "--servername", "localhost",
        "--handshake-timeout", "5",
      ], input: .bytes(line))
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == line)
  }
}
