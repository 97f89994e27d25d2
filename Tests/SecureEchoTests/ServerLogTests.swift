import Foundation
import TLS
import Testing

/// The per-connection log line, which operators feed to their tools: every field present, in
/// the right type, with the right values.
@Suite("Connection log", .timeLimit(.minutes(1)))
struct ServerLogTests {
  @Test("--log-format json: one JSON object per line; the close line has every field, typed")
  func jsonLog() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    let payload = try await echoKnownPayload(port: server.port)

    let found = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    let record = try #require(found, "no connection closed line: \(server.stderrText)")
    #expect(record.string("level") == "info", "\(record.line)")
    #expect(record.string("time")?.isEmpty == false, "\(record.line)")
    #expect(record.string("peer")?.wholeMatch(of: /127\.0\.0\.1:\d+/) != nil, "\(record.line)")
    #expect(record.string("transport") == "tls", "\(record.line)")
    #expect(record.string("mode") == "echo", "\(record.line)")
    #expect(record.string("tls_version")?.hasPrefix("TLSv1.") == true, "\(record.line)")
    #expect(record.string("cipher")?.isEmpty == false, "\(record.line)")
    #expect(record.integer("bytes_in") == payload.count, "\(record.line)")
    #expect(record.integer("bytes_out") == payload.count, "\(record.line)")
    #expect((record.integer("duration_ms") ?? -1) >= 0, "\(record.line)")
    #expect(record.string("reason") == "client_closed", "\(record.line)")
    #expect(record.fields["loop"] != nil, "\(record.line)")

    // Every line, not only that one, is a JSON object with the common fields.
    let log = try server.jsonLog()
    for line in log {
      #expect(line.string("time") != nil && line.string("level") != nil, "\(line.line)")
    }
    #expect(log.contains { $0.message == "started" }, "\(server.stderrText)")
  }

  @Test("the text log's close line carries the same fields")
  func textLog() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let payload = try await echoKnownPayload(port: server.port)

    var found: LogRecord?
    _ = try await Deadline(seconds: 20).poll {
      found = server.textLog().first { $0.message == "connection closed" }
      return found != nil
    }
    let record = try #require(found, "no connection closed line: \(server.stderrText)")
    #expect(record.string("level") == "info", "\(record.line)")
    #expect(record.string("peer")?.wholeMatch(of: /127\.0\.0\.1:\d+/) != nil, "\(record.line)")
    #expect(record.string("transport") == "tls", "\(record.line)")
    #expect(record.string("mode") == "echo", "\(record.line)")
    #expect(record.string("tls_version")?.hasPrefix("TLSv1.") == true, "\(record.line)")
    #expect(record.string("cipher")?.isEmpty == false, "\(record.line)")
    #expect(record.string("bytes_in") == String(payload.count), "\(record.line)")
    #expect(record.string("bytes_out") == String(payload.count), "\(record.line)")
    #expect(record.string("duration_ms").flatMap { Int($0) }.map { $0 >= 0 } == true)
    #expect(record.string("reason") == "client_closed", "\(record.line)")
    #expect(record.string("loop") != nil, "\(record.line)")
  }

  /// One TLS echo of a payload of known size, closed with close_notify; returns the payload.
  private func echoKnownPayload(port: UInt16) async throws -> Data {
    let context = try TLSClient.developmentContext()
    let payload = Payload.everyByteValue(repeats: 3)
    let exchange = try await runBlocking {
      try exchangeOverTLS(port: port, context: context, payload: payload)
    }
    expectSameBytes(exchange.reply, payload, "echo")
    #expect(exchange.answeredCloseNotify)
    return payload
  }
}
