import Sockets
import TLS

/// The I/O half of a connection: its transport, the bytes it still owes the peer, and what it
/// moved. The stages and services move bytes only through it, so the counters, the activity
/// clock and backpressure are kept in one place.
struct Channel {
  let transport: Transport
  /// Output the socket did not take yet. Empty almost always: only a connection whose peer
  /// reads slower than it sends keeps bytes here, and its service reads nothing more until they
  /// are written (backpressure), so this never exceeds one read's worth.
  private var pending: [UInt8] = []
  private var pendingOffset = 0
  private(set) var bytesIn = 0
  private(set) var bytesOut = 0
  /// Monotonic milliseconds of the last byte moved either way.
  private(set) var lastActivity: Int64

  /// The client's address, for trace lines (the PROXY header's once it has been read).
  var peer: String

  init(_ transport: Transport, peer: String, now: Int64) {
    self.transport = transport
    self.peer = peer
    self.lastActivity = now
  }

  var hasPending: Bool { pendingOffset < pending.count }

  /// Bytes kept for the socket.
  var pendingCount: Int { pending.count - pendingOffset }

  /// The last read found the socket empty: the next would only find EAGAIN, so a service
  /// that has answered what it read waits for epoll instead (one read per message, not two).
  private(set) var inputDrained = false

  /// Reads into `buffer`, counting what came.
  mutating func read(
    into buffer: UnsafeMutableRawBufferPointer, _ loop: LoopContext
  ) throws(TransportError) -> StreamStep {
    let step = try transport.read(into: buffer)
    if case .done(let count) = step {
      received(count, loop)
      inputDrained =
        switch transport {
        case .plain: count < buffer.count
        case .tls(let stream): stream.inputDrained
        }
    }
    return step
  }

  /// Books bytes that arrived by another way than `read` (splice).
  mutating func received(_ count: Int, _ loop: LoopContext) {
    bytesIn += count
    lastActivity = loop.now
    loop.statistics.bytesIn.add(count)
    if loop.logsTrace {
      loop.logger.trace("read", metadata: ["peer": "\(peer)", "bytes": .stringConvertible(count)])
    }
  }

  /// The handshake finished: it counts as activity, so that a slow handshake does not leave
  /// the idle deadline already passed.
  mutating func touch(_ loop: LoopContext) { lastActivity = loop.now }

  /// Books bytes that left by another way than `send` (splice, a pattern written in place).
  mutating func wrote(_ count: Int, _ loop: LoopContext) {
    bytesOut += count
    lastActivity = loop.now
    loop.statistics.bytesOut.add(count)
    if loop.logsTrace {
      loop.logger.trace("wrote", metadata: ["peer": "\(peer)", "bytes": .stringConvertible(count)])
    }
  }

  /// Writes `bytes`; what the socket does not take now is kept to be flushed later. Returns nil
  /// when everything was written, else the readiness to wait for.
  mutating func send(
    _ bytes: UnsafeRawBufferPointer, _ loop: LoopContext
  ) throws(TransportError) -> Epoll.Interest? {
    precondition(!hasPending, "sending past pending output would reorder bytes")
    var offset = 0
    while offset < bytes.count {
      let step = try transport.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
      switch step {
      case .done(let count):
        offset += count
        wrote(count, loop)
      case .wantWrite, .wantRead, .closed:
        // `.closed` never comes from a write (Transport turns it into EPIPE).
        keep(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        return step == .wantRead ? .readable : .writable
      }
    }
    return nil
  }

  /// Keeps `bytes` to write after what is already pending.
  mutating func keep(_ bytes: UnsafeRawBufferPointer) {
    if !hasPending {
      pending.removeAll(keepingCapacity: false)
      pendingOffset = 0
    }
    pending.append(contentsOf: bytes)
  }

  /// Writes what is pending. Returns nil once it is all written, else the readiness to wait for.
  /// Over TLS, a write that could not finish is retried with the same bytes, as OpenSSL needs.
  mutating func flush(_ loop: LoopContext) throws(TransportError) -> Epoll.Interest? {
    while hasPending {
      let step = try pending.withBytes { (bytes) throws(TransportError) in
        try transport.write(UnsafeRawBufferPointer(rebasing: bytes[pendingOffset...]))
      }
      switch step {
      case .done(let count):
        pendingOffset += count
        wrote(count, loop)
      case .wantWrite, .closed: return .writable
      case .wantRead: return .readable
      }
    }
    // Give the memory back: a connection that needed it once rarely needs it again soon.
    pending = []
    pendingOffset = 0
    return nil
  }
}
