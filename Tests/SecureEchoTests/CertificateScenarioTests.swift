import Foundation
import Testing

/// `--scenarios certs/scenarios`: each `<scenario>.scenario.localhost` gets a certificate wrong
/// in one way, and a verifying client fails with the reason it should; other names are served
/// as before.
@Suite("certificate scenarios", .timeLimit(.minutes(2)))
struct CertificateScenarioTests {
  static let directory = Locations.certificates.appendingPathComponent("scenarios").path

  /// The scenario, and the verify error `openssl s_client -verify_return_error` stops at.
  static let cases: [(String, String)] = [
    ("expired", "verify error:num=10:certificate has expired"),
    ("not-yet-valid", "verify error:num=9:certificate is not yet valid"),
    ("wrong-host", "verify error:num=62:hostname mismatch"),
    ("self-signed", "verify error:num=18:self-signed certificate"),
    ("untrusted-root", "verify error:num=19:self-signed certificate in certificate chain"),
    // The leaf alone, without the intermediate that signed it.
    ("incomplete-chain", "verify error:num=20:unable to get local issuer certificate"),
  ]

  @Test("s_client fails each scenario with its verify code", arguments: cases)
  func scenario(_ name: String, _ verdict: String) async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--scenarios", Self.directory])
    defer { _ = server.stop() }
    let host = "\(name).scenario.localhost"
    let result = try await runSClient(
      port: server.port,
      verifyWithDevelopmentCA + ["-servername", host, "-verify_hostname", host])
    #expect(!result.echoed, "\(result.output)")
    #expect(result.output.contains(verdict), "\(result.output)")
  }

  @Test("echo-client says why, and an ordinary name is served byte-exact by the same server")
  func echoClient() async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--scenarios", Self.directory])
    defer { _ = server.stop() }
    let client = try Locations.executable("echo-client")
    let common = ["--host", "127.0.0.1", "--port", "\(server.port)"]
    let expired = try await runCommand(
      client, common + ["--servername", "expired.scenario.localhost"],
      input: .bytes(Data("hello\n".utf8)))
    #expect(expired.termination != .exit(0))
    #expect(expired.stderr.contains("certificate has expired"), "\(expired.stderr)")
    let line = Data("no scenario \(UUID().uuidString)\n".utf8)
    let plain = try await runCommand(
      client, common + ["--servername", "localhost"], input: .bytes(line))
    #expect(plain.termination == .exit(0), "\(plain.stderr)")
    #expect(plain.stdout == line)
  }

  @Test("--scenarios names a directory with every scenario's files, or the server will not start")
  func missingFiles() async throws {
    let scratch = try TemporaryDirectory("scenarios")
    defer { scratch.remove() }
    let result = try await runCommand(
      try Locations.executable("echo-server"), ["--scenarios", scratch.url.path],
      timeoutSeconds: 20)
    #expect(result.termination == .exit(64))
    #expect(result.stderr.contains("lacks expired.crt/.key"), "\(result.stderr)")
    #expect(result.stderr.contains("make certs"), "\(result.stderr)")
  }
}
