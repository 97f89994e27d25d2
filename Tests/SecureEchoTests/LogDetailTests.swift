import Foundation
import TLS
import Testing

/// What `--log-level debug` and `trace` add, and the JSON types of the fields scripts read.
@Suite("Log levels and JSON types", .timeLimit(.minutes(1)))
struct LogDetailTests {
  private func echo(_ payload: Data, port: UInt16) async throws {
    let context = try TLSClient.developmentContext()
    let exchange = try await runBlocking {
      try exchangeOverTLS(port: port, context: context, payload: payload)
    }
    #expect(exchange.reply == payload)
  }

  private func closedLine(of server: ServerProcess) async throws -> LogRecord {
    let found = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    return try #require(found, "no close line: \(server.stderrText)")
  }

  @Test("trace: accept, handshake start and finish with its duration, every read and write")
  func traceLines() async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--log-format", "json", "--log-level", "trace"])
    defer { server.stop() }
    let payload = Payload.everyByteValue(repeats: 200)
    try await echo(payload, port: server.port)
    _ = try await closedLine(of: server)
    let log = try server.jsonLog()

    let accepted = try #require(log.first { $0.message == "accepted" }, "\(server.stderrText)")
    #expect(accepted.string("level") == "debug" && accepted.string("transport") == "tls")
    #expect(log.contains { $0.message == "handshake started" }, "\(server.stderrText)")
    let finished = try #require(log.first { $0.message == "handshake finished" })
    #expect((finished.integer("duration_ms") ?? -1) >= 0, "\(finished.line)")
    #expect(finished.string("tls_version")?.hasPrefix("TLSv1.") == true, "\(finished.line)")
    let reads = log.filter { $0.message == "read" }.compactMap { $0.integer("bytes") }
    let writes = log.filter { $0.message == "wrote" }.compactMap { $0.integer("bytes") }
    #expect(reads.reduce(0, +) == payload.count, "reads \(reads)")
    #expect(writes.reduce(0, +) == payload.count, "writes \(writes)")
    #expect(log.allSatisfy { $0.string("level") != "trace" || $0.string("peer") != nil })
  }

  @Test("info: none of the debug or trace lines")
  func infoIsQuiet() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    try await echo(Data("quiet\n".utf8), port: server.port)
    _ = try await closedLine(of: server)
    let levels = Set(try server.jsonLog().compactMap { $0.string("level") })
    #expect(!levels.contains("debug") && !levels.contains("trace"), "\(levels)")
  }

  @Test("JSON fields are typed: booleans and numbers are not strings")
  func typedFields() async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--log-format", "json", "--drain-timeout", "2.5"])
    try await echo(Data("typed\n".utf8), port: server.port)
    let closed = try await closedLine(of: server)
    #expect(closed.line.contains(#""resumed":false"#), "\(closed.line)")
    #expect(closed.fields["resumed"] as? Bool == false, "\(closed.line)")
    #expect(closed.integer("loop") != nil, "\(closed.line)")
    _ = server.stop()
    let shutdown = try #require(
      try server.jsonLog().first { $0.message?.hasPrefix("shutting down") == true })
    #expect(shutdown.line.contains(#""drain_timeout_s":2.5"#), "\(shutdown.line)")
  }
}
