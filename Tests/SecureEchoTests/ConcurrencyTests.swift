import Foundation
import Sockets
import TLS
import Testing

@Suite("Many clients at once", .timeLimit(.minutes(1)))
struct ConcurrencyTests {
  /// Every connection is open and has sent its bytes before any is read from, so the server
  /// must hold all of them at once; a server that served one client at a time, or mixed up
  /// buffers, fails here. One thread drives them all, which keeps the test simple and its load
  /// predictable.
  @Test(
    "100 simultaneous clients each get exactly their own bytes, on a fixed set of threads",
    arguments: EchoMode.allCases)
  func hundredClients(mode: EchoMode) async throws {
    let server = try await ServerProcess.start(mode, threads: 2)
    defer { server.stop() }
    let threadsBefore = try server.threadCount()
    let (port, pid) = (server.port, server.pid)
    let context = mode == .tls ? try TLSClient.developmentContext() : nil
    let payloads = try (0..<100).map { try Payload.distinct(index: $0, count: 2048) }

    let (threadsWhileConnected, replies) = try await runBlocking {
      var connections: [any EchoConnection] = []
      for _ in payloads {
        connections.append(try connectEcho(mode, port: port, context: context))
      }
      for (connection, payload) in zip(connections, payloads) {
        try connection.send(payload)
      }
      let threads = try ServerProcess.threadCount(pid: pid)
      let replies = try zip(connections, payloads).map { connection, payload in
        try connection.receive(exactly: payload.count)
      }
      for connection in connections { try connection.close() }
      return (threads, replies)
    }

    #expect(threadsWhileConnected == threadsBefore, "threads grew with the clients")
    for (index, (reply, payload)) in zip(replies, payloads).enumerated() {
      expectSameBytes(reply, payload, "client \(index)")
    }
    #expect(server.isRunning)
  }
}
