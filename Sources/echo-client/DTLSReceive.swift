import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// Waiting on a DTLS client's non-blocking socket: for a record, or for the handshake, with
/// OpenSSL's retransmission timer served meanwhile (a lost flight is sent again when it fires).
enum DTLSReceive {
  /// The payload of the next record, or nil if none came within `timeoutMilliseconds`.
  static func next(
    _ stream: TLSStream, into buffer: UnsafeMutableRawBufferPointer, timeoutMilliseconds: Int32
  ) throws -> Int? {
    let deadline = MonotonicClock.milliseconds() + Int64(timeoutMilliseconds)
    while true {
      switch try stream.read(into: buffer) {
      case .done(let count): return count
      case .closed:
        throw ClientFailure("the server ended the DTLS connection (close_notify)", status: .ioError)
      case .wantRead, .wantWrite:
        guard try wait(stream, until: deadline) else { return nil }
      }
    }
  }

  /// Waits until the socket is readable, serving the retransmission timer, or the deadline
  /// passes (false).
  static func wait(_ stream: TLSStream, until deadline: Int64) throws -> Bool {
    while true {
      let left = deadline - MonotonicClock.milliseconds()
      guard left > 0 else { return false }
      let timer = stream.retransmissionDue
      let slice = Int32(clamping: min(left, timer ?? left))
      if try stream.socket.waitUntil(writable: false, timeoutMilliseconds: slice) { return true }
      if let timer, timer <= Int64(slice) { try stream.retransmit() }
    }
  }
}
