import Foundation
import Testing

/// `--scenarios certs/scenarios`: a client asking for `<scenario>.scenario.localhost` gets a
/// certificate issued for that very name, wrong in one way, and a verifying client fails with
/// the reason it should; other names are served as before.
@Suite("certificate scenarios", .timeLimit(.minutes(3)))
struct CertificateScenarioTests {
  static let directory = Locations.certificates.appendingPathComponent("scenarios").path

  static func server(_ extra: [String] = []) async throws -> ServerProcess {
    try await ServerProcess.start(.tls, extraArguments: ["--scenarios", directory] + extra)
  }

  /// The scenario, and the verify error `openssl s_client -verify_return_error` stops at.
  static let cases: [(String, String)] = [
    ("expired", "verify error:num=10:certificate has expired"),
    ("not-yet-valid", "verify error:num=9:certificate is not yet valid"),
    ("wrong-host", "verify error:num=62:hostname mismatch"),
    ("self-signed", "verify error:num=18:self-signed certificate"),
    ("untrusted-root", "verify error:num=19:self-signed certificate in certificate chain"),
    // The leaf alone, without the intermediate that signed it.
    ("incomplete-chain", "verify error:num=20:unable to get local issuer certificate"),
    ("weak-key", "verify error:num=66:EE certificate key too weak"),
  ]

  @Test(
    "s_client fails each scenario with its verify code, alone and behind a fault label",
    arguments: cases)
  func scenario(_ name: String, _ verdict: String) async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    for host in ["\(name).scenario.localhost", "delay-10.\(name).scenario.localhost"] {
      let result = try await runSClient(
        port: server.port,
        verifyWithDevelopmentCA + ["-servername", host, "-verify_hostname", host])
      #expect(!result.echoed, "\(result.output)")
      #expect(result.output.contains(verdict), "\(host): \(result.output)")
    }
    let log = try await server.waitForLines(containing: "connection closed", count: 2)
    #expect(log.allSatisfy { $0.contains("scenario=\(name)") }, "\(log)")
    #expect(log.contains { $0.contains("faults=delay-10") })
  }

  @Test(
    "echo-client fails each scenario with OpenSSL's reason and the scenario's name",
    arguments: cases)
  func echoClientFails(_ name: String, _ verdict: String) async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let result = try await echoClient(server, serverName: "\(name).scenario.localhost")
    #expect(result.termination == .exit(69))
    // `verify error:num=10:certificate has expired` is OpenSSL's text after the number.
    let reason = String(verdict.split(separator: ":").last!)
    #expect(
      result.stderr.contains(
        "certificate verification failed for 127.0.0.1:\(server.port): \(reason)"),
      "\(result.stderr)")
    #expect(result.stderr.contains("(server applied scenario \(name))"), "\(result.stderr)")
    #expect(result.stdout.isEmpty)
  }

  @Test("revoked: a valid chain, and a stapled OCSP response that says revoked")
  func revoked() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let host = "revoked.scenario.localhost"
    let result = try await runSClient(
      port: server.port,
      verifyWithDevelopmentCA + ["-servername", host, "-verify_hostname", host, "-status"])
    #expect(result.output.contains("Cert Status: revoked"), "\(result.output)")
    #expect(result.output.contains("Revocation Reason: keyCompromise"), "\(result.output)")
    #expect(result.output.contains("Verify return code: 0 (ok)"), "the chain itself is fine")
    let client = try await echoClient(server, serverName: host)
    #expect(client.termination == .exit(69))
    #expect(
      client.stderr.contains(
        "certificate revoked (stapled OCSP response, reason: keyCompromise)"), "\(client.stderr)")
    #expect(client.stderr.contains("server applied scenario revoked"), "\(client.stderr)")
  }

  @Test("client-cert-required: refused without a client certificate, served with one")
  func clientCertificateRequired() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let host = "client-cert-required.scenario.localhost"
    let name = ["-servername", host, "-verify_hostname", host]
    let without = try await runSClient(port: server.port, verifyWithDevelopmentCA + name)
    #expect(!without.echoed)
    #expect(without.output.contains("alert certificate required"), "\(without.output)")
    let with = try await runSClient(
      port: server.port,
      // -brief: the session's long dump could run into the echoed line.
      verifyWithDevelopmentCA + name + [
        "-brief", "-cert", DevelopmentIdentity.client.certificate.path,
        "-key", DevelopmentIdentity.client.key.path,
      ])
    #expect(with.echoed, "\(with.output)")
    let client = try await echoClient(server, serverName: host)
    #expect(client.termination != .exit(0))
    #expect(client.stderr.contains("pass --cert and --key"), "\(client.stderr)")
  }

  @Test("no-common-alpn: a client offering ALPN is refused, one without is served")
  func noCommonALPN() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let host = "no-common-alpn.scenario.localhost"
    let name = verifyWithDevelopmentCA + ["-servername", host, "-verify_hostname", host]
    let offering = try await runSClient(port: server.port, name + ["-alpn", "h2,http/1.1"])
    #expect(!offering.echoed)
    #expect(offering.output.contains("alert no application protocol"), "\(offering.output)")
    let plain = try await runSClient(port: server.port, name + ["-brief"])
    #expect(plain.echoed, "\(plain.output)")
  }

  @Test("echo-client says why and what the server applied; ordinary names echo byte-exact")
  func echoClientMessages() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let expired = try await echoClient(server, serverName: "expired.scenario.localhost")
    #expect(expired.termination == .exit(69))
    #expect(expired.stderr.contains("certificate has expired"), "\(expired.stderr)")
    #expect(expired.stderr.contains("(server applied scenario expired)"), "\(expired.stderr)")
    let line = Data("no scenario \(UUID().uuidString)\n".utf8)
    for name in ["localhost", "fault.localhost"] {
      let plain = try await echoClient(server, serverName: name, input: line)
      #expect(plain.termination == .exit(0), "\(plain.stderr)")
      #expect(plain.stdout == line)
      #expect(!plain.stderr.contains("server applied"), "\(plain.stderr)")
    }
    let bad = try await echoClient(server, serverName: "wobbly.scenario.localhost")
    #expect(bad.termination == .exit(69))
    #expect(bad.stderr.contains("unrecognized name"), "\(bad.stderr)")
    let log = try await server.waitForLines(containing: "reason=fault_refused")
    #expect(log[0].contains("no such certificate scenario"), "\(log)")
  }

  @Test("--scenarios names a directory with the scenario CAs, or the server will not start")
  func missingFiles() async throws {
    let scratch = try TemporaryDirectory("scenarios")
    defer { scratch.remove() }
    let result = try await runCommand(
      try Locations.executable("echo-server"), ["--scenarios", scratch.url.path],
      timeoutSeconds: 20)
    #expect(result.termination == .exit(64))
    #expect(result.stderr.contains("lacks issuer-ca.crt"), "\(result.stderr)")
    #expect(result.stderr.contains("make certs"), "\(result.stderr)")
  }

  @Test("a suffix the issuer may not sign for is refused at start, in one line")
  func foreignSuffix() async throws {
    let result = try await runCommand(
      try Locations.executable("echo-server"),
      ["--port", "0", "--scenarios", Self.directory, "--fault-suffix", "fault.example.test"],
      timeoutSeconds: 20)
    #expect(result.termination != .exit(0))
    #expect(result.stderr.contains("names under 'fault.example.test'"), "\(result.stderr)")
    #expect(result.stderr.contains("name constraints"), "\(result.stderr)")
  }

  @Test("an --sni certificate for the same name does not replace the one issued for it")
  func sniOverlap() async throws {
    let name = "delay-10.fault.localhost"
    let server = try await Self.server([
      "--sni",
      "\(name)=\(Locations.serverCertificate.path),\(Locations.serverKey.path)",
    ])
    defer { _ = server.stop() }
    let result = try await echoClient(server, serverName: name)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stderr.contains("server applied faults delay-10"), "\(result.stderr)")
  }

  @Test("the issuer is name-constrained to localhost, and keys are private")
  func issuerFiles() async throws {
    let text = try await runOpenSSL([
      "x509", "-noout", "-ext", "nameConstraints", "-in", "\(Self.directory)/issuer-ca.crt",
    ]).stdoutText
    #expect(text.contains("Permitted:") && text.contains("DNS:localhost"), "\(text)")
    for key in ["issuer-ca.key", "untrusted-root-ca.key"] {
      let mode =
        try FileManager.default.attributesOfItem(atPath: "\(Self.directory)/\(key)")[
          .posixPermissions] as? Int
      #expect(mode == 0o600, "\(key)")
    }
  }

  private func echoClient(
    _ server: ServerProcess, serverName: String, input: Data = Data("hello\n".utf8)
  ) async throws -> CommandResult {
    try await runCommand(
      try Locations.executable("echo-client"),
      ["--host", "127.0.0.1", "--port", "\(server.port)", "--servername", serverName],
      input: .bytes(input))
  }
}
