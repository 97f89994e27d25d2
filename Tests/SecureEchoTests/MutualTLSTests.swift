import Foundation
import Testing

/// Client certificates: `--client-ca` with `--verify-client required|optional`.
@Suite("Mutual TLS", .timeLimit(.minutes(1)))
struct MutualTLSTests {
  private static func clientCertificate(_ identity: Identity) -> [String] {
    ["-cert", identity.certificate.path, "-key", identity.key.path]
  }

  private static func startServer(_ verification: String) async throws -> ServerProcess {
    try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--client-ca", Locations.caCertificate.path, "--verify-client", verification,
      ])
  }

  @Test("required: no certificate fails, the development client certificate is served and logged")
  func required() async throws {
    let server = try await Self.startServer("required")
    defer { server.stop() }

    let anonymous = try await runSClient(port: server.port, ["-brief"] + verifyWithDevelopmentCA)
    #expect(!anonymous.echoed, "served without a client certificate: \(anonymous.output)")

    let withCertificate = try await runSClient(
      port: server.port,
      ["-brief"] + verifyWithDevelopmentCA + Self.clientCertificate(DevelopmentIdentity.client))
    #expect(withCertificate.echoed, "\(withCertificate.output)")
    _ = try await server.waitForLogLine(containing: "client_subject=", until: Deadline(seconds: 10))
    let log = server.stderrText
    #expect(log.contains("client_subject=\"CN=secureecho-client"), "\(log)")
  }

  @Test("required: a certificate from another CA fails")
  func foreignCertificate() async throws {
    let scratch = try TemporaryDirectory("mtls")
    defer { scratch.remove() }
    let factory = CertificateFactory(directory: scratch)
    let otherCA = try await factory.makeCA("Other CA")
    let stranger = try await factory.makeClientCertificate("stranger", signedBy: otherCA)

    let server = try await Self.startServer("required")
    defer { server.stop() }
    let result = try await runSClient(
      port: server.port, ["-brief"] + verifyWithDevelopmentCA + Self.clientCertificate(stranger))
    #expect(!result.echoed, "served with a certificate from another CA: \(result.output)")
    _ = try await server.waitForLogLine(
      containing: "handshake_failed", until: Deadline(seconds: 10))
    let log = server.stderrText
    #expect(log.contains("certificate"), "\(log)")
  }

  @Test("optional: served with and without a certificate")
  func optional() async throws {
    let server = try await Self.startServer("optional")
    defer { server.stop() }
    let anonymous = try await runSClient(port: server.port, ["-brief"] + verifyWithDevelopmentCA)
    #expect(anonymous.echoed, "\(anonymous.output)")
    let withCertificate = try await runSClient(
      port: server.port,
      ["-brief"] + verifyWithDevelopmentCA + Self.clientCertificate(DevelopmentIdentity.client))
    #expect(withCertificate.echoed, "\(withCertificate.output)")
    _ = try await server.waitForLogLine(containing: "client_subject=", until: Deadline(seconds: 10))
    let log = server.stderrText
    #expect(log.contains("CN=secureecho-client"), "\(log)")
  }

  @Test("echo-client presents --cert and --key")
  func echoClientCertificate() async throws {
    let server = try await Self.startServer("required")
    defer { server.stop() }
    let payload = Data("mutual\n".utf8)
    let client = DevelopmentIdentity.client
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--port", "\(server.port)", "--cafile", Locations.caCertificate.path,
        "--cert", client.certificate.path, "--key", client.key.path,
      ],
      input: .bytes(payload))
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == payload)
  }

  @Test("--verify-client without --client-ca is a usage error")
  func missingClientCA() async throws {
    let result = try await runCommand(
      try Locations.executable("echo-server"), ["--port", "0", "--verify-client", "required"])
    #expect(result.termination == .exit(64))
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains("--client-ca"), "\(line)")
  }
}
