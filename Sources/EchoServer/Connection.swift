import Sockets
import TLS

/// One client connection, owned by exactly one event loop. It owns its stream (and through it
/// the socket and any `SSL`); closing the connection closes them.
final class Connection {
  enum Phase {
    /// TLS handshake under way (plaintext connections skip it).
    case handshaking
    /// Echoing: read, write back, repeat.
    case echoing
    /// The peer has finished sending: write back what is pending, then end our side.
    case draining
  }

  let stream: any ByteStream
  let peer: String
  let descriptor: Int32
  var phase: Phase
  /// Echo bytes the socket did not take yet. Empty almost always: only a connection whose
  /// peer reads slower than it writes keeps bytes here, and it reads nothing more until they
  /// are written (backpressure), so this never exceeds one read's worth.
  var pending: [UInt8] = []
  var pendingOffset = 0
  /// The epoll interest currently registered, so that unchanged interest costs no syscall.
  var interest: Epoll.Interest = .readable
  /// Set while queued to run again without waiting for epoll (its read budget ran out).
  var isScheduled = false
  var isClosed = false
  /// Whether an idle-timeout entry for this connection is in the loop's deadline heap.
  var hasIdleTimer = false
  var bytesIn = 0
  var bytesOut = 0
  let isTLS: Bool
  /// Monotonic milliseconds: when accepted, and when bytes last moved.
  let openedAt: Int64
  var lastActivity: Int64

  /// Unique within the loop: timers find their connection by descriptor and generation.
  let generation: UInt64

  init(stream: any ByteStream, peer: String, tls: Bool, now: Int64, generation: UInt64) {
    self.stream = stream
    self.peer = peer
    self.descriptor = stream.socket.descriptor
    self.isTLS = tls
    self.phase = tls ? .handshaking : .echoing
    self.openedAt = now
    self.lastActivity = now
    self.generation = generation
  }

  var hasPending: Bool { pendingOffset < pending.count }

  /// Whether the client has begun: TLS handshake done, or (plaintext, which has no handshake)
  /// a first byte received.
  var hasStarted: Bool { isTLS ? phase != .handshaking : bytesIn > 0 }

  /// Keeps the part of `bytes` the socket did not take, to write when it becomes writable.
  func keepPending(_ bytes: UnsafeRawBufferPointer) {
    pending.removeAll(keepingCapacity: false)
    pending.append(contentsOf: bytes)
    pendingOffset = 0
  }

  func close() {
    guard !isClosed else { return }
    isClosed = true
    stream.socket.close()
  }
}
