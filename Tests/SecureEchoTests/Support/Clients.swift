import Foundation
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// How long one blocking read or write on a test connection may take before the test fails:
/// long enough for a loaded machine, short enough that a server that stopped answering fails
/// the test well within its time limit.
let ioTimeoutSeconds = 15

/// Connects a blocking TCP socket to `host:port` whose reads and writes give up after
/// `ioTimeoutSeconds` (SO_RCVTIMEO/SO_SNDTIMEO), so a silent server cannot hang a test.
func connectTCP(host: String = "127.0.0.1", port: UInt16) throws -> Socket {
  guard let address = SocketAddress(numericHost: host, port: port) else {
    throw TestFailure("not a numeric address: \(host)")
  }
  let socket = try Socket.connect(to: [address])
  var timeout = timeval(tv_sec: ioTimeoutSeconds, tv_usec: 0)
  for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
    let result = setsockopt(
      socket.descriptor, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
    if result != 0 { throw SocketError("setsockopt(timeout)", errno: errno) }
  }
  return socket
}

/// How a connection ended, seen from the client.
enum ConnectionEnd: Equatable {
  /// An orderly close (FIN).
  case eof
  /// An abrupt one (RST).
  case reset
}

extension Socket {
  func send(_ data: Data) throws {
    try data.withUnsafeBytes { try writeAll($0) }
  }

  /// Reads exactly `count` bytes; fails if the peer closes first or stays silent too long.
  func receive(exactly count: Int) throws -> Data {
    var received = Data()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while received.count < count {
      let wanted = min(buffer.count, count - received.count)
      let result = try buffer.withUnsafeMutableBytes {
        try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted]))
      }
      switch result {
      case .processed(0):
        throw TestFailure("connection closed after \(received.count) of \(count) bytes")
      case .processed(let n):
        received.append(contentsOf: buffer[0..<n])
      case .wouldBlock:
        throw TestFailure(
          "no data for \(ioTimeoutSeconds) s after \(received.count) of \(count) bytes")
      }
    }
    return received
  }

  /// Reads until the peer closes, returning what came and how the connection ended.
  func receiveUntilClosed() throws -> (data: Data, end: ConnectionEnd) {
    guard let ended = try awaitEnd(withinMilliseconds: Int32(ioTimeoutSeconds * 1000)) else {
      throw TestFailure("the connection stayed open for \(ioTimeoutSeconds) s without closing")
    }
    return ended
  }

}

/// A blocking TLS client connection made with the project's own TLS library.
final class TLSClient {
  let stream: TLSStream

  /// A client context that trusts only the development CA and verifies the server.
  static func developmentContext() throws -> TLSContext {
    try Locations.requireDevelopmentCertificates()
    return try TLSContext(
      .client(trustedCAFile: Locations.caCertificate.path, verifyPeer: true), role: .client)
  }

  /// Connects and completes the handshake, checking the certificate against `serverName`.
  convenience init(
    host: String = "127.0.0.1", port: UInt16, context: TLSContext,
    serverName: String? = "localhost"
  ) throws {
    try self.init(
      over: try connectTCP(host: host, port: port), context: context,
      serverName: serverName)
  }

  /// Completes the handshake over a connection that has already carried other bytes (a PROXY
  /// header).
  init(over socket: Socket, context: TLSContext, serverName: String? = "localhost") throws {
    ignoreBrokenPipes()
    stream = try TLSStream(socket: socket, context: context, serverName: serverName)
    try handshake()
  }

  private func handshake() throws {
    switch try stream.handshake() {
    case .done: return
    case .wantRead, .wantWrite:
      throw TestFailure("TLS handshake: no answer for \(ioTimeoutSeconds) s")
    case .closed: throw TestFailure("TLS handshake: the server closed the connection")
    }
  }

  func send(_ data: Data) throws {
    try data.withUnsafeBytes { try Transport.tls(stream).sendAll($0) }
  }

  func receive(exactly count: Int) throws -> Data {
    var received = Data()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while received.count < count {
      let wanted = min(buffer.count, count - received.count)
      let result = try buffer.withUnsafeMutableBytes {
        try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted]))
          as TLSResult<Int>
      }
      switch result {
      case .done(let n): received.append(contentsOf: buffer[0..<n])
      case .closed:
        throw TestFailure("close_notify after \(received.count) of \(count) bytes")
      case .wantRead, .wantWrite:
        throw TestFailure(
          "no data for \(ioTimeoutSeconds) s after \(received.count) of \(count) bytes")
      }
    }
    return received
  }

  /// Sends close_notify and reads on: true when the server answered with its own close_notify
  /// (the orderly TLS close the server promises), false when it just dropped the connection.
  /// Bytes arriving instead of close_notify are an error.
  func closeGracefully() throws -> Bool {
    defer { stream.socket.close() }
    switch try stream.shutdown() {
    case .done(true): return true
    case .done(false): break
    case .wantRead, .wantWrite, .closed:
      throw TestFailure("TLS shutdown did not complete")
    }
    var buffer = [UInt8](repeating: 0, count: 4096)
    do {
      switch try buffer.withUnsafeMutableBytes({ try stream.read(into: $0) as TLSResult<Int> }) {
      case .closed: return true
      case .done(let n): throw TestFailure("\(n) unexpected bytes after our close_notify")
      case .wantRead, .wantWrite:
        throw TestFailure("no close_notify or close within \(ioTimeoutSeconds) s")
      }
    } catch let error as TLSError where error.kind == .uncleanEOF || error.kind == .io {
      return false
    }
  }
}

/// What one TLS client saw: the server's certificate, the echo, and how the server closed.
struct TLSExchange: Sendable {
  var verification: String
  var peerSubject: String?
  var reply: Data
  /// The server answered our close_notify with its own.
  var answeredCloseNotify: Bool
}

/// Connects, verifies the server as `localhost`, sends `payload`, reads as many bytes back and
/// closes with close_notify.
func exchangeOverTLS(
  host: String = "127.0.0.1", port: UInt16, context: TLSContext, payload: Data
) throws -> TLSExchange {
  let client = try TLSClient(host: host, port: port, context: context)
  try client.send(payload)
  let reply = try client.receive(exactly: payload.count)
  return TLSExchange(
    verification: client.stream.verificationResult,
    peerSubject: client.stream.peerCertificateSubject, reply: reply,
    answeredCloseNotify: try client.closeGracefully())
}

/// One echo connection in either mode, so a test can treat TLS and plaintext alike.
protocol EchoConnection {
  func send(_ data: Data) throws
  func receive(exactly count: Int) throws -> Data
  func close() throws
}

// `Socket.close()` already fits: it cannot fail.
extension Socket: EchoConnection {}

extension TLSClient: EchoConnection {
  func close() throws { _ = try closeGracefully() }
}

/// Connects (and, for TLS, completes the handshake) in `mode`.
func connectEcho(
  _ mode: EchoMode, host: String = "127.0.0.1", port: UInt16, context: TLSContext?
) throws -> any EchoConnection {
  switch mode {
  case .plaintext: return try connectTCP(host: host, port: port)
  case .tls:
    guard let context else { throw TestFailure("a TLS connection needs a context") }
    return try TLSClient(host: host, port: port, context: context)
  }
}

extension Socket {
  /// Sends `payload` and reads its echo at the same time, in this one thread: the socket is
  /// made non-blocking and polled, so a payload larger than the socket buffers neither
  /// deadlocks against an echo server's backpressure nor needs a second thread on the socket.
  func exchangeDuplex(_ payload: Data) throws -> Data {
    try setNonBlocking(true)
    var sent = 0
    var received = Data()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while received.count < payload.count {
      var progressed = false
      if sent < payload.count {
        let result = try payload.withUnsafeBytes { bytes in
          try write(
            UnsafeRawBufferPointer(rebasing: bytes[sent..<min(payload.count, sent + 65536)]))
        }
        if case .processed(let count) = result {
          sent += count
          progressed = true
        }
      }
      let result = try buffer.withUnsafeMutableBytes { try read(into: $0) }
      switch result {
      case .processed(0):
        throw TestFailure("EOF after \(received.count) of \(payload.count) bytes")
      case .processed(let count):
        received.append(contentsOf: buffer[0..<count])
        progressed = true
      case .wouldBlock: break
      }
      if !progressed {
        var entry = pollfd(
          fd: descriptor, events: Int16(POLLIN | (sent < payload.count ? POLLOUT : 0)),
          revents: 0)
        guard poll(&entry, 1, Int32(ioTimeoutSeconds * 1000)) > 0 else {
          throw TestFailure("no progress for \(ioTimeoutSeconds) s at \(received.count) bytes")
        }
      }
    }
    return received
  }
}

/// Binds `socket` to a kernel-chosen loopback port without listening: a connection to it is
/// refused, and no other test can be given that port while the socket is held.
func bindWithoutListening(_ socket: Socket) throws {
  try SocketAddress(numericHost: "127.0.0.1", port: 0)!.withSockAddr {
    (pointer, length) throws(SocketError) in
    guard bind(socket.descriptor, pointer, length) == 0 else {
      throw SocketError("bind", errno: errno)
    }
  }
}
