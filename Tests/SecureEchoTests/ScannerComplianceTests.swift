import Foundation
import Testing

/// The whole point of the defaults: an external scanner judges them against Mozilla's
/// server-side TLS guidelines. sslyze comes from PyPI; `.ci/run` installs it.
@Suite("Mozilla compliance, judged by sslyze", .timeLimit(.minutes(2)))
struct ScannerComplianceTests {
  @Test(
    "the development certificates are Mozilla-intermediate compliant by default, modern with --tls-profile modern",
    .enabled(if: Locations.canRun(with: "sslyze"), "sslyze is not installed (pip install sslyze)"),
    arguments: ["intermediate", "modern"])
  func compliance(profile: String) async throws {
    let sslyze = try Locations.tool("sslyze")
    // Mozilla's guidelines also judge the certificate (modern: a lifespan of 90 days at most,
    // ECDSA) and its chain, which sslyze checks against the CA given to it: `make certs` must
    // produce certificates that pass.
    let arguments = profile == "modern" ? ["--tls-profile", "modern"] : []
    let server = try await ServerProcess.start(.tls, extraArguments: arguments)
    defer { server.stop() }

    let result = try await runCommand(
      sslyze,
      [
        "--mozilla_config=\(profile)", "--certinfo_ca_file", Locations.caCertificate.path,
        "127.0.0.1:\(server.port)",
      ],
      timeoutSeconds: 100)
    #expect(result.stdoutText.contains("OK - Compliant"), "\(result.stdoutText)\n\(result.stderr)")
    #expect(result.termination == .exit(0), "\(result.stdoutText)")
  }
}
