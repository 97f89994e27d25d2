import Histogram
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// One load thread: its connections, one epoll set, its own result. Like the server's loops,
/// nothing on the data path is shared between threads.
final class BenchLoop {
  private let plan: BenchPlan
  private let pattern: Pattern
  private let epoll: Epoll
  private let slots: Range<Int>
  private let clock: BenchClock
  private var connections = DescriptorTable<BenchConnection>()
  /// Connections that used up their turn and run again before the next wait.
  private var scheduled: [BenchConnection] = []
  private var result: BenchResult
  private let buffer = UnsafeMutableRawBufferPointer.allocate(
    byteCount: BenchPlan.maximumChunk, alignment: 16)
  /// Bytes each throughput connection keeps in flight.
  private let window: Int
  /// Only bytes, round trips and handshakes finished inside the measured interval count.
  private var measuring = false
  private var addressIndex = 0
  private var ready = 0

  init(plan: BenchPlan, pattern: Pattern, slots: Range<Int>, clock: BenchClock) throws(SocketError)
  {
    self.plan = plan
    self.pattern = pattern
    self.slots = slots
    self.clock = clock
    self.epoll = try Epoll(capacity: 1024)
    self.result = BenchResult(mode: plan.mode, connections: slots.count, threads: 1)
    self.window = min(BenchPlan.maximumChunk, max(plan.size * 4, 16 * 1024))
  }

  deinit { buffer.deallocate() }

  /// Sets up (except in handshakes mode), waits for the common start, runs until the deadline.
  func run() -> BenchResult {
    if plan.mode != .handshakes {
      for slot in slots { connect(slot: slot) }
      while ready + result.errors < slots.count && !clock.isAborted {
        poll(timeoutMilliseconds: 100)
      }
    }
    clock.arriveAndWaitForStart()
    measuring = true
    if plan.mode == .handshakes {
      for slot in slots { connect(slot: slot) }
    }
    while true {
      let now = BenchClock.now()
      if now >= clock.deadline { break }
      poll(timeoutMilliseconds: Int32(clamping: max(1, (clock.deadline - now) / 1_000_000)))
      if plan.mode == .handshakes && connections.count == 0 { break }
    }
    measuring = false
    for connection in connections.elements { connection.socket.close() }
    return result
  }

  private func poll(timeoutMilliseconds: Int32) {
    let count: Int
    do {
      count = try epoll.wait(timeoutMilliseconds: scheduled.isEmpty ? timeoutMilliseconds : 0)
    } catch {
      result.record(error: "\(error)")
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
      if connection.socket.isOpen { drive(connection) }
    }
  }

  // MARK: Connections

  private func connect(slot: Int, session: TLSSession? = nil) {
    let address = plan.addresses[addressIndex % plan.addresses.count]
    do {
      let (socket, connected) = try Socket.startConnect(to: address)
      let connection = BenchConnection(slot: slot, socket: socket, startedAt: BenchClock.now())
      connection.session = session
      // Registered before it is stored: a connection in the table is always one epoll watches.
      try epoll.add(connection.descriptor, .writable, token: UInt64(connection.descriptor))
      store(connection)
      if connected { drive(connection) }
    } catch {
      addressIndex += 1
      result.record(error: "\(error)")
    }
  }

  private func drive(_ connection: BenchConnection) {
    do {
      try advance(connection)
    } catch {
      fail(connection, "\(error)")
    }
  }

  private func advance(_ connection: BenchConnection) throws {
    if connection.phase == .connecting {
      try connection.socket.finishConnect()
      try connection.socket.setNoDelay()
      if let tls = plan.tls {
        let stream = try TLSStream(
          socket: connection.socket, context: tls, serverName: plan.serverName)
        if let session = connection.session { stream.offer(session) }
        connection.stream = stream
        connection.phase = .handshaking
      } else {
        connection.stream = PlainStream(connection.socket)
        try started(connection)
      }
    }
    if connection.phase == .handshaking {
      guard let stream = connection.stream else { return }
      switch try stream.advanceHandshake() {
      case .wantRead: return wait(connection, .readable)
      case .wantWrite: return wait(connection, .writable)
      case .closed: throw BenchError("the server closed the connection during the handshake")
      case .done: try started(connection)
      }
    }
    if connection.phase == .exchanging || connection.phase == .held {
      try exchange(connection)
    }
  }

  /// The handshake (if any) is done: count it and start the mode's exchange.
  private func started(_ connection: BenchConnection) throws {
    connection.phase = .exchanging
    connection.sent = 0
    connection.received = 0
    if plan.mode == .handshakes, let tls = connection.stream as? TLSStream {
      if measuring {
        result.latency.record((BenchClock.now() - connection.startedAt) / 1000)
        if tls.isResumed { result.resumed += 1 }
      }
    }
    if plan.mode == .throughput || plan.mode == .latency { ready += 1 }
    connection.startedAt = BenchClock.now()
  }

  /// Moves bytes until the socket would block, verifying every byte that comes back.
  private func exchange(_ connection: BenchConnection) throws {
    guard let stream = connection.stream else { return }
    var budget = 32
    while budget > 0 {
      budget -= 1
      var needWrite = false
      var progressed = false
      let target = sendTarget(connection)
      if connection.sent < target {
        let length = min(target - connection.sent, BenchPlan.maximumChunk)
        let start = Pattern.start(offset: connection.sent, seed: connection.seed)
        let step = try pattern.bytes.withUnsafeBytes { bytes in
          try stream.write(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
        }
        switch step {
        case .done(let count):
          connection.sent += count
          progressed = true
        case .wantWrite: needWrite = true
        case .wantRead: break
        case .closed: throw BenchError("the server closed the connection")
        }
      }
      switch try stream.read(into: buffer) {
      case .done(let count):
        try verify(connection, count)
        progressed = true
        if try received(connection, count) { return }
      case .wantRead: break
      case .wantWrite: needWrite = true
      case .closed:
        throw BenchError("the server closed the connection after \(connection.received) bytes")
      }
      if !progressed {
        return wait(connection, needWrite ? [.readable, .writable] : .readable)
      }
    }
    // Out of budget: let the other connections have a turn, then come back without waiting
    // for epoll, which cannot see records OpenSSL has already read ahead.
    if !connection.isScheduled {
      connection.isScheduled = true
      scheduled.append(connection)
    }
  }

  /// How far this connection should have sent by now.
  private func sendTarget(_ connection: BenchConnection) -> Int {
    switch plan.mode {
    case .throughput: connection.received + window
    case .latency: connection.received - connection.received % plan.size + plan.size
    case .handshakes: 1
    case .hold: connection.phase == .held ? 0 : plan.size
    }
  }

  private func verify(_ connection: BenchConnection, _ count: Int) throws {
    let start = Pattern.start(offset: connection.received, seed: connection.seed)
    let same = pattern.bytes.withUnsafeBytes { expected in
      memcmp(expected.baseAddress! + start, buffer.baseAddress!, count) == 0
    }
    if !same {
      var offset = 0
      while offset < count && buffer[offset] == pattern.bytes[start + offset] { offset += 1 }
      throw BenchError(
        "echo mismatch on connection \(connection.slot) at byte \(connection.received + offset): "
          + "sent \(pattern.bytes[start + offset]), got \(buffer[offset])")
    }
  }

  /// Books `count` verified bytes. Returns true when the connection was closed or replaced.
  private func received(_ connection: BenchConnection, _ count: Int) throws -> Bool {
    connection.received += count
    if connection.received > connection.sent {
      throw BenchError(
        "the server sent \(connection.received - connection.sent) bytes never sent to it")
    }
    switch plan.mode {
    case .throughput:
      if measuring { result.bytes += count }
    case .latency:
      if connection.received % plan.size == 0 {
        if measuring {
          result.bytes += plan.size
          result.roundTrips += 1
          result.latency.record((BenchClock.now() - connection.startedAt) / 1000)
        }
        connection.startedAt = BenchClock.now()
      }
    case .handshakes:
      if measuring { result.handshakes += 1 }
      let session = plan.resume ? (connection.stream as? TLSStream)?.resumableSession() : nil
      close(connection)
      if BenchClock.now() < clock.deadline {
        connect(slot: connection.slot, session: session ?? connection.session)
      }
      return true
    case .hold:
      if connection.received == plan.size && connection.phase != .held {
        connection.phase = .held
        ready += 1
        // Counted whether or not measuring has started: holding them is the measurement.
        result.bytes += plan.size
        result.roundTrips += 1
      }
    }
    return false
  }

  private func wait(_ connection: BenchConnection, _ interest: Epoll.Interest) {
    do {
      try epoll.change(connection.descriptor, &connection.interest, to: interest)
    } catch {
      fail(connection, "\(error)")
    }
  }

  private func fail(_ connection: BenchConnection, _ message: String) {
    result.record(error: message)
    close(connection)
  }

  private func close(_ connection: BenchConnection) {
    guard connection.socket.isOpen else { return }
    epoll.remove(connection.descriptor)
    connections.remove(at: connection.descriptor)
    if let stream = connection.stream as? TLSStream { _ = try? stream.shutdown() }
    connection.socket.close()
  }

  private func store(_ connection: BenchConnection) {
    connections.insert(connection, at: connection.descriptor)
  }
}

struct BenchError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
