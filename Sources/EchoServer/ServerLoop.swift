import CLinux
import Logging
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// One event loop: a thread, its epoll set, its timers and the connections it accepted. Nothing
/// here is shared with other loops, so the data path takes no lock.
final class ServerLoop {
  /// How many reads one connection may do before the others get a turn.
  static let readBudget = 16
  /// One read's worth: larger than a TLS record (16 KiB), so one TLS read drains a record.
  static let bufferSize = 64 * 1024

  private let epoll: Epoll
  /// Borrowed from the server, which keeps them open until every loop has been joined.
  private var listeners: [Int32]
  private let wakeup: EventFD
  private let control: ServerControl
  private let limits: ServerConfiguration.Limits
  let statistics = LoopStatistics()
  private var logger: Logger
  private var connections = DescriptorTable<Connection>()
  /// Connections that used up their read budget and run again before the next wait.
  private var scheduled: [Connection] = []
  private var timers = DeadlineHeap()
  /// The loop's clock, read once per wake-up: timeouts need no finer grain.
  private var now = monotonicMilliseconds()
  private var drainDeadline: Int64?
  /// When to give freed memory back to the system, once the loop is quiet; nil when nothing
  /// was freed since the last time.
  private var trimDeadline: Int64?
  /// Listeners out of epoll after an accept failure, back at `acceptResumeAt`.
  private var pausedListeners: [Int32] = []
  private var acceptResumeAt: Int64?
  private var lastAcceptWarning = Int64.min / 2
  /// Numbers connections for the timers (see `DeadlineHeap`).
  private var generations: UInt64 = 0
  /// Plaintext: the pipe for zero-copy echo (splice); nil to echo through `buffer` instead.
  private let splicePipe: SplicePipe?
  /// Read scratch space shared by every connection: a read is written back at once, so only
  /// bytes the socket did not take are copied out (into `Connection.pending`).
  private let buffer: UnsafeMutableRawBufferPointer
  /// A descriptor held in reserve: when the process runs out of descriptors, closing it lets the
  /// loop accept and close the waiting connection instead of spinning on a listener that stays
  /// readable.
  private var spareDescriptor: Int32

  init(
    index: Int, listeners: [Int32], wakeup: EventFD, control: ServerControl,
    limits: ServerConfiguration.Limits, logger: Logger
  ) throws(SocketError) {
    self.epoll = try Epoll()
    self.listeners = listeners
    self.wakeup = wakeup
    self.control = control
    self.limits = limits
    self.logger = logger
    self.logger[metadataKey: "loop"] = "\(index)"
    self.buffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
    self.splicePipe =
      control.currentTLS == nil && getenv("SECUREECHO_NO_SPLICE") == nil ? try? SplicePipe() : nil
    self.spareDescriptor = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
    for listener in listeners {
      try epoll.add(listener, [.readable, .exclusive], token: UInt64(listener))
    }
    try epoll.add(wakeup.descriptor, .readable, token: UInt64(wakeup.descriptor))
  }

  deinit {
    for connection in connections.elements { connection.close() }
    buffer.deallocate()
    if spareDescriptor >= 0 { Glibc.close(spareDescriptor) }
  }

  /// Serves until told to stop, or until a drain has closed the last connection.
  func run() {
    while true {
      switch control.currentPhase {
      case .running: break
      case .draining: if beginOrContinueDrain() { return }
      case .stopping:
        closeAll(because: .shutdown)
        return
      }
      let ready: Int
      do {
        ready = try epoll.wait(timeoutMilliseconds: waitTimeout())
      } catch {
        logger.critical("event loop failed: \(error)")
        closeAll(because: .error)
        return
      }
      now = monotonicMilliseconds()
      for index in 0..<ready { handle(Int32(truncatingIfNeeded: epoll.token(at: index))) }
      runScheduled()
      expireTimers()
      resumeAcceptingIfDue()
      trimIfQuiet(hadEvents: ready > 0)
    }
  }

  /// Returns true when the loop is done: nothing left open, or the drain deadline passed.
  private func beginOrContinueDrain() -> Bool {
    if drainDeadline == nil {
      drainDeadline = now + limits.drainTimeout
      for listener in listeners { epoll.remove(listener) }
      listeners = []
      pausedListeners = []
      acceptResumeAt = nil
      // A connection that has not started (no handshake yet, or no byte in plaintext) has no
      // echo to finish, so it need not hold the shutdown up.
      for connection in connections.elements where !connection.hasStarted {
        close(connection, because: .shutdown)
      }
    }
    if connections.count == 0 { return true }
    if let drainDeadline, now >= drainDeadline {
      closeAll(because: .shutdown)
      return true
    }
    return false
  }

  private func waitTimeout() -> Int32 {
    if !scheduled.isEmpty { return 0 }
    var next = timers.nextDeadline
    if let drainDeadline { next = min(next ?? drainDeadline, drainDeadline) }
    if let trimDeadline { next = min(next ?? trimDeadline, trimDeadline) }
    if let acceptResumeAt { next = min(next ?? acceptResumeAt, acceptResumeAt) }
    guard let next else { return -1 }
    return Int32(clamping: max(0, next - now + 1))
  }

  private func handle(_ fd: Int32) {
    if fd == wakeup.descriptor {
      wakeup.drain()
    } else if listeners.contains(fd) {
      acceptConnections(on: fd)
    } else if let connection = connections[fd] {
      drive(connection)
    }
  }

  // MARK: Accepting

  private func acceptConnections(on listener: Int32) {
    // Bounded so one loop does not take a burst that the others could share; the listener is
    // level-triggered and reports what is left.
    for _ in 0..<64 {
      do {
        switch try Socket.accept(listener: listener) {
        case .wouldBlock: return
        case .processed(let (socket, address)): admit(socket, peer: address)
        }
      } catch  where error.isConnectionReset {
        continue
      } catch  where error.code == EMFILE || error.code == ENFILE {
        if !shedConnection(on: listener) { pauseAccepting(listener, error) }
        return
      } catch  where error.code == EINVAL {
        // The server shut the listener down to stop accepting; stop watching it.
        epoll.remove(listener)
        listeners.removeAll { $0 == listener }
        return
      } catch {
        // Out of memory or buffers: the listener stays readable, so waiting for epoll again
        // would spin; stop accepting for a moment instead.
        pauseAccepting(listener, error)
        return
      }
    }
  }

  /// Out of descriptors: frees the spare one to accept the waiting connection and refuse it,
  /// rather than leave it queued. Returns false when there is no spare to do it with.
  private func shedConnection(on listener: Int32) -> Bool {
    guard spareDescriptor >= 0 else { return false }
    Glibc.close(spareDescriptor)
    if case .processed(let (socket, address))? = try? Socket.accept(listener: listener) {
      refuse(socket, peer: address)
    }
    spareDescriptor = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
    return true
  }

  /// Takes `listener` out of epoll for 100 ms after an accept failure that would otherwise
  /// repeat at once (level-triggered), and warns at most once a second.
  private func pauseAccepting(_ listener: Int32, _ error: SocketError) {
    if now - lastAcceptWarning >= 1000 {
      lastAcceptWarning = now
      logger.warning("accept failed; pausing new connections for 100 ms: \(error)")
    }
    epoll.remove(listener)
    listeners.removeAll { $0 == listener }
    pausedListeners.append(listener)
    acceptResumeAt = now + 100
  }

  private func resumeAcceptingIfDue() {
    guard let resumeAt = acceptResumeAt, now >= resumeAt else { return }
    acceptResumeAt = nil
    for listener in pausedListeners {
      do {
        try epoll.add(listener, [.readable, .exclusive], token: UInt64(listener))
        listeners.append(listener)
      } catch {
        logger.error("cannot watch the listener again: \(error)")
      }
    }
    pausedListeners = []
  }

  private func refuse(_ socket: Socket, peer: SocketAddress) {
    socket.close()
    statistics.refused.add(1)
    statistics.closed(.refusedAtLimit)
    logger.info(
      "connection refused",
      metadata: [
        "peer": "\(peer)", "reason": "\(CloseReason.refusedAtLimit.name)",
        "limit": .stringConvertible(control.maxConnections),
      ])
  }

  private func admit(_ socket: Socket, peer: SocketAddress) {
    statistics.accepted.add(1)
    guard control.admitConnection() else { return refuse(socket, peer: peer) }
    // A client that goes away between accept and here costs only this connection.
    do {
      try socket.setNoDelay()
      let tls = control.currentTLS
      let stream: any ByteStream =
        if let tls { try TLSStream(socket: socket, context: tls) } else { PlainStream(socket) }
      generations &+= 1
      let connection = Connection(
        stream: stream, peer: peer.description, tls: tls != nil, now: now, generation: generations)
      try epoll.add(connection.descriptor, .readable, token: UInt64(connection.descriptor))
      store(connection)
      timers.insert(
        timer(.handshake, at: now + limits.handshakeTimeout, for: connection))
    } catch {
      control.releaseConnection()
      logger.warning("could not set up connection from \(peer): \(error)")
      socket.close()
    }
  }

  // MARK: The data path

  /// Runs a connection as far as it can go without waiting: handshake, then read-and-echo,
  /// until the socket would block, the peer closes, or the read budget runs out.
  private func drive(_ connection: Connection) {
    do {
      var budget = Self.readBudget
      while true {
        switch connection.phase {
        case .handshaking:
          switch try connection.stream.advanceHandshake() {
          case .done: handshakeCompleted(connection)
          case .wantRead: return wait(connection, for: .readable)
          case .wantWrite: return wait(connection, for: .writable)
          case .closed: return close(connection, because: .clientClosed)
          }

        case .echoing, .draining:
          if connection.hasPending {
            if let interest = try flushPending(connection) {
              return wait(connection, for: interest)
            }
          }
          if connection.phase == .draining {
            switch try connection.stream.closeOutput() {
            case .wantRead: return wait(connection, for: .readable)
            case .wantWrite: return wait(connection, for: .writable)
            case .done, .closed: return close(connection, because: .clientClosed)
            }
          }
          guard budget > 0 else { return schedule(connection) }
          budget -= 1
          let step: StreamStep
          if let splicePipe, !connection.isTLS {
            step = try spliceEcho(connection, through: splicePipe)
          } else {
            step = try connection.stream.read(into: buffer)
            if case .done(let count) = step {
              received(count, on: connection)
              let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<count])
              if let interest = try echo(bytes, on: connection) {
                return wait(connection, for: interest)
              }
            }
          }
          switch step {
          case .done: continue
          case .wantRead: return wait(connection, for: .readable)
          case .wantWrite: return wait(connection, for: .writable)
          case .closed: connection.phase = .draining
          }
        }
      }
    } catch {
      let (reason, detail) = classify(error, during: connection.phase)
      close(connection, because: reason, detail: detail)
    }
  }

  private func received(_ count: Int, on connection: Connection) {
    connection.bytesIn += count
    connection.lastActivity = now
    statistics.bytesIn.add(count)
    if !connection.isTLS && !connection.hasIdleTimer { startIdleTimer(connection) }
  }

  /// Plaintext echo without copying through user memory: socket to the loop's pipe to socket
  /// (splice). Bytes the socket does not take at once are read out of the pipe into the
  /// connection's pending buffer, so the pipe is empty again for the next connection.
  /// Returns `.done` after moving bytes, `.wantWrite` when some are left pending.
  private func spliceEcho(_ connection: Connection, through pipe: SplicePipe) throws -> StreamStep {
    let socket = connection.stream.socket
    let count: Int
    switch try pipe.fill(from: socket, count: Self.bufferSize) {
    case .wouldBlock: return .wantRead
    case .processed(0): return .closed
    case .processed(let filled): count = filled
    }
    received(count, on: connection)
    var moved = 0
    do {
      while moved < count,
        case .processed(let sent) = try pipe.drain(to: socket, count: count - moved)
      {
        moved += sent
        wrote(sent, on: connection)
      }
    } catch {
      // The pipe is shared: what this connection left in it must not reach the next one.
      _ = try? pipe.read(into: buffer)
      throw error
    }
    guard moved < count else { return .done(count) }
    let rest = try pipe.read(
      into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(count - moved)]))
    connection.keepPending(UnsafeRawBufferPointer(rebasing: buffer[..<rest]))
    return .wantWrite
  }

  private func handshakeCompleted(_ connection: Connection) {
    connection.phase = .echoing
    connection.lastActivity = now
    statistics.handshakesOK.add(1)
    noteMemoryFreed()
    if let tls = connection.stream as? TLSStream, tls.isResumed {
      statistics.handshakesResumed.add(1)
    }
    startIdleTimer(connection)
  }

  /// Writes `bytes` back. Returns nil when all were written, or the readiness to wait for, with
  /// the rest kept in the connection.
  private func echo(_ bytes: UnsafeRawBufferPointer, on connection: Connection) throws -> Epoll
    .Interest?
  {
    var offset = 0
    while offset < bytes.count {
      switch try connection.stream.write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
      case .done(let count):
        offset += count
        wrote(count, on: connection)
      case .wantWrite, .closed:
        connection.keepPending(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        return .writable
      case .wantRead:
        connection.keepPending(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        return .readable
      }
    }
    return nil
  }

  /// Writes what is pending. Returns nil once it is all written.
  private func flushPending(_ connection: Connection) throws -> Epoll.Interest? {
    while connection.hasPending {
      let step = try connection.pending.withUnsafeBytes { bytes in
        try connection.stream.write(
          UnsafeRawBufferPointer(rebasing: bytes[connection.pendingOffset...]))
      }
      switch step {
      case .done(let count):
        connection.pendingOffset += count
        wrote(count, on: connection)
      case .wantWrite, .closed: return .writable
      case .wantRead: return .readable
      }
    }
    // Give the memory back: a connection that needed it once rarely needs it again soon.
    connection.pending = []
    connection.pendingOffset = 0
    return nil
  }

  private func wrote(_ count: Int, on connection: Connection) {
    connection.bytesOut += count
    connection.lastActivity = now
    statistics.bytesOut.add(count)
  }

  private func wait(_ connection: Connection, for interest: Epoll.Interest) {
    do {
      try epoll.change(connection.descriptor, &connection.interest, to: interest)
    } catch {
      close(connection, because: .error, detail: "epoll: \(error)")
    }
  }

  private func schedule(_ connection: Connection) {
    guard !connection.isScheduled else { return }
    connection.isScheduled = true
    scheduled.append(connection)
  }

  private func runScheduled() {
    guard !scheduled.isEmpty else { return }
    let batch = scheduled
    scheduled.removeAll(keepingCapacity: true)
    for connection in batch {
      connection.isScheduled = false
      if !connection.isClosed { drive(connection) }
    }
  }

  // MARK: Timeouts

  private func startIdleTimer(_ connection: Connection) {
    guard limits.idleTimeout > 0 else { return }
    connection.hasIdleTimer = true
    timers.insert(timer(.idle, at: connection.lastActivity + limits.idleTimeout, for: connection))
  }

  private func timer(
    _ kind: DeadlineHeap.Kind, at deadline: Int64, for connection: Connection
  ) -> DeadlineHeap.Entry {
    .init(
      deadline: deadline, kind: kind, descriptor: connection.descriptor,
      generation: connection.generation)
  }

  private func expireTimers() {
    while let entry = timers.popDue(at: now) {
      // Gone (closed, perhaps with its descriptor reused): nothing to do.
      guard let connection = connections[entry.descriptor],
        connection.generation == entry.generation
      else { continue }
      switch entry.kind {
      case .handshake:
        if !connection.hasStarted { close(connection, because: .handshakeTimeout) }
      case .idle:
        let deadline = connection.lastActivity + limits.idleTimeout
        if deadline > now {
          timers.insert(timer(.idle, at: deadline, for: connection))
        } else {
          // Over TLS, a close_notify first lets the client tell this from a truncation.
          _ = try? connection.stream.closeOutput()
          close(connection, because: .idleTimeout)
        }
      }
    }
  }

  // MARK: Memory

  /// A burst of handshakes leaves the heap full of small holes between the connections that
  /// stayed (each handshake frees far more than its connection keeps), and glibc returns none
  /// of it by itself: measured 44 KiB of RSS per idle TLS connection after 5,000 concurrent
  /// handshakes, against 14 KiB of live memory. So once a loop has freed memory and then seen
  /// a quiet second, it asks glibc to hand free pages back (malloc_trim). Never on a busy loop.
  private func noteMemoryFreed() {
    if trimDeadline == nil { trimDeadline = now + 1000 }
  }

  private func trimIfQuiet(hadEvents: Bool) {
    guard let deadline = trimDeadline, now >= deadline else { return }
    if hadEvents {
      trimDeadline = now + 1000
      return
    }
    trimDeadline = nil
    _ = malloc_trim(0)
  }

  // MARK: Closing

  private func close(_ connection: Connection, because reason: CloseReason, detail: String? = nil) {
    guard !connection.isClosed else { return }
    epoll.remove(connection.descriptor)
    connections.remove(at: connection.descriptor)
    statistics.active.add(-1)
    control.releaseConnection()
    statistics.closed(reason)
    // Every TLS connection ends up in handshakes_ok or handshakes_failed, whatever ended a
    // handshake that did not finish (an error, a timeout, a reset), except a server shutdown.
    if connection.isTLS && connection.phase == .handshaking && reason != .shutdown {
      statistics.handshakesFailed.add(1)
    }
    logClose(connection, reason, detail)
    connection.close()
    noteMemoryFreed()
  }

  private func closeAll(because reason: CloseReason) {
    for connection in connections.elements {
      if connection.phase == .echoing && connection.isTLS {
        // Best effort: tell a TLS peer this is a clean end, without waiting for it.
        _ = try? connection.stream.closeOutput()
      }
      close(connection, because: reason)
    }
    timers.removeAll()
    scheduled.removeAll()
  }

  private func classify(_ error: any Error, during phase: Connection.Phase) -> (CloseReason, String)
  {
    switch error {
    case let error as TLSError where error.kind == .uncleanEOF:
      return (phase == .handshaking ? .handshakeFailed : .uncleanClose, error.reason)
    case let error as TLSError where error.kind == .io: return (.reset, error.reason)
    case let error as TLSError where phase == .handshaking: return (.handshakeFailed, error.reason)
    case let error as SocketError where error.isConnectionReset: return (.reset, error.reason)
    default: return (.error, "\(error)")
    }
  }

  private func logClose(_ connection: Connection, _ reason: CloseReason, _ detail: String?) {
    guard logger.logLevel <= .info else { return }
    var metadata: Logger.Metadata = [
      "peer": "\(connection.peer)", "mode": "\(connection.isTLS ? "tls" : "plaintext")",
      "bytes_in": .stringConvertible(connection.bytesIn),
      "bytes_out": .stringConvertible(connection.bytesOut),
      "duration_ms": .stringConvertible(now - connection.openedAt),
      "reason": "\(reason.name)",
    ]
    if let detail { metadata["detail"] = "\(detail)" }
    if let tls = connection.stream as? TLSStream {
      if let name = tls.requestedServerName { metadata["server_name"] = "\(name)" }
      if connection.phase != .handshaking {
        metadata["tls_version"] = "\(tls.protocolVersion)"
        metadata["cipher"] = "\(tls.cipher)"
        metadata["resumed"] = "\(tls.isResumed)"
        if let alpn = tls.alpnProtocol { metadata["alpn"] = "\(alpn)" }
        if let subject = tls.peerCertificateSubject { metadata["client_subject"] = "\(subject)" }
      }
    }
    logger.info("connection closed", metadata: metadata)
  }

  private func store(_ connection: Connection) {
    connections.insert(connection, at: connection.descriptor)
    statistics.active.add(1)
  }
}
