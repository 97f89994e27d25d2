import Foundation
import Testing

/// Checks of what the programs tell a user on stderr when something goes wrong.
enum Diagnostics {
  /// Signs of a crash instead of a handled error: Swift runtime traps and backtraces.
  static let crashMarkers = [
    "Fatal error", "Current stack trace", "Stack dump", "Backtrace", "Program crashed",
    "Segmentation fault",
    "Illegal instruction", "Trace/breakpoint trap", "Assertion failed", "Precondition failed",
  ]

  /// Expects `stderr` to be exactly one line, starting with `program: `, and returns that line
  /// (empty when the expectation failed) for the caller's checks of its content.
  @discardableResult
  static func expectSingleLine(
    _ stderr: String, from program: String, sourceLocation: SourceLocation = #_sourceLocation
  ) -> String {
    expectNoCrash(stderr, sourceLocation: sourceLocation)
    expectNoBareOpenSSLCodes(stderr, sourceLocation: sourceLocation)
    let lines = stderr.split(separator: "\n").map(String.init)
    #expect(
      lines.count == 1, "expected one line on stderr, got: \(stderr)",
      sourceLocation: sourceLocation)
    guard let line = lines.first else { return "" }
    #expect(line.hasPrefix("\(program): "), "stderr line: \(line)", sourceLocation: sourceLocation)
    return line
  }

  static func expectNoCrash(_ stderr: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for marker in crashMarkers {
      #expect(
        !stderr.contains(marker), "crash output on stderr: \(stderr)",
        sourceLocation: sourceLocation)
    }
  }

  /// An OpenSSL error code (`error:0A000086`) must come with its reason in words; a user cannot
  /// act on the number alone.
  static func expectNoBareOpenSSLCodes(
    _ text: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    for match in text.matches(of: /error:[0-9A-Fa-f]{8}([^;\n]*)/) {
      #expect(
        match.1.contains(/[A-Za-z]{3,}/), "OpenSSL code without its reason: \(match.0)",
        sourceLocation: sourceLocation)
    }
  }
}

/// The suite runs again under Thread and Address Sanitizer (`make test-sanitize`), where every
/// process is several times slower. Tests that load the server scale down there: the sanitizer
/// run is for races and leaks, and the full load has run already in `make test`.
enum Sanitizer {
  static let isActive =
    ProcessInfo.processInfo.environment["ASAN_OPTIONS"] != nil
    || ProcessInfo.processInfo.environment["TSAN_OPTIONS"] != nil

  /// How much longer waits may take.
  static let slowdown = isActive ? 4 : 1

  /// `full` normally, `reduced` under a sanitizer.
  static func scaled(_ full: Int, reduced: Int) -> Int { isActive ? reduced : full }
}
