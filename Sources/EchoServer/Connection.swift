import Faults
import ProxyProtocol
import Sockets
import TLS
import TLSHello

/// What the loop must do with a connection after stepping it.
enum Next: Equatable {
  /// Register this interest and wait for it.
  case wait(Epoll.Interest)
  /// It has work left but used its turn: run it again before the loop waits.
  case runAgain
  /// Close it now, for this reason.
  case close(CloseReason, detail: String?)
}

/// One client connection, owned by exactly one event loop: the stage it is in and its channel
/// (transport, pending output, counters). Stepping it runs the current stage, moving on to the
/// next stage when one is done, until the connection must wait, has used its turn, or is over.
///
/// It never touches the loop's structures (epoll, table, timers): it says what it needs in a
/// `Next`, and the loop does it. Its timer is one entry in the loop's `DeadlineHeap`.
final class Connection: DeadlineHeapElement {
  /// The client's address: the TCP peer's, or the one its balancer's PROXY header gave.
  private(set) var peer: String
  /// The PROXY header and the balancer that sent it, once read.
  private(set) var proxy: ProxyFacts?
  /// A balancer's health check (a v2 LOCAL header, or a header naming the balancer's own
  /// connection, as v1 checks do): if it ends before the client sends anything, it was one.
  private(set) var isHealthCheck = false
  /// The PROXY stage has not counted an outcome yet: a close now (drain, error) counts it.
  var awaitsProxyOutcome: Bool {
    if case .proxyHeader = stage { !proxyConcluded } else { false }
  }
  private var proxyConcluded = false
  let descriptor: Int32
  /// Monotonic milliseconds when accepted (the loop's clock), and nanoseconds (for metrics).
  let openedAt: Int64
  private let openedAtNanoseconds: UInt64
  private(set) var stage: Stage
  var channel: Channel
  /// The epoll interest currently registered, so that unchanged interest costs no syscall.
  var interest: Epoll.Interest = .readable
  /// Set while queued to run again without waiting for epoll.
  var isScheduled = false
  /// Set when the stage changed, so the loop moves the timer (a deadline that follows
  /// activity is re-armed lazily, when it comes due, never per read).
  var timerNeedsUpdate = true
  /// Whether the TLS handshake finished (plaintext: always).
  private(set) var handshakeDone: Bool

  /// The faults this connection was given (TLS: decided in its ClientHello; plaintext: at
  /// accept, from its listener), and its certificate scenario.
  var faults: [Fault] = []
  var scenario: Scenario?
  /// The decision of the ClientHello was read (and its faults counted).
  var decisionTaken = false
  /// `handshake-stall`: the held handshake is closed then.
  var handshakeHeldUntil: Int64?

  var heapDeadline: Int64 = 0
  var heapIndex = -1
  /// The timer is armed for a wake-up the faults asked for.
  var armedForWake = false
  /// The last step wanted to read and the faults held the read back: the timer, not epoll,
  /// brings the connection back when they let it.
  var readThrottled = false

  /// `proxyHeader`: the parser for the header this connection starts with, nil for none.
  /// `faults`: plaintext, the faults drawn for it (a TLS connection's come from its hello).
  init(
    transport: Transport, peer: String, proxyHeader: ProxyHeaderParser? = nil,
    service: ServiceConfiguration, loop: LoopContext, faults: [Fault] = []
  ) {
    self.peer = peer
    self.descriptor = transport.socket.descriptor
    self.openedAt = loop.now
    self.openedAtNanoseconds = loop.metrics == nil ? 0 : MonotonicClock.nanoseconds()
    self.channel = Channel(transport, peer: peer, now: loop.now)
    self.handshakeDone = !transport.isTLS
    self.serviceName = service.mode.rawValue
    self.faults = transport.isTLS ? [] : faults
    self.stage =
      proxyHeader.map { .proxyHeader(ProxyHeaderStage($0)) }
      ?? Self.opening(transport, service, loop, faulty: !faults.isEmpty)
    if !transport.isTLS { countFaults(loop) }
  }

  /// The first stage of the connection itself, once any PROXY header is in: the handshake, or
  /// in plaintext the faults or the service.
  private static func opening(
    _ transport: Transport, _ service: ServiceConfiguration, _ loop: LoopContext, faulty: Bool
  ) -> Stage {
    if transport.isTLS { return .handshake }
    return faulty ? .faults : .service(Service(service, transport: transport, loop: loop))
  }

  var transport: Transport { channel.transport }

  /// A DTLS peer: each datagram its own, and no TCP connection underneath.
  var isDatagram: Bool { transport.tlsStream?.isDatagram ?? false }
  var isClosed: Bool {
    if case .closed = stage { true } else { false }
  }

  /// In the TLS handshake: a close now counts as a failed handshake.
  var isHandshaking: Bool {
    if case .handshake = stage { true } else { false }
  }

  /// Whether the client has begun: TLS handshake done; plaintext (which has no handshake) a
  /// byte moved either way. Before that, the handshake timeout applies and a drain closes it.
  var hasStarted: Bool {
    transport.isTLS ? handshakeDone : channel.bytesIn > 0 || channel.bytesOut > 0
  }

  /// The service this connection runs (`--mode`), for its log line.
  let serviceName: String

  // MARK: Stepping

  /// Runs the connection as far as it goes without waiting. A TLS write the socket took only
  /// part of may have left records held back (MSG_MORE): they go before the connection waits.
  func step(_ loop: LoopContext) -> Next {
    var next = advance(loop)
    countSystemCalls(loop)
    if case .close = next { return next }
    if channel.shaper != nil {
      readThrottled = false
      if case .wait(var interest) = next, interest.contains(.readable), !channel.mayRead(loop) {
        // Throttled or stalled: the timer brings it back, not epoll.
        interest.remove(.readable)
        next = .wait(interest)
        readThrottled = true
      }
      // What the faults hold back may be due before the deadline armed.
      if let wake = channel.shaper?.nextWake(now: loop.now, readWanted: readThrottled),
        heapIndex < 0 || wake < heapDeadline
      {
        timerNeedsUpdate = true
      }
    }
    do throws(TransportError) {
      try transport.push()
    } catch {
      let (reason, detail) = classify(error)
      return .close(reason, detail: detail)
    }
    return next
  }

  /// System calls of the TLS stream already added to the loop's counters.
  private var countedCalls = (reads: 0, writes: 0)

  private func countSystemCalls(_ loop: LoopContext) {
    guard let stream = transport.tlsStream else { return }
    let calls = stream.systemCalls
    loop.statistics.socketReads.add(calls.reads - countedCalls.reads)
    loop.statistics.socketWrites.add(calls.sends + calls.pushes - countedCalls.writes)
    countedCalls = (calls.reads, calls.sends + calls.pushes)
  }

  private func advance(_ loop: LoopContext) -> Next {
    do throws(TransportError) {
      while true {
        // A fault's ending (a limit, a reset, a truncation) takes over from the service, or
        // from a closing that began for another reason.
        if case .close(let next)? = endByFault(loop) { return next }
        switch stage {
        case .proxyHeader(var reading):
          let outcome: ProxyHeaderStage.Outcome?
          do { outcome = try reading.step(transport.socket, loop) } catch {
            throw .socket(error)
          }
          stage = .proxyHeader(reading)
          guard let outcome else { return .wait(.readable) }
          if let next = received(outcome, loop) { return next }
        case .handshake:
          if loop.logsDebug && !handshakeBegun {
            handshakeBegun = true
            loop.logger.debug("handshake started", metadata: ["peer": "\(peer)"])
          }
          let step = try transport.handshake()
          // DTLS: a flight sent (or answered) started (or stopped) OpenSSL's retransmission
          // timer, which the connection's timer must follow.
          if isDatagram { timerNeedsUpdate = true }
          switch step {
          case .done: enterService(loop)
          case .wantRead where transport.tlsStream?.isHandshakeSuspended == true:
            return holdHandshake(loop)
          case .wantRead: return .wait(.readable)
          case .wantWrite: return .wait(.writable)
          case .closed: return .close(.clientClosed, detail: "close_notify during the handshake")
          }
        case .report:
          if let interest = try channel.flush(loop) { return .wait(interest) }
          enter(serviceStage(loop))
        case .faults:
          enter(.service(FaultStage.begin(faults, &channel, loop)))
        case .service(var service):
          let started = hasStarted
          let outcome = try service.step(&channel, loop)
          stage = .service(service)
          // A plaintext client's first byte starts it: from the handshake deadline to the idle
          // one.
          if !started && hasStarted { timerNeedsUpdate = true }
          switch outcome {
          case .wait where faultEndIsDue(loop): continue
          case .wait(let interest): return .wait(interest)
          case .runAgain: return .runAgain
          case .finished(_, _) where endsAsHealthCheck:
            return .close(.healthCheck, detail: nil)
          case .finished(let reason, let peerClosed):
            enter(
              .closing(FaultStage.closing(faults, reason, peerClosed: peerClosed, now: loop.now)))
          case .closeNow(let reason): return .close(reason, detail: nil)
          }
        case .closing(var closing):
          let outcome = try closing.step(&channel, loop)
          stage = .closing(closing)
          switch outcome {
          case .wait where faultEndIsDue(loop): continue
          case .wait(let interest): return .wait(interest)
          case .runAgain: return .runAgain
          case .done: return .close(closing.reason, detail: closing.detail)
          }
        case .closed:
          preconditionFailure("a closed connection was stepped")
        }
      }
    } catch {
      let (reason, detail) = classify(error)
      return .close(reason, detail: detail)
    }
  }

  /// The PROXY header stage is over: the header's facts are the connection's, and it goes on
  /// to the handshake or the service; or it ends as the stage says.
  private func received(_ outcome: ProxyHeaderStage.Outcome, _ loop: LoopContext) -> Next? {
    proxyConcluded = true
    switch ProxyHeaderStage.conclude(outcome, balancer: peer, loop) {
    case .close(let reason, let detail): return .close(reason, detail: detail)
    case .proceed(let facts):
      proxy = facts
      // HAProxy's v1 checks send a header with its own addresses; v2 ones, LOCAL.
      isHealthCheck =
        facts.header.command == .local || facts.header.source?.description == facts.balancer
      if let source = facts.header.source {
        peer = source.description
        channel.peer = peer
      }
      enter(Self.opening(transport, loop.service, loop, faulty: !faults.isEmpty))
      return nil
    }
  }

  /// Debug log: the first handshake step was logged.
  private var handshakeBegun = false
  /// The client's hello, read at the end of the handshake (or at the close of one that failed).
  private var helloFacts: HelloFacts?

  /// For the close line: taken from the captured hello the first time it is asked for.
  func hello(_ loop: LoopContext) -> HelloFacts? {
    var parsed: (hello: Result<ClientHello, ClientHelloError>, records: Int)?
    return hello(loop, parsed: &parsed)
  }

  private func hello(
    _ loop: LoopContext, parsed: inout (hello: Result<ClientHello, ClientHelloError>, records: Int)?
  ) -> HelloFacts? {
    if helloFacts == nil, let stream = transport.tlsStream {
      helloFacts = HelloFacts(taking: stream, keepingBytes: loop.logsTrace, parsed: &parsed)
    }
    return helloFacts
  }

  private func enterService(_ loop: LoopContext) {
    handshakeDone = true
    takeDecision(loop)
    var parsed: (hello: Result<ClientHello, ClientHelloError>, records: Int)?
    _ = hello(loop, parsed: &parsed)
    if loop.logsDebug, let tls = transport.tlsStream {
      loop.logger.debug(
        "handshake finished",
        metadata: [
          "peer": "\(peer)", "duration_ms": .stringConvertible(loop.now - openedAt),
          "tls_version": "\(tls.protocolVersion)", "cipher": "\(tls.cipher)",
          "resumed": .stringConvertible(tls.isResumed),
        ])
    }
    channel.touch(loop)
    loop.statistics.handshakesOK.add(1)
    loop.metrics?.recordHandshake(nanoseconds: MonotonicClock.nanoseconds() - openedAtNanoseconds)
    if transport.tlsStream?.isResumed == true { loop.statistics.handshakesResumed.add(1) }
    loop.freedMemory = true
    if let format = reportFormat(loop), let stream = transport.tlsStream {
      let report = HandshakeReport(
        hello: parsed?.hello, records: parsed?.records ?? 0,
        helloRetried: helloFacts?.helloRetried ?? false, stream: stream, instance: loop.instance,
        peer: peer, proxy: proxy, handshakeMilliseconds: loop.now - openedAt,
        faults: faultSpelling, scenario: scenario?.rawValue)
      let bytes = report.rendered(format)
      bytes.withUnsafeBytes { channel.keep($0) }
      enter(.report)
    } else {
      enter(serviceStage(loop))
    }
  }

  /// After the handshake (and its report): the faults first, if there are any.
  private func serviceStage(_ loop: LoopContext) -> Stage {
    faults.isEmpty ? .service(Service(loop.service, transport: transport, loop: loop)) : .faults
  }

  /// `--report`, or the JSON report for a client that asked for a `report.` server name.
  private func reportFormat(_ loop: LoopContext) -> ReportFormat? {
    if let format = loop.report { return format }
    let name = transport.tlsStream?.requestedServerName?.lowercased() ?? ""
    return name.hasPrefix(TLSContext.reportPrefix) ? .json : nil
  }

  func enter(_ next: Stage) {
    stage = next
    timerNeedsUpdate = true
  }

  /// A health check that ends now ends as one: the client sent nothing of its own (over TLS,
  /// no finished handshake; in plaintext, no byte), whatever the server has sent.
  private var endsAsHealthCheck: Bool {
    isHealthCheck && (transport.isTLS ? !handshakeDone : channel.bytesIn == 0)
  }

  private func classify(_ error: TransportError) -> (CloseReason, String?) {
    let handshaking = !handshakeDone
    if handshaking, let refusal = handshakeRefusal { return refusal }
    switch error {
    case .tls(let error) where endsAsHealthCheck && [.uncleanEOF, .io].contains(error.kind):
      return (.healthCheck, nil)
    case .socket(let error) where endsAsHealthCheck && error.isConnectionReset:
      return (.healthCheck, nil)
    case .tls(let error) where error.kind == .uncleanEOF:
      return (handshaking ? .handshakeFailed : .uncleanClose, error.reason)
    case .tls(let error) where error.kind == .io: return (.reset, error.reason)
    case .tls(let error) where handshaking: return (.handshakeFailed, error.reason)
    case .socket(let error) where error.isConnectionReset: return (.reset, error.reason)
    default: return (.error, error.description)
    }
  }

  /// The activity stamp at which the buffers were last given back: none to give until the
  /// connection moves bytes again.
  var buffersReleasedAt: Int64 = .min

  // MARK: Closing

  /// Frees the `SSL` and closes the descriptor. Only the loop calls this, once, after taking the
  /// connection out of epoll, its table and its timers.
  func close() {
    precondition(!isClosed, "a connection closed twice")
    stage = .closed
    channel.transport.close()
  }

  var bytesIn: Int { channel.bytesIn }
  var bytesOut: Int { channel.bytesOut }
}
