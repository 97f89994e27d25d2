import Foundation

/// What one `openssl s_client` (or other line client) run showed.
struct SClientResult {
  /// stdout and stderr together, in order.
  var output: String
  var termination: Termination
  /// Whether the line the client sent came back.
  var echoed: Bool

  /// A line of s_client's `-brief` or full output that starts with `prefix`, without it.
  func value(after prefix: String) -> String? {
    output.split(separator: "\n").lazy.compactMap { line -> String? in
      let text = line.trimmingCharacters(in: .whitespaces)
      return text.hasPrefix(prefix)
        ? String(text.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) : nil
    }.first
  }
}

/// Runs `openssl s_client` against 127.0.0.1:`port` with `arguments`, sends one line, and waits
/// (with a deadline) until the line comes back (or the `reply` line, for a service that answers
/// something else) or s_client exits, e.g. because the handshake failed.
func runSClient(
  port: UInt16, _ arguments: [String], send line: String = "s_client line \(UUID().uuidString)",
  expect reply: String? = nil
) async throws -> SClientResult {
  try await runLineClient(
    try Locations.openssl(), ["s_client", "-connect", "127.0.0.1:\(port)"] + arguments,
    send: line, expect: reply)
}

/// The same for any client that sends its stdin and prints what comes back (`gnutls-cli`).
/// Stdin stays open until the reply or the client's exit: such clients stop at EOF on stdin,
/// possibly before they have read the echo or a TLS 1.3 session ticket.
func runLineClient(
  _ executable: URL, _ arguments: [String], send line: String, expect reply: String? = nil
) async throws -> SClientResult {
  let expected = reply ?? line
  let stdin = Pipe()
  let output = Pipe()
  let client = try ChildProcess(
    executable, arguments, stdin: stdin, stdout: output, stderr: output)
  defer { client.stop() }
  // The client may already have exited (a refused handshake): then the write fails with
  // EPIPE, which is that outcome, not an error of the test.
  try? stdin.fileHandleForWriting.write(contentsOf: Data("\(line)\n".utf8))
  var reader = PipeReader(output)
  let hasEchoedLine = { (text: String) in
    text.split(separator: "\n").contains { $0 == expected }
  }
  _ = try await reader.read(until: Deadline(seconds: 20)) { text in
    hasEchoedLine(text) || !client.isRunning
  }
  try? stdin.fileHandleForWriting.close()
  let termination = try await client.waitForExit(until: Deadline(seconds: 20))
  reader.readAvailable()
  guard let termination else {
    throw TestFailure("\(executable.lastPathComponent) did not exit: \(reader.text)")
  }
  return SClientResult(
    output: reader.text, termination: termination, echoed: hasEchoedLine(reader.text))
}

/// The development CA, for s_client's `-CAfile`.
var verifyWithDevelopmentCA: [String] {
  ["-CAfile", Locations.caCertificate.path, "-verify_return_error"]
}
