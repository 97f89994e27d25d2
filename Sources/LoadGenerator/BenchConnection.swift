import Sockets
import TLS

/// One load connection (or, in handshakes mode, one slot that reconnects), owned by one loop.
final class BenchConnection {
  enum Phase {
    case connecting, handshaking, exchanging, held
  }

  let slot: Int
  /// Shifts this connection's place in the pattern, so that connections send different bytes
  /// and a byte delivered to the wrong connection is caught.
  let seed: Int
  var socket: Socket
  var stream: (any ByteStream)?
  var phase: Phase = .connecting
  var interest: Epoll.Interest = .writable
  /// Queued to run again before the next wait (its turn ran out).
  var isScheduled = false
  /// Stream offsets of the next byte to send and the next byte expected back.
  var sent = 0
  var received = 0
  /// Monotonic nanoseconds: when the connection (handshakes) or message (latency) started.
  var startedAt: UInt64 = 0
  /// Handshakes mode with --resume: the session of this slot's previous connection.
  var session: TLSSession?

  init(slot: Int, socket: Socket, startedAt: UInt64) {
    self.slot = slot
    self.seed = (slot &* 7919) % Pattern.period
    self.socket = socket
    self.startedAt = startedAt
  }

  var descriptor: Int32 { socket.descriptor }
}
