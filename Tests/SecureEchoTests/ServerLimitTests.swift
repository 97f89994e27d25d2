import Foundation
import Sockets
import TLS
import Testing

/// `--max-connections` and `--idle-timeout`: what a client costs is bounded, and the client is
/// told so cleanly.
@Suite("Connection limits and idle timeout", .timeLimit(.minutes(1)))
struct ServerLimitTests {
  /// What became of one client of a full server.
  private enum Attempt {
    case served(TLSClient)
    /// The handshake failed at once: EOF or reset, the refusal's visible form.
    case refused(String)
    /// The server neither served nor closed it within the I/O timeout.
    case hung(String)
  }

  @Test("--max-connections 50: of 80 clients that stay, 50 are served and 30 refused at once")
  func connectionLimit() async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--max-connections", "50", "--log-format", "json"])
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())

    let attempts = try await runBlocking {
      Handoff(
        try (0..<80).map { index -> Attempt in
          let client: TLSClient
          do {
            client = try TLSClient(port: port, context: context)
          } catch let failure as TestFailure {
            return .hung("\(failure)")
          } catch {
            return .refused("\(error)")
          }
          let payload = Data("client \(index)\n".utf8)
          try client.send(payload)
          guard try client.receive(exactly: payload.count) == payload else {
            throw TestFailure("client \(index): wrong echo")
          }
          return .served(client)
        })
    }
    defer { for case .served(let client) in attempts.value { client.stream.socket.close() } }

    let served = attempts.value.indices.filter {
      if case .served = attempts.value[$0] { true } else { false }
    }
    let refusals = attempts.value.compactMap { if case .refused(let why) = $0 { why } else { nil } }
    let hangs = attempts.value.compactMap { if case .hung(let why) = $0 { why } else { nil } }
    // Each client stays connected, so the first 50 fill the server and the rest find it full.
    #expect(served == Array(0..<50), "served: \(served)")
    #expect(refusals.count == 30, "refused: \(refusals)")
    #expect(hangs.isEmpty, "neither served nor refused: \(hangs)")

    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("refused") == 30, "\(statistics.line)")
    #expect(statistics.integer("accepted") == 80, "\(statistics.line)")
    #expect(statistics.integer("active") == 50, "\(statistics.line)")
    #expect(statistics.integer("closed_refused_at_limit") == 30, "\(statistics.line)")
    // Refusals are logged at most once a second, each line counting those it stands for, and
    // what a second left over is logged when it ends: the counts add up to every refusal.
    var refusedLines: [LogRecord] = []
    _ = try await Deadline(seconds: 10).poll {
      refusedLines = try server.jsonLog().filter { $0.message == "connection refused" }
      return refusedLines.reduce(0) { $0 + ($1.integer("refused") ?? 0) } >= 30
    }
    let logged = refusedLines.reduce(0) { $0 + ($1.integer("refused") ?? 0) }
    #expect(logged == 30, "\(refusedLines.map(\.line))")
    // One line per refusal would be 30; rate-limited, the refusals of one second share one.
    #expect(refusedLines.count < logged, "not rate-limited: \(refusedLines.count) lines")
    for record in refusedLines {
      #expect(record.string("reason") == "refused_at_limit", "\(record.line)")
      #expect(record.integer("limit") == 50, "\(record.line)")
      #expect(record.string("peer")?.hasPrefix("127.0.0.1:") == true, "\(record.line)")
    }

    // The limit is on connections open at once: once one of the 50 has gone, and the server
    // has logged its close, a new client is served.
    guard case .served(let first)? = attempts.value.first else { return }
    let leaving = Handoff(first)
    try await runBlocking { _ = try leaving.value.closeGracefully() }
    let closedLogged = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    #expect(closedLogged != nil, "no close logged: \(server.stderrText)")
    try await runBlocking { try echoOnce(.tls, port: port, context: context) }
  }

  @Test(
    "--idle-timeout: a quiet client is closed, over TLS with close_notify",
    arguments: EchoMode.allCases)
  func idleTimeout(mode: EchoMode) async throws {
    let server = try await ServerProcess.start(
      mode, extraArguments: ["--idle-timeout", "1", "--log-format", "json"])
    defer { server.stop() }
    let port = server.port
    let context = mode == .tls ? try TLSClient.developmentContext() : nil
    let payload = Data("one echo, then silence\n".utf8)

    // The read blocks until the server acts (or the I/O timeout, which means it did not).
    let (reply, end) = try await runBlocking { () -> (Data, String) in
      switch mode {
      case .tls:
        let client = try TLSClient(port: port, context: context!)
        defer { client.stream.socket.close() }
        try client.send(payload)
        let reply = try client.receive(exactly: payload.count)
        var buffer = [UInt8](repeating: 0, count: 4096)
        do {
          let result = try buffer.withUnsafeMutableBytes {
            try client.stream.read(into: $0) as TLSResult<Int>
          }
          switch result {
          case .closed: return (reply, "close_notify")
          case .done(let count): return (reply, "\(count) more bytes")
          case .wantRead, .wantWrite: return (reply, "still open after \(ioTimeoutSeconds) s")
          }
        } catch {
          return (reply, "error: \(error)")
        }
      case .plaintext:
        let socket = try connectTCP(port: port)
        defer { socket.close() }
        try socket.send(payload)
        let reply = try socket.receive(exactly: payload.count)
        let (more, end) = try socket.receiveUntilClosed()
        return (reply, more.isEmpty ? "\(end)" : "\(more.count) more bytes")
      }
    }
    expectSameBytes(reply, payload, "echo before the silence")
    #expect(end == (mode == .tls ? "close_notify" : "eof"))

    let record = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    #expect(record?.string("reason") == "idle_timeout", "\(record?.line ?? server.stderrText)")
    #expect(record?.integer("bytes_in") == payload.count, "\(record?.line ?? "")")
  }
}
