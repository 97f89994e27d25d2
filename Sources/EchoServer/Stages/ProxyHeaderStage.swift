import Logging
import ProxyProtocol
import Sockets

/// The first stage behind a balancer: its PROXY header, read exactly. Every byte after the
/// header belongs to the TLS handshake or the service, so the socket is peeked and only the
/// header's own bytes are taken out of it. A header in pieces costs its pieces and no more:
/// bytes known to be header are taken at once, so a level-triggered socket never spins on them.
struct ProxyHeaderStage {
  /// What a step came to, when it came to something (nil: wait for more bytes).
  enum Outcome {
    case header(ProxyHeader)
    case invalid(ProxyHeaderError)
    /// The peer ended the connection (FIN, or RST when `reset`) inside the header, after
    /// `received` of its bytes.
    case ended(received: Int, reset: Bool)
  }

  let parser: ProxyHeaderParser
  /// The header's bytes taken so far: only a header that came in pieces has any.
  private(set) var received: [UInt8] = []

  init(_ parser: ProxyHeaderParser) { self.parser = parser }

  mutating func step(_ socket: Socket, _ loop: LoopContext) throws(SocketError) -> Outcome? {
    while true {
      if let total = ProxyHeaderParser.declaredV2Length(received) {
        switch try readRest(of: total, from: socket, loop) {
        case .more: continue
        case .wait: return nil
        case .done(let outcome): return outcome
        }
      }
      let room = UnsafeMutableRawBufferPointer(
        rebasing: loop.buffer[..<min(loop.buffer.count, parser.maximumLength - received.count)])
      let count: Int
      do {
        switch try socket.peek(into: room) {
        case .wouldBlock: return nil
        case .processed(let peeked): count = peeked
        }
      } catch  where error.isConnectionReset {
        return .ended(received: received.count, reset: true)
      }
      if count == 0 { return .ended(received: received.count, reset: false) }
      let seen = UnsafeRawBufferPointer(rebasing: room[..<count])
      let result = received.isEmpty ? parser.parse(seen) : parser.parse(received + Array(seen))
      switch result {
      case .invalid(let error): return .invalid(error)
      case .complete(let header, let length):
        try take(length - received.count, from: socket, into: room)
        return .header(header)
      case .needMore:
        // Everything seen is header: take it, and wait for the rest.
        received.append(contentsOf: seen)
        try take(count, from: socket, into: room)
      }
    }
  }

  private enum Rest {
    /// Some came and is kept: read again.
    case more
    case wait
    case done(Outcome)
  }

  /// A v2 header whose length is known: the rest is all header, so it is read as it comes,
  /// without peeking, and parsed once, when it is all in.
  private mutating func readRest(
    of total: Int, from socket: Socket, _ loop: LoopContext
  ) throws(SocketError) -> Rest {
    let room = UnsafeMutableRawBufferPointer(rebasing: loop.buffer[..<(total - received.count)])
    do {
      switch try socket.read(into: room) {
      case .wouldBlock: return .wait
      case .processed(0): return .done(.ended(received: received.count, reset: false))
      case .processed(let count): received.append(contentsOf: room[..<count])
      }
    } catch  where error.isConnectionReset {
      return .done(.ended(received: received.count, reset: true))
    }
    guard received.count == total else { return .more }
    switch parser.parse(received) {
    case .complete(let header, _): return .done(.header(header))
    case .invalid(let error): return .done(.invalid(error))
    case .needMore:
      throw SocketError("read the PROXY header", reason: "the parser wants more than it declared")
    }
  }

  /// Reads `count` bytes that a peek has already seen, so the read cannot come up short.
  private func take(
    _ count: Int, from socket: Socket, into room: UnsafeMutableRawBufferPointer
  ) throws(SocketError) {
    let target = UnsafeMutableRawBufferPointer(rebasing: room[..<count])
    guard case .processed(count) = try socket.read(into: target) else {
      throw SocketError("read the PROXY header", reason: "the socket gave back less than it showed")
    }
  }

  /// What the connection does once the stage has come to something.
  enum Conclusion {
    case close(CloseReason, String?)
    /// The header is in: the connection takes its facts and moves on.
    case proceed(ProxyFacts)
  }

  /// Counts and logs what a step came to, and says what the connection does next.
  static func conclude(
    _ outcome: Outcome, balancer: String, _ loop: LoopContext
  ) -> Conclusion {
    let statistics = loop.statistics
    switch outcome {
    case .invalid(let error):
      statistics.proxyHeader(.invalid)
      return .close(.proxyHeaderInvalid, "PROXY header: \(error)")
    case .ended(received: 0, _):
      // A balancer's TCP check: connect, then close without a byte.
      statistics.proxyHeader(.empty)
      return .close(.healthCheck, nil)
    case .ended(let count, let reset):
      statistics.proxyHeader(.truncated)
      let how = reset ? "was reset" : "ended"
      return .close(.proxyHeaderInvalid, "the connection \(how) \(count) bytes into a PROXY header")
    case .header(let header):
      let facts = ProxyFacts(balancer: balancer, header: header)
      statistics.proxyHeader(
        header.command == .local
          ? .local : header.source == nil ? .unknown : header.version == .v1 ? .v1 : .v2)
      if loop.logsDebug {
        var metadata: Logger.Metadata = ["peer": "\(header.source?.description ?? balancer)"]
        for (key, value) in facts.fields { metadata[key] = "\(value)" }
        loop.logger.debug("PROXY header", metadata: metadata)
      }
      return .proceed(facts)
    }
  }
}
