import Foundation
import Sockets
import TLS
import Testing

@Suite("Server resources", .timeLimit(.minutes(1)))
struct ResourceTests {
  /// Every way a connection can end must give its descriptor back: a leak of one per
  /// connection would exhaust a long-running server's descriptor limit.
  @Test("no file descriptor leaks across 1,000 connections that end in various ways")
  func descriptorsAreReleased() async throws {
    let server = try await ServerProcess.start(.tls, threads: 2)
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())

    // Warm-up: whatever the server opens once, on its first connection, is not a leak.
    let before = try server.openDescriptorCount()
    try await runBlocking { try Self.echo(port: port, context: context) }
    _ = try await Deadline(seconds: 5).poll { try server.openDescriptorCount() <= before }
    let baseline = try server.openDescriptorCount()

    try await runBlocking {
      for index in 0..<1000 {
        switch index % 10 {
        case 0: try Self.echo(port: port, context: context)
        case 1: try Self.handshakeThenReset(port: port, context: context)
        case 2: try Self.resetWhileEchoing(port: port, context: context)
        case 3: try Self.garbageThenClose(port: port)
        case 4: try Self.resetAtOnce(port: port)
        default: try connectTCP(port: port).close()
        }
      }
      // A connection served after all of them means the server has accepted every one before
      // it (the accept queue is FIFO), so none can hide there from the count below.
      try Self.echo(port: port, context: context)
    }
    #expect(server.isRunning, "the server died: \(server.stderrText)")

    // Connections end asynchronously in the server, so wait for the count to settle.
    _ = try await Deadline(seconds: 20).poll { try server.openDescriptorCount() <= baseline }
    #expect(try server.openDescriptorCount() == baseline)
  }

  /// A well-behaved client: handshake, echo, close_notify.
  private static func echo(port: UInt16, context: TLSContext) throws {
    let payload = Data("ping\n".utf8)
    let exchange = try exchangeOverTLS(port: port, context: context, payload: payload)
    guard exchange.reply == payload else { throw TestFailure("wrong echo: \(exchange.reply)") }
  }

  /// A client that vanishes after the handshake, without close_notify.
  private static func handshakeThenReset(port: UInt16, context: TLSContext) throws {
    let client = try TLSClient(port: port, context: context)
    try client.stream.socket.setResetOnClose()
    client.stream.socket.close()
  }

  /// A client that resets while the server is still writing its echo back: the server's
  /// write fails (EPIPE/ECONNRESET), which must neither kill it nor leak.
  private static func resetWhileEchoing(port: UInt16, context: TLSContext) throws {
    let client = try TLSClient(port: port, context: context)
    try client.send(Payload.random(count: 64 * 1024))
    try client.stream.socket.setResetOnClose()
    client.stream.socket.close()
  }

  /// Not TLS at all.
  private static func garbageThenClose(port: UInt16) throws {
    let socket = try connectTCP(port: port)
    try socket.send(Data("GET / HTTP/1.0\r\n\r\n".utf8))
    socket.close()
  }

  private static func resetAtOnce(port: UInt16) throws {
    let socket = try connectTCP(port: port)
    try socket.setResetOnClose()
    socket.close()
  }
}
