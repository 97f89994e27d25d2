import Foundation
import Sockets
import Testing

@Suite("Plaintext echo", .timeLimit(.minutes(1)))
struct PlaintextEchoTests {
  @Test("a raw socket gets every byte back, then EOF after its half-close")
  func rawSocket() async throws {
    let server = try await ServerProcess.start(.plaintext)
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
    expectSameBytes(reply, payload, "plaintext echo")
    #expect(end == .eof)
  }

  @Test("echoes request after request on one connection")
  func severalExchanges() async throws {
    let server = try await ServerProcess.start(.plaintext)
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
      expectSameBytes(reply, payload, "round \(round)")
    }
  }
}
