import Foundation
import Sockets
import Testing

/// `DatagramBatch` on a loopback socket of its own: replies go back to their sender, from the
/// address it wrote to, and never larger than what it sent.
@Suite("Datagram batches (loopback, no process)")
struct DatagramBatchTests {
  @Test("a reply replaces its datagram only when it is not larger")
  func replies() throws {
    let server = try Socket.datagramListening(
      on: SocketAddress(numericHost: "0.0.0.0", port: 0)!, packetInfo: true, exclusive: true)
    defer { server.close() }
    let port = try server.localAddress().port
    let client = try connectUDP(host: "127.0.0.2", port: port)
    defer { client.close() }
    try client.sendDatagram(Data("ten bytes!".utf8))
    #expect(try server.waitUntil(writable: false, timeoutMilliseconds: 5000))
    let batch = DatagramBatch(capacity: 4, bufferSize: 2048, packetInfo: true)
    #expect(try batch.receive(from: server.descriptor) == 1)
    #expect(batch.datagram(0).local?.host == "127.0.0.2", "the address the client wrote to")
    let longer = [UInt8]("eleven bytes".utf8)
    #expect(!longer.withUnsafeBytes { batch.mark(0, replyingWith: $0) })
    let shorter = [UInt8]("pong".utf8)
    #expect(shorter.withUnsafeBytes { batch.mark(0, replyingWith: $0) })
    #expect(batch.echoMarked(on: server.descriptor).sent == 1)
    // The client is connected to 127.0.0.2: it gets the reply only if it came from there.
    #expect(try client.receiveDatagram(withinMilliseconds: 5000) == Data("pong".utf8))
  }
}
