import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Defects that new users and outside conformance suites found, each pinned by a test.
@Suite("Conformance", .timeLimit(.minutes(1)))
struct ConformanceTests {
  @Test("TLS 1.3: every resumption issues a fresh ticket, so chained resumptions all resume")
  func chainedResumption() async throws {
    let scratch = try TemporaryDirectory("resume-chain")
    defer { scratch.remove() }
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    var previous: URL?
    for index in 0..<3 {
      let session = scratch.file("session-\(index).pem")
      var arguments = ["-tls1_3", "-sess_out", session.path] + verifyWithDevelopmentCA
      if let previous { arguments += ["-sess_in", previous.path] }
      let result = try await runSClient(port: server.port, arguments)
      #expect(result.echoed, "\(result.output)")
      let expected = index == 0 ? "New, TLSv1.3" : "Reused, TLSv1.3"
      #expect(result.output.contains(expected), "connection \(index): \(result.output)")
      // RFC 8446 C.4: a client uses a ticket once; without a new one there is nothing to save.
      #expect(
        FileManager.default.fileExists(atPath: session.path),
        "connection \(index) got no ticket to save")
      previous = session
    }
    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("handshakes_resumed") == 2, "\(statistics.line)")
  }

  /// Runs Tests/Scripts/tls_records.py: `payloads` as one record each, in one TCP write; returns
  /// the plaintext length of each record that came back, and the reply.
  static func records(
    port: UInt16, _ payloads: [String], version: String = "1.3", expect: Int? = nil,
    serverName: String = "localhost"
  ) async throws -> (records: [Int], reply: String, handshakeRecords: [Int]) {
    var arguments = [
      Locations.scripts.appendingPathComponent("tls_records.py").path, "\(port)",
      Locations.caCertificate.path,
    ]
    arguments += payloads + ["--tls", version, "--servername", serverName]
    if let expect { arguments += ["--expect", "\(expect)"] }
    let result = try await runCommand(try Locations.tool("python3"), arguments)
    guard result.termination == .exit(0),
      let object = try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any],
      let records = object["records"] as? [Int], let reply = object["reply"] as? String,
      let handshake = object["handshake_records"] as? [Int]
    else {
      throw TestFailure(
        "tls_records.py: \(result.termination) \(result.stdoutText) \(result.stderr)")
    }
    return (records, reply, handshake)
  }

  @Test(
    "a request split into small records that arrive together is echoed as one record",
    arguments: ["1.2", "1.3"])
  func coalescedEcho(version: String) async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let (records, reply, _) = try await Self.records(
      port: server.port, ["GET /", "HTTP/1.", "0\r\n\r\n"], version: version)
    #expect(reply == "GET /HTTP/1.0\r\n\r\n")
    #expect(records == [17], "echoed in records of \(records) bytes")
  }

  @Test("--mode record: each record comes back as one record of the same length")
  func recordMode() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--mode", "record"])
    defer { server.stop() }
    #expect(server.listeningLine.contains("record"), "\(server.listeningLine)")
    let sizes = [1, 5, 700, 16384, 3]
    let payloads = sizes.enumerated().map { String(repeating: "\($0.offset)", count: $0.element) }
    let (records, reply, _) = try await Self.records(port: server.port, payloads)
    #expect(records == sizes)
    #expect(reply == payloads.joined())
  }

  @Test("--mode record needs TLS: with --plaintext it is a usage error")
  func recordModeNeedsTLS() async throws {
    let result = try await runCommand(
      try Locations.executable("echo-server"), ["--plaintext", "--port", "0", "--mode", "record"])
    #expect(result.termination == .exit(64), "\(result.stderr)")
    #expect(result.stderr.contains("--mode record"), "\(result.stderr)")
  }

  // MARK: OCSP

  /// Starts a server that should refuse `response` at start-up; returns its one error line.
  private func refusedOCSP(_ response: URL) async throws -> String {
    let result = try await runCommand(
      try Locations.executable("echo-server"),
      [
        "--host", "127.0.0.1", "--port", "0", "--cert", Locations.serverCertificate.path,
        "--key", Locations.serverKey.path, "--ocsp-response", response.path,
      ])
    #expect(result.termination == .exit(65), "\(result.termination): \(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains(response.path), "the file is not named: \(line)")
    return line
  }

  @Test("--ocsp-response that is not an OCSP response is refused at start-up, exit 65")
  func ocspNotAResponse() async throws {
    let line = try await refusedOCSP(Locations.repositoryRoot.appendingPathComponent("README.md"))
    #expect(line.contains("not a DER OCSP response"), "\(line)")
  }

  @Test("an OCSP response that is not 'successful' is refused, with its status")
  func ocspNotSuccessful() async throws {
    let scratch = try TemporaryDirectory("ocsp-status")
    defer { scratch.remove() }
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED { tryLater (3) } }
    let tryLater = scratch.file("try-later.der")
    try Data([0x30, 0x03, 0x0A, 0x01, 0x03]).write(to: tryLater)
    let line = try await refusedOCSP(tryLater)
    #expect(line.contains("'trylater', not 'successful'"), "\(line)")
  }

  @Test("an OCSP response for another certificate is refused")
  func ocspOtherCertificate() async throws {
    let scratch = try TemporaryDirectory("ocsp-other")
    defer { scratch.remove() }
    let other = try await CertificateFactory(directory: scratch).makeServerCertificate(
      "other", signedBy: DevelopmentIdentity.ca, names: ["other.test"])
    let response = try await makeOCSPResponse(for: other.certificate, in: scratch)
    let line = try await refusedOCSP(response)
    #expect(line.contains("not for the certificate of --cert"), "\(line)")
  }

  @Test("SIGHUP with a bad --ocsp-response keeps the good one in service, and says why")
  func ocspReloadKeepsGood() async throws {
    let scratch = try TemporaryDirectory("ocsp-reload")
    defer { scratch.remove() }
    let staple = scratch.file("staple.der")
    let good = try await makeOCSPResponse(for: Locations.serverCertificate, in: scratch)
    try FileManager.default.copyItem(at: good, to: staple)
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--ocsp-response", staple.path, "--log-format", "json"])
    defer { server.stop() }
    #expect(
      try server.jsonLog().contains {
        $0.message == "stapling OCSP response"
          && $0.string("ocsp")?.hasPrefix("status good") == true
      }, "\(server.stderrText)")

    try Data("not an OCSP response".utf8).write(to: staple)
    server.child.send(SIGHUP)
    let failed = try await server.waitForJSONRecord(until: Deadline(seconds: 10)) {
      $0.message?.hasPrefix("certificate reload failed") == true
    }
    #expect(
      failed?.string("error")?.contains("not a DER OCSP response") == true, "\(server.stderrText)")
    let result = try await runSClient(port: server.port, ["-status"] + verifyWithDevelopmentCA)
    #expect(result.echoed, "\(result.output)")
    #expect(result.output.contains("Cert Status: good"), "\(result.output)")
  }
}
