import Foundation
import Testing

/// The whole point of the defaults: an external scanner judges them against Mozilla's
/// server-side TLS guidelines. sslyze comes from PyPI; `.ci/run` installs it.
@Suite("Mozilla compliance, judged by sslyze", .timeLimit(.minutes(2)))
struct ScannerComplianceTests {
  static let sslyze: URL? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map {
      URL(fileURLWithPath: String($0)).appendingPathComponent("sslyze")
    }
    .first { FileManager.default.isExecutableFile(atPath: $0.path) }
  }()

  @Test(
    "the default profile is Mozilla-intermediate compliant, and modern is modern",
    .enabled(if: sslyze != nil, "sslyze is not installed (pip install sslyze)"),
    arguments: ["intermediate", "modern"])
  func compliance(profile: String) async throws {
    let sslyze = try #require(Self.sslyze)
    // Mozilla's guidelines also judge the certificate: a lifespan under 366 days and a chain
    // that validates, which sslyze checks against the CA given to it.
    let scratch = try TemporaryDirectory("sslyze")
    defer { scratch.remove() }
    let factory = CertificateFactory(directory: scratch)
    let ca = try await factory.makeCA("Scanner CA")
    let leaf = try await factory.makeServerCertificate(
      "scanned", signedBy: ca, names: ["localhost", "127.0.0.1"])
    let arguments = profile == "modern" ? ["--tls-profile", "modern"] : []
    let server = try await ServerProcess.start(
      .tls, certificate: leaf.certificate, key: leaf.key, extraArguments: arguments)
    defer { server.stop() }

    let result = try await runCommand(
      sslyze,
      [
        "--mozilla_config=\(profile)", "--certinfo_ca_file", ca.certificate.path,
        "127.0.0.1:\(server.port)",
      ],
      timeoutSeconds: 100)
    #expect(result.stdoutText.contains("OK - Compliant"), "\(result.stdoutText)\n\(result.stderr)")
    #expect(result.termination == .exit(0), "\(result.stdoutText)")
  }
}
