import Sockets
import TLS

/// The stages of one connection's life, in order. Each later issue adds its stage here:
///
///     [PROXY header] -> handshake -> report (when asked) -> service -> closing -> closed
///
/// A plaintext connection has no handshake: from the header, or from the start, to `service`.
enum Stage {
  /// `--proxy-protocol`, from a trusted source: the balancer's header, before anything else.
  case proxyHeader(ProxyHeaderStage)
  /// The TLS handshake, until `SSL_do_handshake` is done.
  case handshake
  /// The handshake report goes out (`--report`, or a `report.` server name) before the service.
  case report
  /// What the server does with the data: echo, or another `--mode`.
  case service(Service)
  /// Flush what is pending, end our side, wait for the peer's end.
  case closing(Closing)
  /// Closed: the transport is gone. Stepping it is a programmer error.
  case closed
}

/// What a stage step tells its connection (the loop gets a `Next`).
enum StageOutcome {
  case wait(Epoll.Interest)
  case runAgain
  case done
}

/// The closing stage: pending output first (the end of an echo), then our end of the stream
/// (close_notify over TLS, FIN in plaintext), then, if the peer has not ended its side yet,
/// reading (and dropping) until it does, so that closing never resets a peer that still has
/// bytes in flight.
struct Closing {
  /// Why the connection ends, for its log line and counters.
  let reason: CloseReason
  private(set) var peerClosed: Bool
  private(set) var outputClosed = false

  init(_ reason: CloseReason, peerClosed: Bool) {
    self.reason = reason
    self.peerClosed = peerClosed
  }

  mutating func step(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> StageOutcome {
    if let interest = try channel.flush(loop) { return .wait(interest) }
    if !outputClosed {
      switch try channel.transport.closeOutput() {
      case .wantRead: return .wait(.readable)
      case .wantWrite: return .wait(.writable)
      case .done, .closed: outputClosed = true
      }
    }
    for _ in 0..<LoopContext.readBudget where !peerClosed {
      do {
        switch try channel.read(into: loop.buffer, loop) {
        case .done: continue
        case .wantRead: return .wait(.readable)
        case .wantWrite: return .wait(.writable)
        case .closed: peerClosed = true
        }
      } catch .tls(let error) where error.kind == .uncleanEOF {
        // Our side is done; a peer that then just closes TCP has lost nothing.
        peerClosed = true
      }
    }
    return peerClosed ? .done : .runAgain
  }
}
