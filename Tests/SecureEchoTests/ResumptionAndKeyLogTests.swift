import Foundation
import Testing

@Suite("Session resumption, key logging, OCSP stapling", .timeLimit(.minutes(1)))
struct ResumptionAndKeyLogTests {
  /// s_client saves the session (with its ticket) and offers it on the next connection; the
  /// second connection reports `Reused` when the server accepted the ticket.
  private static func resumes(port: UInt16, version: String, in scratch: TemporaryDirectory)
    async throws -> (first: SClientResult, second: SClientResult)
  {
    let session = scratch.file("session-\(version).pem")
    let first = try await runSClient(port: port, [version, "-sess_out", session.path])
    let second = try await runSClient(port: port, [version, "-sess_in", session.path])
    return (first, second)
  }

  @Test(
    "TLS 1.2 and TLS 1.3 sessions resume with tickets, counted apart",
    arguments: ["-tls1_2", "-tls1_3"])
  func resumption(version: String) async throws {
    let scratch = try TemporaryDirectory("resume")
    defer { scratch.remove() }
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    let (first, second) = try await Self.resumes(port: server.port, version: version, in: scratch)
    #expect(first.echoed && second.echoed, "\(first.output)\n\(second.output)")
    #expect(first.output.contains("New, TLSv1."), "\(first.output)")
    #expect(second.output.contains("Reused, TLSv1."), "not resumed: \(second.output)")

    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("handshakes_resumed") == 1, "\(statistics.line)")
    #expect(statistics.integer("handshakes_ok") == 2, "\(statistics.line)")
  }

  @Test("a ticket issued before SIGHUP still resumes after the reload")
  func resumptionAcrossReload() async throws {
    let scratch = try TemporaryDirectory("resume-reload")
    defer { scratch.remove() }
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let session = scratch.file("session.pem")
    let first = try await runSClient(port: server.port, ["-tls1_3", "-sess_out", session.path])
    #expect(first.echoed, "\(first.output)")
    server.child.send(SIGHUP)
    let reloaded = try await server.waitForLogLine(
      containing: "certificate reloaded", until: Deadline(seconds: 10))
    #expect(reloaded, "\(server.stderrText)")
    let second = try await runSClient(port: server.port, ["-tls1_3", "-sess_in", session.path])
    #expect(second.output.contains("Reused, TLSv1.3"), "not resumed after reload: \(second.output)")
  }

  @Test("--no-tickets: every connection is a full handshake")
  func noTickets() async throws {
    let scratch = try TemporaryDirectory("no-tickets")
    defer { scratch.remove() }
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--no-tickets", "--log-format", "json"])
    defer { server.stop() }
    for version in ["-tls1_2", "-tls1_3"] {
      let session = scratch.file("session\(version).pem")
      let first = try await runSClient(port: server.port, [version, "-sess_out", session.path])
      #expect(first.echoed, "\(first.output)")
      #expect(
        !first.output.lowercased().contains("session ticket"), "a ticket was sent: \(first.output)")
      // s_client saves nothing it could resume; if it saved something, it must not resume.
      if FileManager.default.fileExists(atPath: session.path) {
        let second = try await runSClient(port: server.port, [version, "-sess_in", session.path])
        #expect(second.echoed)
        #expect(
          second.output.contains("New, TLSv1."),
          "resumed although tickets are off: \(second.output)")
      }
    }
    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("handshakes_resumed") == 0, "\(statistics.line)")
  }

  @Test("echo-client resumes with --sess-out and --sess-in and says so")
  func clientResumption() async throws {
    let scratch = try TemporaryDirectory("client-resume")
    defer { scratch.remove() }
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let session = scratch.file("session.pem")
    let base = ["--host", "127.0.0.1", "--port", "\(server.port)"]
    let client = try Locations.executable("echo-client")
    let first = try await runCommand(
      client, base + ["--sess-out", session.path], input: .bytes(Data("a".utf8)))
    let second = try await runCommand(
      client, base + ["--sess-in", session.path], input: .bytes(Data("b".utf8)))
    #expect(first.stderr.contains("new session"), "\(first.stderr)")
    #expect(second.stderr.contains("resumed session"), "\(second.stderr)")
    #expect(second.stdout == Data("b".utf8))
  }

  @Test("--keylog writes the TLS 1.3 secrets Wireshark needs, for the right client random")
  func keyLog() async throws {
    let scratch = try TemporaryDirectory("keylog")
    defer { scratch.remove() }
    let serverKeys = scratch.file("server.keys")
    let clientKeys = scratch.file("client.keys")
    let server = try await ServerProcess.start(.tls, extraArguments: ["--keylog", serverKeys.path])
    defer { server.stop() }
    #expect(server.stderrText.contains("key log"), "no start-up warning: \(server.stderrText)")

    let result = try await runSClient(
      port: server.port, ["-tls1_3", "-keylogfile", clientKeys.path])
    #expect(result.echoed)
    // s_client's own key log names the client random of this connection; the server's file
    // must hold the same secrets for it, under the labels Wireshark reads.
    let labels = [
      "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
      "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET",
    ]
    let client = Self.keyLogLines(try String(contentsOf: clientKeys, encoding: .utf8))
    let logged = Self.keyLogLines(try String(contentsOf: serverKeys, encoding: .utf8))
    for label in labels {
      let expected = try #require(client.first { $0.label == label }, "s_client logged no \(label)")
      #expect(expected.random.count == 64)
      #expect(logged.contains(expected), "server key log lacks \(label) for \(expected.random)")
    }
    let attributes = try FileManager.default.attributesOfItem(atPath: serverKeys.path)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
  }

  @Test("echo-client honours SSLKEYLOGFILE")
  func clientKeyLogEnvironment() async throws {
    let scratch = try TemporaryDirectory("keylog-env")
    defer { scratch.remove() }
    let keys = scratch.file("client.keys")
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let result = try await runCommand(
      URL(fileURLWithPath: "/usr/bin/env"),
      [
        "SSLKEYLOGFILE=\(keys.path)", try Locations.executable("echo-client").path,
        "--host", "127.0.0.1", "--port", "\(server.port)",
      ],
      input: .bytes(Data("k".utf8)))
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let lines = Self.keyLogLines(try String(contentsOf: keys, encoding: .utf8))
    #expect(lines.contains { $0.label == "CLIENT_TRAFFIC_SECRET_0" }, "\(lines)")
  }

  @Test("--ocsp-response is stapled for clients that ask")
  func ocspStapling() async throws {
    let scratch = try TemporaryDirectory("ocsp")
    defer { scratch.remove() }
    let response = try await makeOCSPResponse(for: Locations.serverCertificate, in: scratch)
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--ocsp-response", response.path])
    defer { server.stop() }
    let result = try await runSClient(port: server.port, ["-status"] + verifyWithDevelopmentCA)
    #expect(result.echoed, "\(result.output)")
    #expect(result.output.contains("OCSP Response Status: successful"), "\(result.output)")
    #expect(result.output.contains("Cert Status: good"), "\(result.output)")
  }

  struct KeyLogLine: Equatable {
    var label: String
    var random: String
    var secret: String
  }

  static func keyLogLines(_ text: String) -> [KeyLogLine] {
    text.split(separator: "\n").compactMap { line in
      let fields = line.split(separator: " ").map(String.init)
      return fields.count == 3
        ? KeyLogLine(label: fields[0], random: fields[1], secret: fields[2]) : nil
    }
  }
}
