import Faults
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

  /// The stream faults of this connection, set by the fault stage; nil for almost every
  /// connection, whose bytes go out as soon as the socket takes them. With one, output is held
  /// until the faults let it go, up to `shapedBound` bytes before the service stops reading.
  var shaper: FaultShaper?
  static let shapedBound = LoopContext.bufferSize

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
    var space = buffer
    if shaper != nil, let allowed = shaper!.readAllowance(now: loop.now) {
      // Throttled or stalled: the connection waits for its timer, not for epoll.
      guard allowed > 0 else { return .wantRead }
      if allowed < buffer.count {
        space = UnsafeMutableRawBufferPointer(rebasing: buffer[..<allowed])
      }
    }
    let step = try transport.read(into: space)
    if case .done(let count) = step {
      received(count, loop)
      shaper?.didRead(count, now: loop.now)
      inputDrained =
        switch transport {
        case .plain: count < space.count
        case .tls(let stream): stream.inputDrained
        }
    }
    return step
  }

  /// Whether the faults let the service read now (a throttled or stalled connection must not
  /// wait for epoll's readable: the socket would stay readable and wake the loop for nothing).
  mutating func mayRead(_ loop: LoopContext) -> Bool {
    guard shaper != nil, let allowed = shaper!.readAllowance(now: loop.now) else { return true }
    return allowed > 0
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
    if shaper != nil {
      queue(bytes, loop)
      return try release(loop, untilRoom: true)
    }
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

  /// Adds `bytes` to the output after what is pending: shaped, as a part the faults time.
  mutating func queue(_ bytes: UnsafeRawBufferPointer, _ loop: LoopContext) {
    keep(bytes)
    guard shaper != nil else { return }
    let spread = shaper!.jitter
    shaper!.queued(
      bytes.count, now: loop.now, jitter: spread > 0 ? Int.random(in: -spread...spread) : 0)
  }

  /// Before a service reads more: nil when it may (nothing pending; shaped, room under the
  /// bound), else the readiness to wait for.
  mutating func makeRoom(_ loop: LoopContext) throws(TransportError) -> Epoll.Interest? {
    guard hasPending else { return nil }
    return shaper == nil ? try flush(loop) : try release(loop, untilRoom: true)
  }

  /// Copies the first `bytes.count` pending bytes (at most `pendingCount`) into `bytes`.
  func takePending(into bytes: inout [UInt8]) {
    let count = min(bytes.count, pendingCount)
    bytes.replaceSubrange(0..<count, with: pending[pendingOffset..<(pendingOffset + count)])
  }

  /// Pending output that will never be written (a fault ends the connection).
  mutating func discardPending() {
    pending = []
    pendingOffset = 0
    shaper?.discardQueued()
  }

  /// Writes what is pending. Returns nil once it is all written, else the readiness to wait for
  /// (none: shaped output held back until the connection's timer).
  /// Over TLS, a write that could not finish is retried with the same bytes, as OpenSSL needs.
  mutating func flush(_ loop: LoopContext) throws(TransportError) -> Epoll.Interest? {
    if shaper != nil { return try release(loop, untilRoom: false) }
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

  /// Shaped output: writes what the faults let go now, each part as one write (over TLS, the
  /// records of a `slice` are its chunks), a KeyUpdate first when one is owed. nil once it is
  /// all written (`untilRoom`: once it is under the bound); else the socket's readiness to
  /// wait for, or none when only time will let more go. A write that could not finish is
  /// retried with at least as many bytes: an allowance only grows while nothing is written.
  private mutating func release(
    _ loop: LoopContext, untilRoom: Bool
  ) throws(TransportError) -> Epoll.Interest? {
    shaper!.socketFull = false
    while hasPending {
      let allowed = min(pendingCount, shaper!.allowance(now: loop.now))
      if allowed == 0 { break }
      if let requested = shaper!.takeKeyUpdate() {
        _ = transport.tlsStream?.updateKeys(requested: requested)
      }
      let start = pendingOffset
      let step = try pending.withBytes { (bytes) throws(TransportError) in
        try transport.write(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + allowed)]))
      }
      switch step {
      case .done(let count):
        pendingOffset += count
        wrote(count, loop)
        shaper!.wrote(count, now: loop.now)
      case .wantWrite, .closed:
        shaper!.socketFull = true
        return .writable
      case .wantRead:
        shaper!.socketFull = true
        return .readable
      }
    }
    if !hasPending {
      pending = []
      pendingOffset = 0
      return nil
    }
    return untilRoom && shaper!.hasRoom(bound: Self.shapedBound) ? nil : []
  }
}
