import Foundation
import Sockets
import Testing

/// How a plaintext server echoes: by splice(2) through a pipe (the default), or through user
/// memory (`SECUREECHO_NO_SPLICE=1`). Both paths are tested.
enum PlaintextPath: String, CaseIterable, CustomStringConvertible {
  case splice
  case buffer

  var description: String { rawValue }

  var environment: [String: String] { self == .buffer ? ["SECUREECHO_NO_SPLICE": "1"] : [:] }
}

@Suite("Plaintext echo", .timeLimit(.minutes(1)))
struct PlaintextEchoTests {
  @Test(
    "a raw socket gets every byte back, then EOF after its half-close",
    arguments: PlaintextPath.allCases)
  func rawSocket(path: PlaintextPath) async throws {
    let server = try await ServerProcess.start(.plaintext, environment: path.environment)
    defer { server.stop() }
    #expect(server.listeningLine.contains("plaintext"), "\(server.listeningLine)")

    let port = server.port
    let payload = Payload.everyByteValue()
    let (reply, end) = try await runBlocking {
      let socket = try connectTCP(port: port)
      defer { socket.close() }
      try socket.send(payload)
      try socket.shutdownOutput()
      return try socket.receiveUntilClosed()
    }
    expectSameBytes(reply, payload, "plaintext echo (\(path))")
    #expect(end == .eof)
  }

  @Test("echoes request after request on one connection", arguments: PlaintextPath.allCases)
  func severalExchanges(path: PlaintextPath) async throws {
    let server = try await ServerProcess.start(.plaintext, environment: path.environment)
    defer { server.stop() }
    let port = server.port
    let payloads = try (0..<5).map { try Payload.distinct(index: $0, count: 1000 + $0 * 3000) }
    let replies = try await runBlocking {
      let socket = try connectTCP(port: port)
      defer { socket.close() }
      return try payloads.map { payload in
        try socket.send(payload)
        return try socket.receive(exactly: payload.count)
      }
    }
    for (round, (reply, payload)) in zip(replies, payloads).enumerated() {
      expectSameBytes(reply, payload, "round \(round) (\(path))")
    }
  }

  @Test(
    "20 clients streaming 4 MiB each get their own bytes back, with backpressure",
    arguments: PlaintextPath.allCases)
  func concurrentStreams(path: PlaintextPath) async throws {
    let server = try await ServerProcess.start(
      .plaintext, threads: 1, extraArguments: ["--log-format", "json"],
      environment: path.environment)
    defer { server.stop() }
    let port = server.port
    let size = Sanitizer.scaled(4 << 20, reduced: 1 << 20)
    // Many clients streaming at once on one loop: the server's writes back are cut short on
    // many of them, so pending output and the shared pipe are exercised together.
    try await withThrowingTaskGroup(of: Void.self) { group in
      for index in 0..<20 {
        group.addTask {
          let payload = try Payload.distinct(index: index, count: size)
          let reply = try await runBlocking {
            let socket = try connectTCP(port: port)
            defer { socket.close() }
            return try socket.exchangeDuplex(payload)
          }
          guard reply == payload else { throw TestFailure("client \(index): wrong echo") }
        }
      }
      try await group.waitForAll()
    }
    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("bytes_in") == 20 * size, "\(statistics.line)")
    #expect(statistics.integer("bytes_out") == 20 * size, "\(statistics.line)")
    #expect(statistics.integer("closed_error") == 0, "\(statistics.line)")
  }
}
