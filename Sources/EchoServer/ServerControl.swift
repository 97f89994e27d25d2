import Sockets
import Synchronization
import TLS

/// What the server's threads share: the lifecycle phase, the connection count behind
/// `--max-connections`, and the TLS context new handshakes use (replaced on reload).
final class ServerControl: Sendable {
  enum Phase: Int {
    /// Accepting and serving.
    case running
    /// No longer accepting; open connections may finish until the drain deadline.
    case draining
    /// Close everything now.
    case stopping
  }

  let maxConnections: Int
  private let phase = Atomic<Int>(Phase.running.rawValue)
  private let connections = Atomic<Int>(0)
  private let tlsContext: ThreadLock<TLSContext?>
  private let runningLoops = Atomic<Int>(0)
  /// Signalled when the last loop returns.
  let finished: EventFD

  init(maxConnections: Int, tls: TLSContext?) throws(SocketError) {
    self.maxConnections = maxConnections
    self.tlsContext = ThreadLock(tls)
    self.finished = try EventFD()
  }

  func expectLoops(_ count: Int) { runningLoops.store(count, ordering: .relaxed) }

  /// Called by each loop thread as its last act.
  func loopReturned() {
    if runningLoops.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
      finished.signal()
    }
  }

  var currentPhase: Phase { Phase(rawValue: phase.load(ordering: .acquiring)) ?? .stopping }

  /// Moves to `next` unless the server is already further along.
  func advance(to next: Phase) {
    var current = phase.load(ordering: .relaxed)
    while current < next.rawValue {
      let (exchanged, original) = phase.compareExchange(
        expected: current, desired: next.rawValue, ordering: .acquiringAndReleasing)
      if exchanged { return }
      current = original
    }
  }

  /// The context for the next handshake. Taken once per connection, never on the data path.
  var currentTLS: TLSContext? { tlsContext.withLock { $0 } }

  func replaceTLS(_ context: TLSContext) { tlsContext.withLock { $0 = context } }

  /// Counts a new connection in, or returns false if the server is full.
  func admitConnection() -> Bool {
    if connections.wrappingAdd(1, ordering: .relaxed).newValue <= maxConnections { return true }
    connections.wrappingSubtract(1, ordering: .relaxed)
    return false
  }

  func releaseConnection() { connections.wrappingSubtract(1, ordering: .relaxed) }
}
