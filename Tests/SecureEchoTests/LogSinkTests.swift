import Foundation
import Sockets
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Logging must never stall the data path: the log is written by a thread of its own through a
/// bounded buffer, and lines that do not fit are dropped and counted.
@Suite("Log writer", .timeLimit(.minutes(1)))
struct LogSinkTests {
  @Test("stderr a pipe nobody reads: 2,000 connections still echo; the drops are counted")
  func unreadStderr() async throws {
    let stdout = Pipe()
    let stderr = Pipe()
    let server = try ChildProcess(
      try Locations.executable("echo-server"),
      [
        "--plaintext", "--host", "127.0.0.1", "--port", "0", "--threads", "2",
        "--drain-timeout", "1", "--log-format", "json",
      ], stdout: stdout, stderr: stderr)
    defer { server.stop() }
    var listening = PipeReader(stdout)
    _ = try await listening.read(until: Deadline(seconds: 20)) { $0.contains("\n") }
    let match = try #require(
      listening.text.firstMatch(of: /listening on [^ ,]*:(\d+)/), "\(listening.text)")
    let port = try #require(UInt16(match.1))

    // About 280 bytes of log per connection: far more than the pipe (64 KiB) and the log
    // buffer hold, so the writer blocks on the pipe and then lines are dropped.
    try await withThrowingTaskGroup(of: Void.self) { group in
      for thread in 0..<4 {
        group.addTask {
          try await runBlocking {
            for index in 0..<500 {
              let payload = Data("connection \(thread)-\(index)\n".utf8)
              let socket = try connectTCP(port: port)
              defer { socket.close() }
              try socket.send(payload)
              guard try socket.receive(exactly: payload.count) == payload else {
                throw TestFailure("wrong echo on connection \(thread)-\(index)")
              }
            }
          }
        }
      }
      try await group.waitForAll()
    }
    #expect(server.isRunning)

    // Now read: the server stops, writes what it kept, and its last line counts the rest. It
    // waits a few seconds at most for a stderr that does not drain, so a thread of its own
    // reads, not a task the suite's other tests could keep from running that long.
    server.send(SIGTERM)
    let log = try await runBlocking {
      var log = PipeReader(stderr)
      log.readToEnd(before: Deadline(seconds: 30))
      return log.text
    }
    let termination = try await server.waitForExit(until: Deadline(seconds: 10))
    #expect(termination == .exit(0))
    let lines = log.split(separator: "\n").map(String.init)
    let records = try lines.map { try LogRecord(json: $0) }  // every line whole, none torn
    let stopped = try #require(records.last { $0.message == "stopped" }, "\(lines.suffix(3))")
    let dropped = try #require(stopped.integer("log_lines_dropped"), "\(stopped.line)")
    #expect(dropped > 0, "nothing was dropped: the test did not fill the buffer")
    let closeLines = records.filter { $0.message == "connection closed" }.count
    #expect(closeLines + dropped == 2000, "\(closeLines) close lines, \(dropped) dropped")
    #expect(stopped.integer("accepted") == 2000, "\(stopped.line)")
  }
}
