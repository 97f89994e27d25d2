import CLinux
import Logging
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// One event loop: a thread, its epoll set, and the connections it accepted. Nothing here is
/// shared with other loops, so the data path takes no lock.
final class ServerLoop {
  /// How many reads one connection may do before the others get a turn.
  static let readBudget = 16
  /// One read's worth: larger than a TLS record (16 KiB), so one TLS read drains a record.
  static let bufferSize = 64 * 1024

  private let index: Int
  private let epoll: Epoll
  /// Borrowed from the server, which keeps them open until every loop has been joined.
  private let listeners: [Int32]
  private let wakeup: EventFD
  private let control: ServerControl
  private let tls: TLSContext?
  private var logger: Logger
  /// Connections by descriptor: descriptors are small and dense, so an array is the fastest map.
  private var connections: [Connection?] = []
  /// Connections that used up their read budget and run again before the next wait.
  private var scheduled: [Connection] = []
  /// Read scratch space shared by every connection: a read is written back at once, so only
  /// bytes the socket did not take are copied out (into `Connection.pending`).
  private let buffer: UnsafeMutableRawBufferPointer
  /// A descriptor held in reserve: when the process runs out of descriptors, closing it lets the
  /// loop accept and close the waiting connection instead of spinning on a listener that stays
  /// readable.
  private var spareDescriptor: Int32

  init(
    index: Int, listeners: [Int32], wakeup: EventFD, control: ServerControl, tls: TLSContext?,
    logger: Logger
  ) throws(SocketError) {
    self.index = index
    self.epoll = try Epoll()
    self.listeners = listeners
    self.wakeup = wakeup
    self.control = control
    self.tls = tls
    self.logger = logger
    self.logger[metadataKey: "loop"] = "\(index)"
    self.buffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
    self.spareDescriptor = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
    for listener in listeners {
      try epoll.add(listener, [.readable, .exclusive], token: UInt64(listener))
    }
    try epoll.add(wakeup.descriptor, .readable, token: UInt64(wakeup.descriptor))
  }

  deinit {
    for case let connection? in connections { connection.close() }
    buffer.deallocate()
    if spareDescriptor >= 0 { Glibc.close(spareDescriptor) }
  }

  /// Serves until the server asks the loops to stop, then closes every connection.
  func run() {
    while !control.isStopping {
      do {
        try epoll.wait(timeoutMilliseconds: scheduled.isEmpty ? -1 : 0) { event in
          handle(event)
        }
      } catch {
        logger.critical("event loop failed: \(error)")
        break
      }
      runScheduled()
    }
    closeAll()
  }

  private func handle(_ event: Epoll.Event) {
    let fd = Int32(truncatingIfNeeded: event.token)
    if fd == wakeup.descriptor {
      wakeup.drain()
    } else if listeners.contains(fd) {
      acceptConnections(on: fd)
    } else if let connection = connection(for: fd) {
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
        case .processed(let (socket, address)): open(socket, peer: address)
        }
      } catch  where error.isConnectionReset {
        continue
      } catch  where error.code == EMFILE || error.code == ENFILE {
        shedConnection(on: listener, error)
        return
      } catch {
        logger.error("accept failed: \(error)")
        return
      }
    }
  }

  private func shedConnection(on listener: Int32, _ error: SocketError) {
    logger.warning("out of file descriptors; refusing a connection: \(error)")
    guard spareDescriptor >= 0 else { return }
    Glibc.close(spareDescriptor)
    if case .processed(let (socket, _))? = try? Socket.accept(listener: listener) {
      socket.close()
    }
    spareDescriptor = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
  }

  private func open(_ socket: Socket, peer: SocketAddress) {
    // A client that goes away between accept and here costs only this connection.
    do {
      try socket.setNoDelay()
      let stream: any ByteStream =
        if let tls { try TLSStream(socket: socket, context: tls) } else { PlainStream(socket) }
      let connection = Connection(stream: stream, peer: peer.description, tls: tls != nil)
      try epoll.add(connection.descriptor, .readable, token: UInt64(connection.descriptor))
      store(connection)
      logger.debug("connection opened", metadata: ["peer": "\(connection.peer)"])
    } catch {
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
          case .done:
            connection.phase = .echoing
            logHandshake(connection)
          case .wantRead: return wait(connection, for: .readable)
          case .wantWrite: return wait(connection, for: .writable)
          case .closed: return close(connection, because: "client closed during handshake")
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
            case .done, .closed: return close(connection, because: "client closed")
            }
          }
          guard budget > 0 else { return schedule(connection) }
          budget -= 1
          switch try connection.stream.read(into: buffer) {
          case .done(let count):
            connection.bytesIn += count
            if let interest = try echo(
              UnsafeRawBufferPointer(rebasing: buffer[..<count]), on: connection)
            {
              return wait(connection, for: interest)
            }
          case .wantRead: return wait(connection, for: .readable)
          case .wantWrite: return wait(connection, for: .writable)
          case .closed: connection.phase = .draining
          }
        }
      }
    } catch {
      close(connection, because: describe(error))
    }
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
        connection.bytesOut += count
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
        connection.bytesOut += count
      case .wantWrite, .closed: return .writable
      case .wantRead: return .readable
      }
    }
    // Give the memory back: a connection that needed it once rarely needs it again soon.
    connection.pending = []
    connection.pendingOffset = 0
    return nil
  }

  private func wait(_ connection: Connection, for interest: Epoll.Interest) {
    guard connection.interest != interest else { return }
    do {
      try epoll.modify(connection.descriptor, interest, token: UInt64(connection.descriptor))
      connection.interest = interest
    } catch {
      close(connection, because: "epoll: \(error)")
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

  // MARK: Closing

  private func close(_ connection: Connection, because reason: String) {
    guard !connection.isClosed else { return }
    epoll.remove(connection.descriptor)
    connections[Int(connection.descriptor)] = nil
    connection.close()
    logger.debug(
      "connection closed",
      metadata: [
        "peer": "\(connection.peer)", "reason": "\(reason)", "bytes_in": "\(connection.bytesIn)",
        "bytes_out": "\(connection.bytesOut)",
      ])
  }

  private func closeAll() {
    for case let connection? in connections {
      if connection.phase == .echoing, connection.stream is TLSStream {
        // Best effort: tell a TLS peer this is a clean end, without waiting for it.
        _ = try? connection.stream.closeOutput()
      }
      close(connection, because: "server shutting down")
    }
  }

  private func describe(_ error: any Error) -> String {
    switch error {
    case let error as TLSError where error.kind == .uncleanEOF: "client closed without close_notify"
    case let error as TLSError where error.kind == .io: "connection reset: \(error.reason)"
    case let error as TLSError where error.kind == .handshake || error.kind == .verification:
      "TLS handshake failed: \(error.reason)"
    case let error as SocketError where error.isConnectionReset: "connection reset: \(error.reason)"
    default: "\(error)"
    }
  }

  private func logHandshake(_ connection: Connection) {
    guard logger.logLevel <= .debug, let stream = connection.stream as? TLSStream else { return }
    logger.debug(
      "handshake done",
      metadata: [
        "peer": "\(connection.peer)", "tls": "\(stream.protocolVersion)",
        "cipher": "\(stream.cipher)",
      ])
  }

  // MARK: The connection table

  private func connection(for fd: Int32) -> Connection? {
    let index = Int(fd)
    return index < connections.count ? connections[index] : nil
  }

  private func store(_ connection: Connection) {
    let index = Int(connection.descriptor)
    if index >= connections.count {
      connections.append(contentsOf: repeatElement(nil, count: index + 1 - connections.count))
    }
    connections[index] = connection
  }
}
