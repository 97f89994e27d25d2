import Histogram
import Sockets
import StreamServices
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// One load thread: its connections, one epoll set, its own result. Like the server's loops,
/// nothing on the data path is shared between threads.
final class BenchLoop {
  let plan: BenchPlan
  private let epoll: Epoll
  private let slots: Range<Int>
  let clock: BenchClock
  private var connections = DescriptorTable<BenchConnection>()
  /// Connections that used up their turn and run again before the next wait.
  private var scheduled: [BenchConnection] = []
  var result: BenchResult
  let buffer = UnsafeMutableRawBufferPointer.allocate(
    byteCount: BenchPlan.maximumChunk, alignment: 16)
  /// Bytes each throughput connection keeps in flight.
  let window: Int
  /// Only bytes, round trips and handshakes finished inside the measured interval count.
  var measuring = false
  private var addressIndex = 0
  /// Connections set up and exchanging (or holding), for the setup phase.
  var ready = 0
  /// Connections connecting or handshaking now.
  private var settingUp = 0
  /// Addresses that refused a connection; when all have, there is no server.
  private var refusedAddresses: Set<Int> = []
  private var connectDeadlines = DeadlineQueue()
  private var handshakeDeadlines = DeadlineQueue()

  init(plan: BenchPlan, slots: Range<Int>, clock: BenchClock) throws(SocketError) {
    self.plan = plan
    self.slots = slots
    self.clock = clock
    self.epoll = try Epoll(capacity: 1024)
    self.result = BenchResult(mode: plan.mode, connections: slots.count, threads: 1)
    self.window = min(BenchPlan.maximumChunk, max(plan.size * 4, 16 * 1024))
  }

  deinit { buffer.deallocate() }

  /// Connections being set up at once, at most. Opening thousands at once (hold) would queue
  /// their handshakes behind each other on both sides, and the last would meet the server's
  /// handshake timeout: a window keeps each handshake short, and the setup no slower.
  static let setupWindow = 512

  /// Sets up (except in handshakes mode), waits for the common start, runs until the deadline.
  func run() -> BenchResult {
    if plan.mode != .handshakes {
      var next = slots.lowerBound
      while ready + result.errors < slots.count && !clock.isAborted && !clock.setupExpired {
        while settingUp < Self.setupWindow && next < slots.upperBound && !clock.isAborted {
          connect(slot: next)
          next += 1
        }
        poll(timeoutMilliseconds: 100)
      }
      if clock.setupExpired && ready + result.errors < slots.count {
        result.record(
          error: "\(slots.count - ready - result.errors) connections were not set up within "
            + "\(clock.setupSeconds) s", kind: "timeout")
      }
    }
    clock.arriveAndWaitForStart()
    // Nothing to measure with: every connection failed to set up, or another thread aborted.
    if clock.isAborted || (plan.mode != .handshakes && ready == 0) { return finish() }
    measuring = true
    if plan.mode == .handshakes {
      for slot in slots { connect(slot: slot) }
    }
    while !clock.isAborted {
      let now = BenchClock.now()
      if now >= clock.deadline { break }
      poll(timeoutMilliseconds: Int32(clamping: max(1, (clock.deadline - now) / 1_000_000)))
      if plan.mode == .handshakes && connections.count == 0 { break }
    }
    measuring = false
    if plan.service == .sink && !clock.isAborted { collectSinkReports() }
    return finish()
  }

  private func finish() -> BenchResult {
    for connection in connections.elements {
      if connection.phase == .connecting || connection.phase == .handshaking {
        result.stalled += 1
      }
      close(connection)
    }
    return result
  }

  /// Sink mode: ends every connection's sending side and waits (at most the handshake timeout)
  /// for each server report, which must count exactly the bytes sent.
  private func collectSinkReports() {
    for connection in connections.elements where connection.phase == .exchanging {
      connection.phase = .awaitingReport
      drive(connection)
    }
    let end = BenchClock.now() + UInt64(plan.handshakeTimeout) * 1_000_000
    while connections.elements.contains(where: { $0.phase == .awaitingReport }) {
      let now = BenchClock.now()
      guard now < end else {
        result.record(
          error: "no sink report within \(seconds(plan.handshakeTimeout)) s of the end",
          kind: "timeout")
        return
      }
      poll(timeoutMilliseconds: Int32(clamping: max(1, (end - now) / 1_000_000)))
    }
  }

  private func poll(timeoutMilliseconds: Int32) {
    var timeout = scheduled.isEmpty ? timeoutMilliseconds : 0
    let now = BenchClock.now()
    for next in [connectDeadlines.nextDeadline, handshakeDeadlines.nextDeadline] {
      if let next { timeout = min(timeout, Int32(clamping: (next &- min(next, now)) / 1_000_000)) }
    }
    let count: Int
    do {
      count = try epoll.wait(timeoutMilliseconds: timeout)
    } catch {
      record(error)
      clock.abort()
      return
    }
    for index in 0..<count {
      let fd = Int32(truncatingIfNeeded: epoll.token(at: index))
      if let connection = connections[fd] { drive(connection) }
    }
    let batch = scheduled
    scheduled.removeAll(keepingCapacity: true)
    for connection in batch {
      connection.isScheduled = false
      if connection.isOpen { drive(connection) }
    }
    expireSetupDeadlines()
  }

  /// A server that accepts and never answers must not stall the run: connections that are
  /// still connecting or handshaking at their deadline fail.
  private func expireSetupDeadlines() {
    let now = BenchClock.now()
    while let due = connectDeadlines.popDue(at: now) {
      guard let connection = due, connection.isOpen && connection.phase == .connecting
      else { continue }
      fail(
        connection,
        SocketError(
          "connect",
          reason: "no answer within \(seconds(plan.connectTimeout)) s "
            + "(--connect-timeout)", errno: ETIMEDOUT))
    }
    while let due = handshakeDeadlines.popDue(at: now) {
      guard let connection = due, connection.isOpen && connection.phase == .handshaking
      else { continue }
      fail(
        connection,
        BenchError(
          "TLS handshake: no answer within \(seconds(plan.handshakeTimeout)) s "
            + "(--handshake-timeout)", kind: "timeout"))
    }
  }

  // MARK: Connections

  func connect(slot: Int, session: TLSSession? = nil) {
    let index = addressIndex % plan.addresses.count
    do {
      let (socket, connected) = try Socket.startConnect(to: plan.addresses[index])
      let now = BenchClock.now()
      let connection = BenchConnection(
        slot: slot, addressIndex: index, socket: socket, startedAt: now)
      connection.session = session
      // Registered before it is stored: a connection in the table is always one epoll watches.
      try epoll.add(connection.descriptor, .writable, token: UInt64(connection.descriptor))
      connections.insert(connection, at: connection.descriptor)
      settingUp += 1
      connectDeadlines.append(connection, deadline: now + UInt64(plan.connectTimeout) * 1_000_000)
      if connected { drive(connection) }
    } catch {
      addressIndex += 1
      record(error)
    }
  }

  private func drive(_ connection: BenchConnection) {
    do {
      try advance(connection)
    } catch {
      fail(connection, error)
    }
  }

  private func advance(_ connection: BenchConnection) throws {
    if connection.phase == .connecting {
      try connection.socket.finishConnect()
      try connection.socket.setNoDelay()
      if let version = plan.proxyHeader {
        try ProxyPreamble.sendOnFreshSocket(version, on: connection.socket)
      }
      if let tls = plan.tls {
        let stream = try TLSStream(
          socket: connection.socket, context: tls, serverName: plan.serverName)
        if let session = connection.session { stream.offer(session) }
        connection.transport = .tls(stream)
        connection.phase = .handshaking
        handshakeDeadlines.append(
          connection, deadline: BenchClock.now() + UInt64(plan.handshakeTimeout) * 1_000_000)
      } else {
        connection.transport = .plain(connection.socket)
        started(connection)
      }
    }
    if connection.phase == .handshaking {
      guard let transport = connection.transport else { return }
      switch try transport.handshake() {
      case .wantRead: return wait(connection, .readable)
      case .wantWrite: return wait(connection, .writable)
      case .closed: throw BenchError("the server closed the connection during the handshake")
      case .done: started(connection)
      }
    }
    try exchange(connection)
  }

  /// The handshake (if any) is done: count it and start the mode's exchange.
  private func started(_ connection: BenchConnection) {
    settingUp -= 1
    connection.phase = .exchanging
    connection.sent = 0
    connection.received = 0
    let stream = connection.transport?.tlsStream
    if plan.mode == .handshakes && measuring {
      // In plaintext the "handshake" is the TCP connect: timed all the same.
      result.latency.record((BenchClock.now() - connection.startedAt) / 1000)
      if stream?.isResumed == true { result.resumed += 1 }
    }
    result.opened += 1
    if result.tlsVersion == nil, let stream {
      result.tlsVersion = stream.protocolVersion
      result.cipher = stream.cipher
    }
    if plan.mode == .throughput || plan.mode == .latency { ready += 1 }
    connection.startedAt = BenchClock.now()
  }

  func wait(_ connection: BenchConnection, _ interest: Epoll.Interest) {
    do {
      try epoll.change(connection.descriptor, &connection.interest, to: interest)
    } catch {
      fail(connection, error)
    }
  }

  func schedule(_ connection: BenchConnection) {
    guard !connection.isScheduled else { return }
    connection.isScheduled = true
    scheduled.append(connection)
  }

  /// Books an error and closes the connection. A refused connection means there is no server
  /// at that address: the slot tries the next one (a name may resolve to ::1 first for a
  /// server on 127.0.0.1), and once every address has refused, the whole run ends now rather
  /// than counting the same refusal thousands of times.
  func fail(_ connection: BenchConnection, _ error: any Error) {
    close(connection)
    guard let refusal = error as? SocketError, refusal.code == ECONNREFUSED else {
      return record(error)
    }
    refusedAddresses.insert(connection.addressIndex)
    if refusedAddresses.count < plan.addresses.count {
      addressIndex = connection.addressIndex + 1
      connect(slot: connection.slot, session: connection.session)
    } else {
      let address = plan.addresses[connection.addressIndex]
      record(BenchError("connect to \(address): \(refusal.reason)", kind: "refused"))
      clock.abort()
    }
  }

  private func record(_ error: any Error) {
    result.record(error: "\(error)", kind: BenchError.kind(of: error))
  }

  func close(_ connection: BenchConnection) {
    guard connection.isOpen else { return }
    if connection.phase == .connecting || connection.phase == .handshaking { settingUp -= 1 }
    epoll.remove(connection.descriptor)
    connections.remove(at: connection.descriptor)
    if let stream = connection.transport?.tlsStream { _ = try? stream.shutdown() }
    connection.transport?.close()
    connection.socket.close()
  }
}

struct BenchError: Error, CustomStringConvertible {
  var description: String
  /// What went wrong, for the counts by kind: a word, not a sentence.
  var kind: String
  init(_ description: String, kind: String = "protocol") {
    self.description = description
    self.kind = kind
  }

  /// The kind of any error a load connection meets.
  static func kind(of error: any Error) -> String {
    switch error {
    case let error as BenchError: return error.kind
    case let error as TransportError:
      switch error {
      case .socket(let socket): return kind(of: socket)
      case .tls(let tls): return kind(of: tls)
      }
    case let error as SocketError:
      switch error.code {
      case ECONNREFUSED: return "refused"
      case ETIMEDOUT: return "timeout"
      case ECONNRESET, EPIPE: return "reset"
      default: return error.domain == .resolver ? "resolve" : "socket"
      }
    case let error as TLSError:
      switch error.kind {
      case .handshake: return "handshake"
      case .verification: return "verification"
      case .uncleanEOF: return "unclean_close"
      case .io: return error.code == ECONNRESET || error.code == EPIPE ? "reset" : "tls_io"
      case .configuration, .fileAccess, .protocolError: return "tls"
      }
    default: return "other"
    }
  }
}
