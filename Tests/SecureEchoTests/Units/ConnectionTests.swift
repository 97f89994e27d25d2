import Faults
import Foundation
import ProxyProtocol
import Sockets
import StreamServices
import TLS
import Testing

@testable import EchoServer

#if canImport(Glibc)
  import Glibc
#endif

/// The connection state machine on its own: a `Connection` over one end of a socketpair,
/// stepped by hand as a loop would, with the test playing the client on the other end. No
/// process, no epoll.
@Suite("Connection stages and services")
struct ConnectionTests {
  /// A connection in `mode` on one end of a socketpair, the other end for the test.
  final class Harness {
    let loop: LoopContext
    let connection: Connection
    let client: Socket

    /// `overTCP`: a loopback TCP connection instead of a socketpair, for what only TCP has
    /// (MSG_MORE, TCP_NODELAY).
    init(
      _ mode: ServiceMode = .echo, sourceBytes: Int? = nil, tls: TLSContext? = nil,
      limits: ServerConfiguration.Limits = .init(maxConnections: 10), overTCP: Bool = false,
      proxy: ProxyHeaderParser? = nil, faults: [Fault] = []
    ) throws {
      // OpenSSL writes to its socket itself, without MSG_NOSIGNAL.
      ignoreBrokenPipes()
      let server: Socket
      (server, client) = overTCP ? try Self.loopbackPair() : try Self.socketPair()
      let service = ServiceConfiguration(mode: mode, sourceBytes: sourceBytes)
      loop = LoopContext(
        splicePipe: nil, statistics: LoopStatistics(), limits: limits, service: service)
      let transport: Transport =
        if let tls {
          .tls(try TLSStream(socket: server, context: tls, eventLoopIO: true))
        } else {
          .plain(server)
        }
      connection = Connection(
        transport: transport, peer: "test", proxyHeader: proxy, service: service, loop: loop,
        faults: faults)
    }

    deinit {
      if !connection.isClosed { connection.close() }
    }

    private static func socketPair() throws -> (Socket, Socket) {
      var fds: [Int32] = [0, 0]
      let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
      guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
        throw SocketError("socketpair", errno: errno)
      }
      return (Socket(owning: fds[0]), Socket(owning: fds[1]))
    }

    /// Both ends of a loopback TCP connection, non-blocking: (accepted, connected).
    private static func loopbackPair() throws -> (Socket, Socket) {
      let listener = try Socket.listening(on: SocketAddress(numericHost: "127.0.0.1", port: 0)!)
      defer { listener.close() }
      let client = try Socket.connect(to: [try listener.localAddress()], timeoutMilliseconds: 5000)
      try client.setNonBlocking(true)
      guard try listener.waitUntil(writable: false, timeoutMilliseconds: 5000),
        case .processed(let (server, _)) = try Socket.accept(listener: listener.descriptor)
      else { throw TestFailure("the loopback connection was not accepted") }
      return (server, client)
    }

    func step() -> Next { connection.step(loop) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
      let written = try bytes.withBytes { (bytes) throws(SocketError) in
        try client.write(bytes)
      }
      guard written == .processed(bytes.count) else { throw TestFailure("short write") }
    }

    /// Everything the server end has sent so far, without waiting.
    func receiveAvailable() throws -> [UInt8] {
      var received: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 65536)
      while case .processed(let count) = try buffer.withUnsafeMutableBytes({
        try client.read(into: $0)
      }),
        count > 0
      {
        received += buffer[0..<count]
      }
      return received
    }

    /// True once the server end has closed its output (EOF), with nothing left to read.
    func sawEndOfStream() throws -> Bool {
      var byte: UInt8 = 0
      return try withUnsafeMutableBytes(of: &byte) { try client.read(into: $0) } == .processed(0)
    }
  }

  @Test("echo: bytes come back, and the client's end of input closes it as client_closed")
  func echo() throws {
    let harness = try Harness()
    #expect(harness.step() == .wait(.readable))
    try harness.send("hello")
    #expect(harness.step() == .wait(.readable))
    #expect(try harness.receiveAvailable() == Array("hello".utf8))
    try harness.client.shutdownOutput()
    #expect(harness.step() == .close(.clientClosed, detail: nil))
    #expect(try harness.sawEndOfStream(), "the server did not end its side")
    #expect(harness.connection.bytesIn == 5 && harness.connection.bytesOut == 5)
  }

  @Test("PROXY header: taken a byte at a time without a spin, and not a byte of what follows")
  func proxyHeaderInPieces() throws {
    let harness = try Harness(proxy: ProxyHeaderParser(accepting: [.v1, .v2]))
    let header = ProxyHeaderBuilder.v2(
      source: ("203.0.113.5", 7), destination: ("203.0.113.6", 443),
      tlvs: [(0x02, Array("pieces.example".utf8))], crc32c: true)
    for byte in header.dropLast() {
      try harness.send([byte])
      // Every byte so far is header: taken from the socket, so readiness does not stay up.
      #expect(harness.step() == .wait(.readable))
      #expect(harness.connection.peer == "test")
    }
    // The last byte with the first data, in one write: the header ends exactly there.
    try harness.send([header.last!] + Array("after".utf8))
    #expect(harness.step() == .wait(.readable))
    #expect(harness.connection.peer == "203.0.113.5:7")
    #expect(harness.connection.proxy?.fields.contains { $0 == ("via", "test") } == true)
    #expect(try harness.receiveAvailable() == Array("after".utf8))
    #expect(harness.loop.statistics.snapshot().proxyHeaders(.v2) == 1)
  }

  @Test("PROXY header: a v2 LOCAL then an end is a health check, not a close by the client")
  func proxyLocalHeader() throws {
    let harness = try Harness(proxy: ProxyHeaderParser(accepting: [.v2]))
    try harness.send(ProxyHeaderBuilder.v2(command: .local))
    #expect(harness.step() == .wait(.readable))
    try harness.client.shutdownOutput()
    #expect(harness.step() == .close(.healthCheck, detail: nil))
    #expect(harness.connection.peer == "test")
  }

  @Test("PROXY header: a ClientHello where the header should be is refused at its first byte")
  func proxyHeaderMissing() throws {
    let harness = try Harness(proxy: ProxyHeaderParser(accepting: [.v1, .v2]))
    try harness.send([0x16])
    guard case .close(.proxyHeaderInvalid, let detail) = harness.step() else {
      Issue.record("not refused")
      return
    }
    #expect(detail?.contains("PROXY") == true)
  }

  @Test("backpressure: a client that does not read stops the reads, one buffer at most is held")
  func backpressure() throws {
    let harness = try Harness()
    let chunk = [UInt8](repeating: 0x5A, count: 16 * 1024)
    var sent = 0
    var blocked = false
    // Fill everything: the client's receive side, the server's send side, its pending output.
    for _ in 0..<2000 {
      let result = try chunk.withBytes { (bytes) throws(SocketError) in
        try harness.client.write(bytes)
      }
      if case .processed(let count) = result { sent += count }
      if harness.step() == .wait(.writable) && result == .wouldBlock {
        blocked = true
        break
      }
    }
    #expect(blocked, "the server never stopped to wait for the client")
    let held = harness.connection.channel.pendingCount
    #expect(held > 0 && held <= LoopContext.bufferSize, "pending: \(held)")
    // Stepping again without the client reading takes nothing more in.
    let bytesIn = harness.connection.bytesIn
    #expect(harness.step() == .wait(.writable))
    #expect(harness.connection.bytesIn == bytesIn)
    // Once the client reads, everything it sent comes back.
    var echoed = 0
    for _ in 0..<10_000 where echoed < sent {
      echoed += try harness.receiveAvailable().count
      _ = harness.step()
    }
    #expect(echoed == sent)
  }

  @Test("timers: a silent plaintext client meets the handshake timeout, a quiet one the idle one")
  func timers() throws {
    var limits = ServerConfiguration.Limits(maxConnections: 10)
    limits.handshakeTimeout = 1000
    limits.idleTimeout = 5000
    let silent = try Harness(limits: limits)
    let opened = silent.loop.now
    #expect(silent.connection.nextDeadline(silent.loop) == opened + 1000)
    silent.loop.now = opened + 999
    #expect(silent.connection.deadlinePassed(silent.loop) == nil)
    silent.loop.now = opened + 1000
    #expect(silent.connection.deadlinePassed(silent.loop) == .close(.handshakeTimeout, detail: nil))

    let quiet = try Harness(limits: limits)
    quiet.loop.now += 300  // the first byte comes a while after the accept
    try quiet.send("x")
    _ = quiet.step()
    let active = quiet.loop.now
    // Starting moves the timer from the handshake deadline to the idle one.
    #expect(quiet.connection.timerNeedsUpdate)
    #expect(quiet.connection.nextDeadline(quiet.loop) == active + 5000)
    quiet.loop.now = active + 4999
    #expect(quiet.connection.deadlinePassed(quiet.loop) == nil)
    quiet.loop.now = active + 5000
    #expect(quiet.connection.deadlinePassed(quiet.loop) == .close(.idleTimeout, detail: nil))
  }

  @Test("reverse: lines come back reversed, the last one at the end of input")
  func reverse() throws {
    let harness = try Harness(.reverse)
    try harness.send("héllo\r\nwor")
    _ = harness.step()
    #expect(String(decoding: try harness.receiveAvailable(), as: UTF8.self) == "olléh\r\n")
    try harness.send("ld")
    try harness.client.shutdownOutput()
    #expect(harness.step() == .close(.clientClosed, detail: nil))
    #expect(String(decoding: try harness.receiveAvailable(), as: UTF8.self) == "dlrow")
  }

  @Test("sink: nothing back until the end of input, then one report line; completed")
  func sink() throws {
    let harness = try Harness(.sink)
    try harness.send(String(repeating: "z", count: 1000))
    _ = harness.step()
    #expect(try harness.receiveAvailable().isEmpty)
    try harness.client.shutdownOutput()
    #expect(harness.step() == .close(.completed, detail: nil))
    let line = String(decoding: try harness.receiveAvailable(), as: UTF8.self)
    #expect(SinkReport(line: line)?.bytes == 1000, "\(line)")
  }

  @Test("source --bytes: exactly that many pattern bytes, then our end, then the client's")
  func source() throws {
    let harness = try Harness(.source, sourceBytes: 100_000)
    var received: [UInt8] = []
    var next = harness.step()
    for _ in 0..<1000 where next != .wait(.readable) {
      received += try harness.receiveAvailable()
      next = harness.step()
    }
    received += try harness.receiveAvailable()
    #expect(received.count == 100_000)
    #expect(received[...] == SourcePattern.bytes[0..<100_000])
    #expect(try harness.sawEndOfStream())
    // Our side is done; the connection waits for the client's end, then completes.
    #expect(next == .wait(.readable))
    harness.client.close()
    #expect(harness.step() == .close(.completed, detail: nil))
  }

  @Test("discard drops everything; chargen starts with the RFC 864 line 0")
  func discardAndChargen() throws {
    let discard = try Harness(.discard)
    try discard.send("anything")
    #expect(discard.step() == .wait(.readable))
    #expect(try discard.receiveAvailable().isEmpty)
    #expect(discard.connection.bytesIn == 8)

    let chargen = try Harness(.chargen)
    #expect(chargen.step() == .wait([.readable, .writable]))
    let received = try chargen.receiveAvailable()
    #expect(received.count > 74)
    #expect(received[0..<74] == ChargenPattern.bytes[0..<74])
    try chargen.client.shutdownOutput()
    #expect(chargen.step() == .close(.clientClosed, detail: nil))
  }

  @Test("TLS: a write after the peer's close_notify and close fails; it never reads as 'closed'")
  func writeAfterPeerClosed() throws {
    let server = try TLSContext(
      .server(
        certificateChainFile: Locations.serverCertificate.path,
        privateKeyFile: Locations.serverKey.path),
      role: .server)
    let harness = try Harness(tls: server)
    let client = try TLSStream(
      socket: harness.client, context: try TLSClient.developmentContext(),
      serverName: "localhost")
    var done = false
    for _ in 0..<100 where !done || !harness.connection.handshakeDone {
      if case .done = try client.handshake() { done = true }
      _ = harness.step()
    }
    _ = try client.shutdown()
    var buffer = [UInt8](repeating: 0, count: 4096)
    let transport = harness.connection.transport
    var read = StreamStep.wantRead
    for _ in 0..<100 where read != .closed {
      read = try buffer.withUnsafeMutableBytes { try transport.read(into: $0) }
    }
    #expect(read == .closed, "the server did not see the close_notify")
    client.close()
    // A socket that failed stays ready: reporting `.closed` here would have the caller wait
    // for it, and spin.
    var outcome = "no error"
    for _ in 0..<100 {
      do {
        let step = try Array("x".utf8).withBytes { (bytes) throws(TransportError) in
          try transport.write(bytes)
        }
        if step == .closed {
          outcome = "a write returned .closed"
          break
        }
      } catch {
        outcome = "error: \(error)"
        break
      }
    }
    #expect(outcome.hasPrefix("error:"), "\(outcome)")
  }

  @Test("TLS: the handshake stage, then echo, then close_notify answered with close_notify")
  func tls() throws {
    let server = try TLSContext(
      .server(
        certificateChainFile: Locations.serverCertificate.path,
        privateKeyFile: Locations.serverKey.path),
      role: .server)
    let harness = try Harness(tls: server)
    let client = try TLSStream(
      socket: harness.client, context: try TLSClient.developmentContext(),
      serverName: "localhost")
    var clientDone = false
    harness.loop.now += 7000  // a slow handshake
    for _ in 0..<100 where !clientDone || !harness.connection.handshakeDone {
      if case .done = try client.handshake() { clientDone = true }
      _ = harness.step()
    }
    #expect(clientDone && harness.connection.handshakeDone)
    #expect(harness.loop.statistics.handshakesOK.current == 1)
    // The handshake counts as activity: its deadlines run from its end. First the idle
    // connection gives its buffers back, then (later) the idle timeout.
    let limits = harness.loop.limits
    let end = harness.loop.now
    #expect(harness.connection.nextDeadline(harness.loop) == end + limits.bufferRelease)
    harness.loop.now = end + limits.bufferRelease
    #expect(harness.connection.deadlinePassed(harness.loop) == nil)
    #expect(harness.connection.nextDeadline(harness.loop) == end + limits.idleTimeout)
    harness.loop.now = end
    _ = try Array("over tls".utf8).withBytes { (bytes) throws(TLSError) in try client.write(bytes) }
    _ = harness.step()
    var buffer = [UInt8](repeating: 0, count: 100)
    var reply: [UInt8] = []
    for _ in 0..<100 where reply.count < 8 {
      if case .done(let count) = try buffer.withUnsafeMutableBytes({ try client.read(into: $0) }) {
        reply += buffer[0..<count]
      }
      _ = harness.step()
    }
    #expect(String(decoding: reply, as: UTF8.self) == "over tls")
    _ = try client.shutdown()
    #expect(harness.step() == .close(.clientClosed, detail: nil))
    var answered = false
    for _ in 0..<100 where !answered {
      if case .closed = try buffer.withUnsafeMutableBytes({ try client.read(into: $0) }) {
        answered = true
      }
    }
    #expect(answered, "no close_notify back")
  }
}
