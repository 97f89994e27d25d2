import Sockets
import StreamServices
import TLS

/// One load connection (or, in handshakes mode, one slot that reconnects), owned by one loop.
final class BenchConnection {
  enum Phase {
    case connecting, handshaking, exchanging, held
    /// Sink mode after the run: our side is closed, the server's report is awaited.
    case awaitingReport
  }

  let slot: Int
  /// Which of the plan's addresses it connects to.
  let addressIndex: Int
  /// Shifts this connection's place in the pattern, so that connections send different bytes
  /// and a byte delivered to the wrong connection is caught.
  let seed: Int
  let socket: Socket
  /// Set once connected.
  var transport: Transport?
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
  /// The length of a write that could not finish (TLS wants it again, with the same bytes,
  /// before anything else is sent); 0 when none.
  var unfinishedWrite = 0
  /// Sink mode: our side has been closed (close_notify or FIN sent), and the server's answer.
  var outputClosed = false
  var report: [UInt8] = []

  init(slot: Int, addressIndex: Int, socket: Socket, startedAt: UInt64) {
    self.slot = slot
    self.addressIndex = addressIndex
    self.seed = SourcePattern.seed(slot: slot)
    self.socket = socket
    self.startedAt = startedAt
  }

  var descriptor: Int32 { socket.descriptor }
  var isOpen: Bool { socket.isOpen }
}

/// Connections in the order their deadlines come due. Every entry of one queue has the same
/// timeout, so they come due in the order they were added: a FIFO, O(1) per connection. The
/// references are weak: a connection that has closed is freed at once, not when its entry
/// comes due.
struct DeadlineQueue {
  private struct Entry {
    var deadline: UInt64
    weak var connection: BenchConnection?
  }

  private var entries: [Entry] = []
  private var head = 0

  mutating func append(_ connection: BenchConnection, deadline: UInt64) {
    entries.append(Entry(deadline: deadline, connection: connection))
  }

  var nextDeadline: UInt64? { head < entries.count ? entries[head].deadline : nil }

  /// Removes the first entry if it is due at `now`, and returns its connection if that one is
  /// still alive (nil for the entry of one that is gone).
  mutating func popDue(at now: UInt64) -> BenchConnection?? {
    guard head < entries.count, entries[head].deadline <= now else { return nil }
    let connection = entries[head].connection
    head += 1
    if head > 1024 && head * 2 > entries.count {
      entries.removeFirst(head)
      head = 0
    }
    return connection
  }
}
