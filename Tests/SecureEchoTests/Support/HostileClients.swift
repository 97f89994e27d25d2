import Foundation
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (no privilege needed), so a test
/// can hold hundreds of sockets, and fails in words if even that is below `needed`.
func raiseDescriptorLimit(toAtLeast needed: Int) throws {
  var limit = rlimit()
  guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
    throw TestFailure("getrlimit(RLIMIT_NOFILE): \(String(cString: strerror(errno)))")
  }
  if limit.rlim_cur < limit.rlim_max {
    limit.rlim_cur = limit.rlim_max
    guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
      throw TestFailure("setrlimit(RLIMIT_NOFILE): \(String(cString: strerror(errno)))")
    }
  }
  guard limit.rlim_cur >= rlim_t(needed) else {
    throw TestFailure(
      "this test needs \(needed) file descriptors; the hard limit is \(limit.rlim_max)")
  }
}

/// Bytes a hostile client sends.
enum HostileBytes {
  /// The start of a TLS ClientHello: a real record header claiming 512 bytes (`16 03 01 02 00`)
  /// and a ClientHello header (`01 00 01 fc 03 03`), then 100 random bytes; the other ~400
  /// never come. A server that waits for the whole record without a deadline is stuck with it.
  static func partialClientHello() throws -> Data {
    Data([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
      + (try Payload.random(count: 100))
  }
}

extension Socket {
  /// Waits up to `milliseconds` for the peer to end the connection, reading whatever arrives
  /// meanwhile. Returns how it ended, or nil if it is still open when the time is up.
  func awaitEnd(withinMilliseconds milliseconds: Int32) throws -> (data: Data, end: ConnectionEnd)?
  {
    let end = ContinuousClock.now + .milliseconds(Int(milliseconds))
    var received = Data()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let left = end - ContinuousClock.now
      let leftMilliseconds = max(
        0, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
      var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
      let ready = Glibc.poll(&entry, 1, Int32(clamping: leftMilliseconds))
      if ready < 0 && errno == EINTR { continue }
      if ready < 0 { throw SocketError("poll", errno: errno) }
      if ready == 0 { return nil }
      let result: IOResult<Int>
      do {
        result = try buffer.withUnsafeMutableBytes { try read(into: $0) }
      } catch let error as SocketError where error.isConnectionReset {
        return (received, .reset)
      }
      switch result {
      case .processed(0): return (received, .eof)
      case .processed(let count): received.append(contentsOf: buffer[0..<count])
      case .wouldBlock: continue
      }
    }
  }
}

/// Whether a TCP connection to `port` is refused (ECONNREFUSED) right now. A connection that
/// is accepted instead is closed at once.
func connectionIsRefused(host: String = "127.0.0.1", port: UInt16) throws -> Bool {
  do {
    try connectTCP(host: host, port: port).close()
    return false
  } catch let error as SocketError where error.code == ECONNREFUSED {
    return true
  }
}

/// One complete echo in `mode` with a fresh connection, failing unless the reply is exact.
func echoOnce(
  _ mode: EchoMode, port: UInt16, context: TLSContext?, payload: Data = Data("ping\n".utf8)
) throws {
  let connection = try connectEcho(mode, port: port, context: context)
  try connection.send(payload)
  let reply = try connection.receive(exactly: payload.count)
  try connection.close()
  guard reply == payload else {
    throw TestFailure("wrong echo: \(reply.count) bytes, not the \(payload.count) sent")
  }
}

/// Opens a connection in `mode` (TLS: handshake done) and returns its byte stream, for clients
/// that drive the stream themselves.
func connectStream(_ mode: EchoMode, port: UInt16, context: TLSContext?) throws -> Transport {
  switch mode {
  case .plaintext: return .plain(try connectTCP(port: port))
  case .tls:
    guard let context else { throw TestFailure("a TLS connection needs a context") }
    return .tls(try TLSClient(port: port, context: context).stream)
  }
}

/// What a client that writes and never reads managed to push.
struct PushOutcome: Sendable {
  /// Bytes the stream accepted (plaintext bytes, before TLS framing).
  var bytes: Int
  /// True if it stopped because the server stopped taking bytes, false if it reached the limit.
  var stalled: Bool
}

/// Writes random bytes on `stream` as fast as it takes them, never reading, until `limit` bytes
/// are sent or no byte has gone out for `stall`. The socket is made non-blocking, so a server
/// that applies backpressure stops the loop instead of blocking it forever.
func pushWithoutReading(_ stream: Transport, limit: Int, stall: Duration) throws
  -> PushOutcome
{
  try stream.socket.setNonBlocking(true)
  let chunk = try Payload.random(count: 64 * 1024)
  var sent = 0
  // Within `chunk`: after `.wantWrite`, TLS wants the same bytes offered again.
  var offset = 0
  var lastProgress = ContinuousClock.now
  try chunk.withUnsafeBytes { bytes in
    while sent < limit {
      let count = min(bytes.count - offset, limit - sent)
      switch try stream.write(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])) {
      case .done(let written):
        sent += written
        offset = (offset + written) % bytes.count
        lastProgress = .now
      case .wantWrite, .wantRead:
        // Waiting for writability either way: this client never reads.
        if ContinuousClock.now - lastProgress >= stall { return }
        try stream.socket.waitUntil(writable: true, timeoutMilliseconds: 100)
      case .closed:
        throw TestFailure("the server closed the connection after \(sent) bytes")
      }
    }
  }
  return PushOutcome(bytes: sent, stalled: sent < limit)
}
