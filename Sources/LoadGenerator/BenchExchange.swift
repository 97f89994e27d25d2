import Sockets
import StreamServices
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// What each mode sends and expects once a connection is set up.
extension BenchLoop {
  /// Moves bytes until the socket would block, verifying every byte that comes back.
  func exchange(_ connection: BenchConnection) throws {
    guard let transport = connection.transport else { return }
    if connection.phase == .awaitingReport { return try awaitReport(connection, transport) }
    var budget = 32
    while budget > 0 {
      budget -= 1
      var needWrite = false
      var progressed = false
      let target = sendTarget(connection)
      if connection.sent < target {
        let length = min(target - connection.sent, BenchPlan.maximumChunk)
        let start = SourcePattern.start(offset: connection.sent, seed: connection.seed)
        let step = try SourcePattern.bytes.withUnsafeBytes { bytes in
          try transport.write(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
        }
        connection.unfinishedWrite = 0
        switch step {
        case .done(let count):
          connection.sent += count
          if plan.service == .sink && measuring { result.bytes += count }
          progressed = true
        case .wantWrite:
          needWrite = true
          connection.unfinishedWrite = length
        case .wantRead: connection.unfinishedWrite = length
        case .closed: throw BenchError("the server closed the connection", kind: "closed")
        }
      }
      // A sink answers nothing until the end; reading would only cost a syscall per write.
      if plan.service != .sink {
        switch try transport.read(into: buffer) {
        case .done(let count):
          try verify(connection, count)
          progressed = true
          if try received(connection, count) { return }
        case .wantRead: break
        case .wantWrite: needWrite = true
        case .closed: return try serverClosed(connection)
        }
      }
      if !progressed {
        let interest: Epoll.Interest =
          plan.service == .sink ? .writable : needWrite ? [.readable, .writable] : .readable
        return wait(connection, interest)
      }
    }
    // Out of budget: let the other connections have a turn, then come back without waiting
    // for epoll, which cannot see records OpenSSL has already read ahead.
    schedule(connection)
  }

  /// How far this connection should have sent by now.
  private func sendTarget(_ connection: BenchConnection) -> Int {
    switch (plan.mode, plan.service) {
    case (.throughput, .source): 0
    case (.throughput, .sink): connection.sent + BenchPlan.maximumChunk
    case (.throughput, _): connection.received + window
    case (.latency, _): connection.received - connection.received % plan.size + plan.size
    case (.handshakes, _): 1
    case (.hold, _): connection.phase == .held ? 0 : plan.size
    }
  }

  private func verify(_ connection: BenchConnection, _ count: Int) throws {
    // A source sends stream 0 to every connection; an echo, each connection's own.
    let seed = plan.service == .source ? 0 : connection.seed
    let start = SourcePattern.start(offset: connection.received, seed: seed)
    let same = SourcePattern.bytes.withUnsafeBytes { expected in
      memcmp(expected.baseAddress! + start, buffer.baseAddress!, count) == 0
    }
    if !same {
      var offset = 0
      while offset < count && buffer[offset] == SourcePattern.bytes[start + offset] { offset += 1 }
      throw BenchError(
        "echo mismatch on connection \(connection.slot) at byte \(connection.received + offset): "
          + "sent \(SourcePattern.bytes[start + offset]), got \(buffer[offset])",
        kind: "echo_mismatch")
    }
  }

  /// Books `count` verified bytes. Returns true when the connection was closed or replaced.
  private func received(_ connection: BenchConnection, _ count: Int) throws -> Bool {
    connection.received += count
    if plan.service != .source && connection.received > connection.sent {
      throw BenchError(
        "the server sent \(connection.received - connection.sent) bytes never sent to it",
        kind: "echo_mismatch")
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
      let session = plan.resume ? connection.transport?.tlsStream?.resumableSession() : nil
      close(connection)
      if BenchClock.now() < clock.deadline && !clock.isAborted {
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

  /// The server ended the stream. Only a source may (it sends `--bytes`, then closes): then the
  /// slot connects again for the rest of the run.
  private func serverClosed(_ connection: BenchConnection) throws {
    guard plan.service == .source, connection.received > 0 else {
      throw BenchError(
        "the server closed the connection after \(connection.received) bytes", kind: "closed")
    }
    close(connection)
    if measuring && BenchClock.now() < clock.deadline && !clock.isAborted {
      connect(slot: connection.slot)
    }
  }

  /// Sink mode after the run: closes our side, then reads the server's one-line report.
  private func awaitReport(_ connection: BenchConnection, _ transport: Transport) throws {
    // OpenSSL refuses to close while a record is half written: finish it first.
    while connection.unfinishedWrite > 0 {
      let start = SourcePattern.start(offset: connection.sent, seed: connection.seed)
      let length = connection.unfinishedWrite
      let step = try SourcePattern.bytes.withUnsafeBytes { bytes in
        try transport.write(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
      }
      switch step {
      case .done(let count):
        connection.sent += count
        connection.unfinishedWrite = 0
      case .wantWrite: return wait(connection, .writable)
      case .wantRead: return wait(connection, .readable)
      case .closed: throw BenchError("the server closed the connection", kind: "closed")
      }
    }
    if !connection.outputClosed {
      switch try transport.closeOutput() {
      case .wantRead: return wait(connection, .readable)
      case .wantWrite: return wait(connection, .writable)
      case .done, .closed: connection.outputClosed = true
      }
    }
    while true {
      switch try transport.read(into: buffer) {
      case .done(let count):
        connection.report += UnsafeRawBufferPointer(rebasing: buffer[..<count])
        if connection.report.count > 4096 { throw BenchError("the sink's report is too long") }
      case .wantRead: return wait(connection, .readable)
      case .wantWrite: return wait(connection, .writable)
      case .closed:
        let text = String(decoding: connection.report, as: UTF8.self)
        guard let report = SinkReport(line: text) else {
          throw BenchError("no sink report from the server: '\(text.prefix(80))'")
        }
        guard report.bytes == connection.sent else {
          throw BenchError(
            "the sink counted \(report.bytes) bytes on connection \(connection.slot), "
              + "\(connection.sent) were sent")
        }
        result.reportedBytes += report.bytes
        connection.phase = .exchanging
        return close(connection)
      }
    }
  }
}
