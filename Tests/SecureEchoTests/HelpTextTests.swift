import Foundation
import Testing

/// What `--help` prints is the first documentation a user reads: no stray characters, and
/// each option's default said once.
@Suite("Help texts", .timeLimit(.minutes(1)))
struct HelpTextTests {
  @Test(
    "--help: no stray backslashes, no default given twice",
    arguments: [["echo-server"], ["echo-client"], ["echo-client", "bench"]])
  func helpText(command: [String]) async throws {
    let result = try await runCommand(
      try Locations.executable(command[0]), Array(command.dropFirst()) + ["--help"])
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let help = result.stdoutText
    #expect(help.contains("USAGE:"), "\(help)")
    #expect(!help.contains("\\"), "a stray backslash in:\n\(help)")
    // Each option entry: its first line starts with "  -", continuation lines are indented.
    var entries: [String] = []
    for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("  -") {
        entries.append(String(line))
      } else if line.hasPrefix("      "), !entries.isEmpty {
        entries[entries.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
      }
    }
    #expect(entries.count > 5, "no options found in:\n\(help)")
    for entry in entries {
      let defaults = entry.matches(of: /default/).count
      #expect(defaults <= 1, "a default given \(defaults) times: \(entry)")
      #expect(!entry.contains(".."), "\(entry)")
    }
  }
}
