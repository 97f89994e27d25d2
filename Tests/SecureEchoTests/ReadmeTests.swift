import Foundation
import Testing

/// README.md's runnable blocks, run as written by a new user (Tests/Scripts/readme_runner.py
/// says how: a server per block on a kernel-chosen port, typed input, the quoted output checked).
@Suite("README", .timeLimit(.minutes(5)))
struct ReadmeTests {
  @Test("every runnable block of README.md does what the README says")
  func runnableBlocks() async throws {
    let release = Locations.repositoryRoot.appendingPathComponent(".build/release/echo-server")
    try #require(
      FileManager.default.isExecutableFile(atPath: release.path),
      "no release build: `make test` builds it first (or run `make release man completions`)")
    try Locations.requireDevelopmentCertificates()
    let result = try await runCommand(
      try Locations.tool("python3"),
      [
        Locations.scripts.appendingPathComponent("readme_runner.py").path,
        Locations.repositoryRoot.path,
      ],
      timeoutSeconds: 240)

    #expect(result.termination == .exit(0), "\(result.stderr)\n\(result.stdoutText)")
    let summary = try #require(
      result.stdoutText.firstMatch(of: /(\d+) commands in (\d+) blocks ran as written/),
      "\(result.stdoutText)")
    #expect(Int(summary.2) ?? 0 >= 15, "fewer runnable blocks than the README has: \(summary.0)")
  }
}
