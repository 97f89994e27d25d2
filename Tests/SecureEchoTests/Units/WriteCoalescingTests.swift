import Foundation
import Sockets
import Testing

@testable import EchoServer
@testable import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// What one step of a TLS echo costs in system calls, as the server's socket BIO counts them:
/// the records that arrived together are taken with one read(2) and go back as one burst, one
/// send(2) per record with MSG_MORE on all but the last, so the client is woken once. Counted,
/// never timed. Over loopback TCP, as in the server (MSG_MORE means nothing to a socketpair).
@Suite("TLS echo: system calls per step")
struct WriteCoalescingTests {
  /// An echo connection over loopback TCP, its handshake done, and the test's TLS client.
  final class Pair {
    let harness: ConnectionTests.Harness
    let client: TLSStream

    init() throws {
      let server = try TLSContext(
        .server(
          certificateChainFile: Locations.serverCertificate.path,
          privateKeyFile: Locations.serverKey.path),
        role: .server)
      harness = try ConnectionTests.Harness(tls: server, overTCP: true)
      client = try TLSStream(
        socket: harness.client, context: try TLSClient.developmentContext(),
        serverName: "localhost")
      var clientDone = false
      let deadline = Deadline(seconds: 10)
      while !clientDone || !harness.connection.handshakeDone {
        guard !deadline.hasPassed else { throw TestFailure("the handshake did not finish") }
        if case .done = try client.handshake() { clientDone = true }
        _ = harness.step()
      }
    }

    var stream: TLSStream { harness.connection.transport.tlsStream! }

    /// Sends all of `bytes` from the client, in records of at most `recordSize` bytes.
    func send(_ bytes: [UInt8], recordSize: Int = 16384) throws {
      var offset = 0
      let deadline = Deadline(seconds: 10)
      while offset < bytes.count {
        guard !deadline.hasPassed else { throw TestFailure("the client could not send") }
        let end = min(offset + recordSize, bytes.count)
        let step = try bytes[offset..<end].withUnsafeBytes { (chunk) throws(TLSError) in
          try client.write(chunk)
        }
        switch step {
        case .done(let count): offset += count
        case .wantWrite, .wantRead:
          _ = try harness.client.waitUntil(writable: true, timeoutMilliseconds: 100)
        case .closed: throw TestFailure("the server closed")
        }
      }
    }

    /// Waits until the server's socket holds `count` bytes (what the client sent has all
    /// arrived), so that one step finds all of it.
    func waitForServerInput(_ count: Int) throws {
      let deadline = Deadline(seconds: 10)
      var queued: Int32 = 0
      while ioctl(harness.connection.descriptor, UInt(FIONREAD), &queued) == 0, queued < count {
        guard !deadline.hasPassed else { throw TestFailure("\(queued) of \(count) bytes arrived") }
        sched_yield()
      }
    }

    /// Reads `count` bytes of echo at the client, without stepping the server; also returns
    /// how many reads (records) they came in.
    func receive(_ count: Int) throws -> (bytes: [UInt8], records: Int) {
      var received: [UInt8] = []
      var records = 0
      var buffer = [UInt8](repeating: 0, count: 65536)
      let deadline = Deadline(seconds: 10)
      while received.count < count {
        guard !deadline.hasPassed else { throw TestFailure("\(received.count) of \(count) echoed") }
        switch try buffer.withUnsafeMutableBytes({ try client.read(into: $0) }) {
        case .done(let got):
          received += buffer[0..<got]
          records += 1
        case .wantRead, .wantWrite:
          _ = try harness.client.waitUntil(writable: false, timeoutMilliseconds: 100)
        case .closed: throw TestFailure("the server closed")
        }
      }
      return (received, records)
    }
  }

  /// A TLS 1.3 record with AES-GCM: header, content type, tag.
  static let recordOverhead = 5 + 1 + 16

  @Test("1 MiB in 64 KiB batches: one read(2) and one burst per batch, one send(2) per record")
  func batches() throws {
    let pair = try Pair()
    let batch = 64 * 1024
    for index in 0..<16 {
      let payload = (0..<batch).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }
      try pair.send(payload)
      try pair.waitForServerInput(batch + 4 * Self.recordOverhead)
      let before = pair.stream.systemCalls
      #expect(pair.harness.step() == .wait(.readable))
      let after = pair.stream.systemCalls
      #expect(after.reads - before.reads == 1, "batch \(index): reads")
      #expect(after.sends - before.sends == 4, "batch \(index): one send per record")
      #expect(after.heldSends - before.heldSends == 3, "batch \(index): the last record pushes")
      #expect(after.pushes == before.pushes, "batch \(index): nothing left to push")
      #expect(!pair.stream.holdsBackOutput)
      let echo = try pair.receive(batch)
      #expect(echo.bytes == payload, "batch \(index) came back different")
    }
  }

  @Test("a request in 100 small records that arrived together goes back in one record, one write")
  func smallRecords() throws {
    let pair = try Pair()
    let payload = Array(repeating: Array("0123456789".utf8), count: 100).flatMap { $0 }
    try pair.send(payload, recordSize: 10)
    try pair.waitForServerInput(payload.count + 100 * Self.recordOverhead)
    let before = pair.stream.systemCalls
    #expect(pair.harness.step() == .wait(.readable))
    let after = pair.stream.systemCalls
    #expect(after.reads - before.reads == 1)
    #expect(after.sends - before.sends == 1 && after.heldSends == before.heldSends)
    let echo = try pair.receive(payload.count)
    #expect(echo.bytes == payload)
    #expect(echo.records == 1, "came back in \(echo.records) records")
  }

  @Test("a client that stops reading: every step ends with nothing held back; nothing is lost")
  func stoppedClient() throws {
    let pair = try Pair()
    // Small buffers on the way back, so that bursts stop halfway while the client does not
    // read, wherever the kernel happens to cut them.
    try pair.harness.connection.transport.socket.setOption(SOL_SOCKET, SO_SNDBUF, 4096, "SNDBUF")
    try pair.harness.client.setOption(SOL_SOCKET, SO_RCVBUF, 4096, "RCVBUF")
    let batch = 64 * 1024
    var sent: [UInt8] = []
    var blocked = false
    for index in 0..<16 where !blocked {
      let payload = (0..<batch).map { UInt8(truncatingIfNeeded: $0 &+ index &* 31) }
      try pair.send(payload)
      sent += payload
      try pair.waitForServerInput(batch + 4 * Self.recordOverhead)
      blocked = pair.harness.step() == .wait(.writable)
      #expect(!pair.stream.holdsBackOutput, "the step ended with records held back")
    }
    #expect(blocked, "the server never waited for the client to read")
    // Now the client reads, and the server goes on until every byte is back.
    var echoed: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    let deadline = Deadline(seconds: 30)
    while echoed.count < sent.count && !deadline.hasPassed {
      if case .done(let got) = try buffer.withUnsafeMutableBytes({ try pair.client.read(into: $0) })
      {
        echoed += buffer[0..<got]
      }
      _ = pair.harness.step()
      #expect(!pair.stream.holdsBackOutput, "a step ended with records held back")
    }
    #expect(echoed.count == sent.count && echoed == sent, "\(echoed.count) of \(sent.count) back")
  }

  @Test(
    "the socket BIO: MSG_MORE on all records of a write but the last; a write cut short is pushed")
  func endpoint() throws {
    let harness = try ConnectionTests.Harness(overTCP: true)
    let endpoint = SocketEndpoint(descriptor: harness.connection.descriptor)
    let record = [UInt8](repeating: 0x41, count: 16384)
    func send(_ count: Int) throws -> Int? {
      try record[..<count].withUnsafeBytes { (bytes) throws(SocketError) in
        try endpoint.send(bytes)
      }
    }
    // One write of 40,000 bytes: three records, the first two held back.
    endpoint.beginWrite(40_000, recordSize: 16_384)
    #expect(try send(16384) == 16384 && endpoint.holdsBackOutput)
    #expect(try send(16384) == 16384 && endpoint.holdsBackOutput)
    #expect(try send(7232) == 7232 && !endpoint.holdsBackOutput)
    endpoint.endWrite()
    #expect(endpoint.sends == 3 && endpoint.heldSends == 2 && endpoint.pushes == 0)
    // A write that ends after its first record (the socket was full): the owner pushes.
    endpoint.beginWrite(40_000, recordSize: 16_384)
    #expect(try send(16384) == 16384 && endpoint.holdsBackOutput)
    endpoint.endWrite()
    try endpoint.push()
    #expect(!endpoint.holdsBackOutput && endpoint.pushes == 1)
    try endpoint.push()
    #expect(endpoint.pushes == 1, "a push with nothing held back is no system call")
    // What OpenSSL writes by itself (no write in progress) goes at once.
    #expect(try send(100) == 100 && !endpoint.holdsBackOutput && endpoint.heldSends == 3)
    // Every byte arrives.
    var received = 0
    var buffer = [UInt8](repeating: 0, count: 65536)
    let expected = 16384 * 3 + 7232 + 100
    let deadline = Deadline(seconds: 10)
    while received < expected && !deadline.hasPassed {
      switch try buffer.withUnsafeMutableBytes({ try harness.client.read(into: $0) }) {
      case .processed(let count): received += count
      case .wouldBlock: _ = try harness.client.waitUntil(writable: false, timeoutMilliseconds: 100)
      }
    }
    #expect(received == expected)
  }
}
