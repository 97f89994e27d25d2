import Sockets

/// The reflection guard every loop consults, behind one lock taken once per batch.
final class SharedReflectionGuard: Sendable {
  private let state: ThreadLock<ReflectionGuard>

  init(_ limits: ReflectionGuard.Limits) {
    state = ThreadLock(ReflectionGuard(limits, now: MonotonicClock.milliseconds()))
  }

  func withLock<T>(_ body: (inout ReflectionGuard) -> T) -> T {
    state.withLock { body(&$0) }
  }
}

/// `--udp`: every datagram back to its sender, whole and unchanged (RFC 862), on the loops'
/// threads. Each loop has a UDP socket of its own per address, all sharing the port
/// (SO_REUSEPORT), so the kernel keeps each client on one loop and its echoes in order; the
/// server owns them. A loop reads up to `capacity` datagrams with one `recvmmsg`, asks the
/// guard about each (the guard is shared: a source's limit holds whatever its port), and
/// sends the echoes with one `sendmmsg` from the buffer they came in. Nothing is kept between
/// batches: a datagram service holds no per-client state but the guard's buckets.
final class UDPEcho {
  /// This loop's sockets' descriptors (borrowed) and the addresses they are bound to.
  let sockets: [Int32: SocketAddress]
  private let guardian: SharedReflectionGuard
  private let batch: DatagramBatch
  /// Batches one loop takes from a socket before the loop's other work gets a turn.
  static let batchesPerWakeUp = 8

  init(sockets: [Int32: SocketAddress], guardian: SharedReflectionGuard) {
    self.sockets = sockets
    self.guardian = guardian
    // Every socket reports the local address of each datagram: wildcard ones need it for the
    // reply, and all of them for the guard's own-address check.
    batch = DatagramBatch(packetInfo: true)
  }

  func handles(_ descriptor: Int32) -> Bool { sockets[descriptor] != nil }

  /// Reads and echoes what `descriptor` holds, a few batches at most.
  func serve(_ descriptor: Int32, _ loop: LoopContext) {
    guard let bound = sockets[descriptor] else { return }
    let statistics = loop.statistics
    for _ in 0..<Self.batchesPerWakeUp {
      let count: Int
      do { count = try batch.receive(from: descriptor) } catch {
        // An error queued on the socket (an ICMP error of an earlier reply): it is consumed.
        loop.logger.debug("UDP receive failed: \(error)")
        continue
      }
      guard count > 0 else { return }
      guardian.withLock { guardian in
        for index in 0..<count {
          let datagram = batch.datagram(index)
          statistics.datagramsIn.add(1)
          statistics.datagramBytesIn.add(datagram.bytes.count)
          let verdict = guardian.judge(
            datagram.bytes.count, from: datagram.peer, truncated: datagram.truncated,
            localPort: bound.port, now: loop.now)
          if let drop = verdict {
            statistics.datagramDropped(drop)
          } else {
            batch.mark(index)
          }
        }
      }
      let echoed = batch.echoMarked(on: descriptor)
      statistics.datagramsOut.add(echoed.sent)
      statistics.datagramBytesOut.add(echoed.bytes)
      for _ in 0..<echoed.failed { statistics.datagramDropped(.sendFailed) }
      if count < batch.capacity { return }
    }
  }
}
