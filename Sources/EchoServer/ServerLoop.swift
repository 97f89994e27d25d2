import CLinux
import Faults
import Logging
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// One event loop: a thread, its epoll set, its timers and the connections it accepted. It
/// waits, dispatches, accepts and admits (`ServerLoop+Accept.swift`), runs timers and the drain;
/// what happens to one connection is the connection's own business (`Connection`). Nothing here
/// is shared with other loops, so the data path takes no lock.
final class ServerLoop {
  let epoll: Epoll
  /// Borrowed from the server, which keeps them open until every loop has been joined.
  var listeners: [Int32]
  /// The faults of the connections of each listener that gives any (`--fault`, `--fault-port`).
  let listenerFaults: [Int32: FaultPlan]
  let wakeup: EventFD
  let control: ServerControl
  let context: LoopContext
  var statistics: LoopStatistics { context.statistics }
  var logger: Logger
  var connections = DescriptorTable<Connection>()
  /// Connections that used up their turn and run again before the next wait.
  private var scheduled: [Connection] = []
  /// The connections whose timers came due in this turn (kept to reuse its memory).
  private var expiring: [Connection] = []
  var timers = DeadlineHeap<Connection>()
  private var drainDeadline: Int64?
  /// When to give freed memory back to the system, once the loop is quiet.
  private var trimDeadline: Int64?
  /// Listeners out of epoll after an accept failure, back at `acceptResumeAt`.
  var pausedListeners: [Int32] = []
  var acceptResumeAt: Int64?
  var lastAcceptWarning = Int64.min / 2
  /// Log lines about refused connections, at most one a second per reason.
  var refusals: RefusalLog
  /// A descriptor held in reserve: when the process runs out of descriptors, closing it lets the
  /// loop accept and refuse the waiting connection instead of spinning on a listener that stays
  /// readable.
  var spareDescriptor: Int32
  /// `--metrics`: the listener this loop watches too, and the scrapes it is answering.
  var metricsEndpoint: MetricsEndpoint?
  /// `--udp`: this loop's datagram sockets, and what it does with them.
  let udp: UDPEcho?
  /// `--dtls`: this loop's listener on each of its UDP sockets, by descriptor, and the peers
  /// every loop has admitted.
  let dtls: [Int32: DTLSListener]
  let datagramPeers: SharedDatagramPeers?

  init(
    index: Int, listeners: [Int32], listenerFaults: [Int32: FaultPlan], wakeup: EventFD,
    control: ServerControl,
    configuration: ServerConfiguration, metrics: MetricsEndpoint?, udp: UDPEcho? = nil,
    dtls: [DTLSListener] = [], datagramPeers: SharedDatagramPeers? = nil, logger: Logger
  ) throws(SocketError) {
    self.epoll = try Epoll()
    self.listeners = listeners
    self.listenerFaults = listenerFaults
    self.wakeup = wakeup
    self.control = control
    self.logger = logger
    self.logger[metadataKey: "loop"] = .stringConvertible(index)
    let splice =
      control.currentTLS == nil && configuration.service.mode == .echo
      && getenv("SECUREECHO_NO_SPLICE") == nil
    self.context = LoopContext(
      splicePipe: splice ? try SplicePipe() : nil, statistics: LoopStatistics(),
      limits: configuration.limits, service: configuration.service, logger: self.logger,
      report: configuration.report, instance: configuration.instance, proxy: configuration.proxy,
      metrics: metrics?.metrics)
    self.refusals = RefusalLog(limit: control.maxConnections)
    self.spareDescriptor = Self.openSpare()
    for listener in listeners {
      try epoll.add(listener, [.readable, .exclusive], token: UInt64(listener))
    }
    try epoll.add(wakeup.descriptor, .readable, token: UInt64(wakeup.descriptor))
    self.udp = udp
    self.dtls = Dictionary(uniqueKeysWithValues: dtls.map { ($0.descriptor, $0) })
    self.datagramPeers = datagramPeers
    for descriptor in datagramSockets {
      try epoll.add(descriptor, .readable, token: UInt64(descriptor))
    }
    if let metrics {
      try epoll.add(metrics.listener, [.readable, .exclusive], token: UInt64(metrics.listener))
      metricsEndpoint = metrics
    }
  }

  deinit {
    endAllScrapes()
    for connection in connections.elements where !connection.isClosed { connection.close() }
    if spareDescriptor >= 0 { Glibc.close(spareDescriptor) }
  }

  var now: Int64 { context.now }

  /// The UDP sockets this loop reads (`--udp`, `--dtls`): its own, on ports the others share.
  var datagramSockets: [Int32] { Array(udp?.sockets.keys ?? [:].keys) + Array(dtls.keys) }

  /// Serves until told to stop, or until a drain has closed the last connection.
  func run() {
    // Refusals not logged yet (the last second's) are logged on the way out.
    defer { refusals.flush(now: Int64.max / 2, logger: logger) }
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
      context.now = MonotonicClock.milliseconds()
      for index in 0..<ready { handle(Int32(truncatingIfNeeded: epoll.token(at: index)), index) }
      runScheduled()
      expireTimers()
      expireScrapes()
      resumeAcceptingIfDue()
      refusals.flush(now: now, logger: logger)
      trimIfQuiet(hadEvents: ready > 0)
      statistics.timers.set(timers.count)
    }
  }

  /// Returns true when the loop is done: nothing left open, or the drain deadline passed.
  private func beginOrContinueDrain() -> Bool {
    if drainDeadline == nil {
      drainDeadline = now + context.limits.drainTimeout
      for listener in listeners { epoll.remove(listener) }
      listeners = []
      for descriptor in datagramSockets { epoll.remove(descriptor) }
      pausedListeners = []
      acceptResumeAt = nil
      // A connection that has not started (no handshake yet, or no byte in plaintext) has no
      // echo to finish, so it need not hold the shutdown up; nor has a DTLS peer, whose every
      // datagram is echoed whole (it is told, with close_notify).
      for connection in connections.elements where !connection.hasStarted || connection.isDatagram {
        if connection.isDatagram { _ = try? connection.transport.closeOutput() }
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
    let deadlines = [
      timers.nextDeadline, drainDeadline, trimDeadline, acceptResumeAt, refusals.nextFlush,
      metricsEndpoint?.nextDeadline,
    ]
    guard let next = deadlines.compactMap({ $0 }).min() else { return -1 }
    return Int32(clamping: max(0, next - now + 1))
  }

  /// `index`: where `fd` is in the last wait's results.
  private func handle(_ fd: Int32, _ index: Int) {
    if fd == wakeup.descriptor {
      wakeup.drain()
    } else if listeners.contains(fd) {
      acceptConnections(on: fd)
    } else if let udp, udp.handles(fd) {
      if control.currentPhase == .running { udp.serve(fd, context) }
    } else if let listener = dtls[fd] {
      if control.currentPhase == .running { acceptDatagramPeers(listener) }
    } else if let connection = connections[fd] {
      if connection.interest.isEmpty {
        // Waiting on its timer alone (a stall, a held handshake, throttled I/O): with no
        // interest only an error or a hang-up is reported, and, level-triggered, reported
        // again on every wait, so it ends here. An error is a reset; a hang-up without one,
        // both sides' ends: the close the connection was waiting for.
        if epoll.readiness(at: index).contains(.error) {
          close(connection, because: .reset, detail: "the client went away while held by a fault")
        } else {
          let (reason, detail) = connection.endAtHangUp
          close(connection, because: reason, detail: detail)
        }
      } else {
        drive(connection)
      }
    } else {
      _ = handleMetrics(fd)
    }
  }

  // MARK: Driving connections

  /// Steps `connection` and does what it asks for.
  func drive(_ connection: Connection) {
    let next = connection.step(context)
    if context.freedMemory { noteMemoryFreed() }
    switch next {
    case .wait(let interest):
      do {
        try epoll.change(connection.descriptor, &connection.interest, to: interest)
      } catch {
        return close(connection, because: .error, detail: "epoll: \(error)")
      }
    case .runAgain:
      if !connection.isScheduled {
        connection.isScheduled = true
        scheduled.append(connection)
      }
    case .close(let reason, let detail):
      return close(connection, because: reason, detail: detail)
    }
    if connection.timerNeedsUpdate {
      timers.schedule(connection, at: connection.nextDeadline(context))
    }
  }

  private func runScheduled() {
    guard !scheduled.isEmpty else { return }
    let batch = scheduled
    scheduled.removeAll(keepingCapacity: true)
    for connection in batch {
      connection.isScheduled = false
      // Closed since it was queued (a timer, a drain): the one place that can happen.
      if !connection.isClosed { drive(connection) }
    }
  }

  private func expireTimers() {
    // Taken out first: a connection that a wake-up steps may be due again at this same `now`,
    // and it waits for the loop's next turn instead of spinning in this one.
    while let connection = timers.popDue(at: now) { expiring.append(connection) }
    defer { expiring.removeAll(keepingCapacity: true) }
    for connection in expiring where !connection.isClosed {
      if let next = connection.deadlinePassed(context) {
        switch next {
        case .close(let reason, let detail): close(connection, because: reason, detail: detail)
        // Faults held something back until now; stepping re-arms the timer.
        case .runAgain: drive(connection)
        case .wait: continue
        }
      } else {
        timers.schedule(connection, at: connection.nextDeadline(context))
      }
    }
    // Idle connections gave their record buffers back.
    if context.freedMemory { noteMemoryFreed() }
  }

  // MARK: Memory

  /// A burst of handshakes leaves the heap full of small holes between the connections that
  /// stayed (each handshake frees far more than its connection keeps), and glibc returns none
  /// of it by itself: measured 44 KiB of RSS per idle TLS connection after 5,000 concurrent
  /// handshakes, against 14 KiB of live memory. So once a loop has freed memory and then seen
  /// a quiet second, it asks glibc to hand free pages back (malloc_trim). Never on a busy loop.
  private func noteMemoryFreed() {
    context.freedMemory = false
    if trimDeadline == nil { trimDeadline = now + 1000 }
  }

  private func trimIfQuiet(hadEvents: Bool) {
    guard let deadline = trimDeadline, now >= deadline else { return }
    if hadEvents {
      trimDeadline = now + 1000
      return
    }
    trimDeadline = nil
    if Self.trimsHeap { _ = malloc_trim(0) }
  }

  /// Under a sanitizer, its allocator has replaced glibc's: there is no glibc heap to give
  /// back, and under Thread Sanitizer glibc's `malloc_trim` walks arenas glibc never set up
  /// (a CI run crashed in it). The sanitizer runtimes export these symbols.
  private static let trimsHeap = ["__tsan_init", "__asan_init"].allSatisfy {
    (name: String) in dlsym(nil, name) == nil
  }

  // MARK: Closing

  /// The one way a connection ends: out of epoll, its table and its timers, counted by
  /// reason, logged, then closed (the `SSL` and the descriptor together).
  func close(_ connection: Connection, because reason: CloseReason, detail: String? = nil) {
    // No EPOLL_CTL_DEL: closing the descriptor takes it out of the epoll set, as no descriptor
    // of a connection is ever duplicated. One system call less per connection.
    connections.remove(at: connection.descriptor)
    timers.remove(connection)
    control.releaseConnection()
    statistics.closed(reason)
    // Every TLS handshake begun ends up in handshakes_ok or handshakes_failed, whatever ended
    // one that did not finish (an error, a timeout, a reset), except a server shutdown and a
    // balancer's health check.
    if connection.isHandshaking && ![.shutdown, .healthCheck, .fault].contains(reason) {
      statistics.handshakeFailed(reason)
    }
    // A handshake that ended before it finished still had its faults decided.
    connection.takeDecision(context)
    // Cut short inside the header: a timeout, a drain, an error of the socket.
    if connection.awaitsProxyOutcome { statistics.proxyHeader(.truncated) }
    // Last, after everything else this close counts: a reader that sees the connection gone
    // (the snapshot loads `active` with acquire ordering) sees its reason and its timer gone.
    statistics.timers.set(timers.count)
    statistics.active.add(-1)
    ConnectionLog.closed(connection, reason, detail, loop: context, logger: logger)
    // After its close line: a later connection of the same DTLS peer (its ClientHello came
    // again, late) is logged after it, never while it looks open.
    if connection.isDatagram { datagramPeers?.remove(descriptor: connection.descriptor) }
    connection.close()
    noteMemoryFreed()
  }

  private func closeAll(because reason: CloseReason) {
    for connection in connections.elements {
      if connection.transport.isTLS && connection.hasStarted {
        // Best effort: tell a TLS peer this is a clean end, without waiting for it.
        _ = try? connection.transport.closeOutput()
      }
      close(connection, because: reason)
    }
    timers.removeAll()
    scheduled.removeAll()
  }

  /// A connection is counted as accepted only after what became of it (active here; refused
  /// or failed, its close reason): a snapshot loads `accepted` first, so it never sees one
  /// accepted that is neither open nor closed.
  func store(_ connection: Connection) {
    connections.insert(connection, at: connection.descriptor)
    statistics.active.add(1)
    statistics.accepted.add(1)
  }

  static func openSpare() -> Int32 { Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC) }
}
