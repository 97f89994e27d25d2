import Foundation
import Sockets
import TLS
import Testing

/// What the server keeps about connections: timer entries only for those open, and every
/// accepted connection closed for exactly one counted reason.
///
/// Serialized: these tests open thousands of connections each, and must not add up.
@Suite("Server bookkeeping", .serialized, .timeLimit(.minutes(2)))
struct BookkeepingTests {
  /// Connects, echoes one byte and resets (no TIME_WAIT left on the client side), `count`
  /// times over `threads` threads.
  private static func shortConnections(port: UInt16, count: Int, threads: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<threads {
        group.addTask {
          try await runBlocking {
            for _ in 0..<(count / threads) {
              let socket = try connectTCP(port: port)
              try socket.send(Data("x".utf8))
              _ = try socket.receive(exactly: 1)
              try socket.setResetOnClose()
              socket.close()
            }
          }
        }
      }
      try await group.waitForAll()
    }
  }

  /// Statistics once `condition` holds for them (connections open and end asynchronously, and
  /// a loop counts a new connection's timer after the connection). A leak still fails: the
  /// condition then never holds, and the last record is what the test checks.
  private static func statistics(
    of server: ServerProcess, when condition: (LogRecord) -> Bool
  ) async throws -> LogRecord {
    var record = try await server.requestStatistics()
    let deadline = Deadline(seconds: 20)
    while !condition(record) && !deadline.hasPassed {
      try await Task.sleep(for: .milliseconds(100))
      record = try await server.requestStatistics()
    }
    return record
  }

  @Test("20,000 short connections leave no timers behind: the heap holds the open ones only")
  func timersFollowOpenConnections() async throws {
    let server = try await ServerProcess.start(
      .plaintext, extraArguments: ["--log-format", "json", "--log-level", "notice"])
    defer { server.stop() }
    let port = server.port
    let count = Sanitizer.scaled(20_000, reduced: 2_000)
    try await Self.shortConnections(port: port, count: count, threads: 4)
    // Held open: each keeps exactly one timer entry (its idle deadline).
    let held = try await runBlocking {
      Handoff(
        try (0..<100).map { _ in
          let socket = try connectTCP(port: port)
          try socket.send(Data("y".utf8))
          _ = try socket.receive(exactly: 1)
          return socket
        })
    }
    defer { for socket in held.value { socket.close() } }
    let record = try await Self.statistics(of: server) {
      $0.integer("active") == 100 && $0.integer("timers") == 100
    }
    #expect(record.integer("accepted") == count + 100, "\(record.line)")
    #expect(record.integer("active") == 100, "\(record.line)")
    #expect(record.integer("timers") == 100, "timer entries for closed connections: \(record.line)")
  }

  @Test("TLS connections that handshake, echo and close leave no timers behind either")
  func timersAfterHandshakes() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())
    let count = Sanitizer.scaled(400, reduced: 100)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<2 {
        group.addTask {
          try await runBlocking {
            for _ in 0..<(count / 2) { try echoOnce(.tls, port: port, context: context) }
          }
        }
      }
      try await group.waitForAll()
    }
    let record = try await Self.statistics(of: server) {
      $0.integer("active") == 0 && $0.integer("timers") == 0
    }
    #expect(record.integer("handshakes_ok") == count, "\(record.line)")
    #expect(record.integer("active") == 0, "\(record.line)")
    #expect(record.integer("timers") == 0, "after \(count) connections: \(record.line)")
  }

  @Test("every accepted connection is closed for exactly one counted reason")
  func accountingBalances() async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--max-connections", "5", "--log-format", "json"])
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())
    try await runBlocking {
      // Five held (one served, four open), five refused at the limit.
      var held: [TLSClient] = []
      for _ in 0..<5 { held.append(try TLSClient(port: port, context: context)) }
      for _ in 0..<5 { _ = try? TLSClient(port: port, context: context) }
      try held[0].send(Data("z".utf8))
      _ = try held[0].receive(exactly: 1)
      for client in held { _ = try? client.closeGracefully() }
      // Then one of each other ending: not TLS, a reset, a clean echo.
      let garbage = try connectTCP(port: port)
      try garbage.send(Data("GET / HTTP/1.0\r\n\r\n".utf8))
      _ = try? garbage.receiveUntilClosed()
      let reset = try connectTCP(port: port)
      try reset.setResetOnClose()
      reset.close()
      try echoOnce(.tls, port: port, context: context)
    }
    let record = try await Self.statistics(of: server) { $0.integer("active") == 0 }
    let closed = record.fields.filter { $0.key.hasPrefix("closed_") }.compactMap {
      $0.value as? Int
    }
    #expect(record.integer("accepted") == 13, "\(record.line)")
    #expect(closed.reduce(0, +) == record.integer("accepted"), "\(record.line)")
    #expect(record.integer("closed_refused_at_limit") == 5, "\(record.line)")
    #expect(record.integer("refused") == 5, "\(record.line)")
    #expect(record.integer("closed_handshake_failed") == 1, "\(record.line)")
  }

  @Test(
    "out of descriptors: waiting connections are refused as refused_no_descriptors, others served")
  func descriptorExhaustion() async throws {
    // Lowered under the running server (an operator's prlimit, a container's new limit): at
    // start a --max-connections above the limit would be a usage error.
    let server = try await ServerProcess.start(
      .plaintext, threads: 1, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    let lowered = try await runCommand(
      try Locations.tool("prlimit"), ["--pid", "\(server.pid)", "--nofile=48:48"])
    try #require(lowered.termination == .exit(0), "prlimit: \(lowered.stderr)")
    let port = server.port
    let outcome = try await runBlocking {
      var open: [Socket] = []
      var refused = 0
      for _ in 0..<80 {
        let socket = try connectTCP(port: port)
        try socket.send(Data("q".utf8))
        if let echo = try? socket.receive(exactly: 1), echo == Data("q".utf8) {
          open.append(socket)
        } else {
          refused += 1
          socket.close()
        }
      }
      return Handoff((open, refused))
    }
    let (open, refused) = outcome.value
    defer { for socket in open { socket.close() } }
    #expect(refused > 0, "the descriptor limit was never reached")
    #expect(open.count > 10, "only \(open.count) served")
    let record = try await Self.statistics(of: server) { $0.integer("active") == open.count }
    #expect(record.integer("closed_refused_no_descriptors") == refused, "\(record.line)")
    #expect(record.integer("closed_refused_at_limit") == 0, "\(record.line)")
    let closed = record.fields.filter { $0.key.hasPrefix("closed_") }.compactMap {
      $0.value as? Int
    }
    #expect(
      record.integer("accepted") == closed.reduce(0, +) + (record.integer("active") ?? 0),
      "\(record.line)")
    #expect(server.isRunning)
  }
}
