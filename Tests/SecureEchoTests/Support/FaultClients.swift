import Foundation
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// How a TLS connection ended, seen from the client.
enum TLSEnd: Equatable, CustomStringConvertible {
  /// close_notify.
  case closeNotify
  /// TCP FIN without close_notify (or in the middle of a record).
  case unclean
  /// RST.
  case reset
  case error(String)

  var description: String {
    switch self {
    case .closeNotify: "close_notify"
    case .unclean: "FIN without close_notify"
    case .reset: "reset"
    case .error(let text): "error: \(text)"
    }
  }
}

/// Milliseconds since `start`.
func milliseconds(since start: ContinuousClock.Instant) -> Int {
  let elapsed = ContinuousClock.now - start
  return Int(
    elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
}

extension TLSClient {
  /// Reads until the server ends the connection: what came, and how it ended.
  func readToEnd() throws -> (data: Data, end: TLSEnd) {
    var received = Data()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let result: TLSResult<Int>
      do {
        result = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
      } catch let error as TLSError {
        switch error.kind {
        case .uncleanEOF: return (received, .unclean)
        case .io where error.code == ECONNRESET: return (received, .reset)
        default: return (received, .error(error.description))
        }
      }
      switch result {
      case .done(let count): received.append(contentsOf: buffer[0..<count])
      case .closed: return (received, .closeNotify)
      case .wantRead, .wantWrite:
        throw TestFailure("no end for \(ioTimeoutSeconds) s after \(received.count) bytes")
      }
    }
  }
}

/// One thread, one connection: sends `payload` while reading what comes back, over a
/// non-blocking socket, noting how much had come at each read (milliseconds since `start`).
/// Ends once `expecting` bytes came, or the server ended the connection.
func exchangeNoting(
  _ transport: Transport, _ payload: Data, expecting: Int, start: ContinuousClock.Instant
) throws -> (reply: Data, samples: [(milliseconds: Int, total: Int)]) {
  try transport.socket.setNonBlocking(true)
  defer { try? transport.socket.setNonBlocking(false) }
  var sent = 0
  var reply = Data()
  var samples: [(milliseconds: Int, total: Int)] = []
  var buffer = [UInt8](repeating: 0, count: 64 * 1024)
  let deadline = Deadline(seconds: 60)
  while reply.count < expecting {
    var progressed = false
    var wantsWrite = false
    if sent < payload.count {
      let step = try payload.withUnsafeBytes { bytes in
        try transport.write(
          UnsafeRawBufferPointer(rebasing: bytes[sent..<min(payload.count, sent + 16_384)]))
      }
      switch step {
      case .done(let count):
        sent += count
        progressed = true
      case .wantWrite: wantsWrite = true
      case .wantRead, .closed: break
      }
    }
    switch try buffer.withUnsafeMutableBytes({ try transport.read(into: $0) }) {
    case .done(let count):
      reply.append(contentsOf: buffer[0..<count])
      samples.append((milliseconds(since: start), reply.count))
      progressed = true
    case .closed: return (reply, samples)
    case .wantRead, .wantWrite: break
    }
    if !progressed {
      guard !deadline.hasPassed else {
        throw TestFailure("no progress: \(sent) bytes sent, \(reply.count) received")
      }
      var entry = pollfd(
        fd: transport.socket.descriptor, events: Int16(POLLIN | (wantsWrite ? POLLOUT : 0)),
        revents: 0)
      _ = poll(&entry, 1, 100)
    }
  }
  return (reply, samples)
}

/// Whether neither a byte nor the end comes on `transport` for `window` ms (over TLS,
/// records without data, such as session tickets, do not count).
func staysQuiet(_ transport: Transport, forMilliseconds window: Int) throws -> Bool {
  try transport.socket.setNonBlocking(true)
  defer { try? transport.socket.setNonBlocking(false) }
  let start = ContinuousClock.now
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    switch try buffer.withUnsafeMutableBytes({ try transport.read(into: $0) }) {
    case .done, .closed: return false
    case .wantRead, .wantWrite: break
    }
    let left = window - milliseconds(since: start)
    if left <= 0 { return true }
    var entry = pollfd(fd: transport.socket.descriptor, events: Int16(POLLIN), revents: 0)
    _ = poll(&entry, 1, Int32(left))
  }
}
