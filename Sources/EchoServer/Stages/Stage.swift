import Sockets
import TLS

/// The stages of one connection's life, in order. Each later issue adds its stage here:
///
///     [PROXY header] -> handshake -> report (when asked) -> [faults] -> service -> closing
///       -> closed
///
/// A plaintext connection has no handshake: from the header, or from the start, to `faults`
/// or `service`.
enum Stage {
  /// `--proxy-protocol`, from a trusted source: the balancer's header, before anything else.
  case proxyHeader(ProxyHeaderStage)
  /// The TLS handshake, until `SSL_do_handshake` is done.
  case handshake
  /// The handshake report goes out (`--report`, or a `report.` server name) before the service.
  case report
  /// The connection's faults take hold (`FaultStage`), then the service starts.
  case faults
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
/// bytes in flight. Faults change how our end goes (`Style`) and when (`holdUntil`).
struct Closing {
  /// How our side of the stream ends.
  enum Style: Equatable {
    /// close_notify over TLS, FIN in plaintext.
    case orderly
    /// FIN without close_notify (`no-close-notify`, `limit-N-fin`).
    case bareFIN
    /// `truncate`: the next record (pending output, or else the close_notify) goes out cut
    /// in the middle, then FIN.
    case truncate
  }

  /// Why the connection ends, for its log line and counters.
  let reason: CloseReason
  let detail: String?
  let style: Style
  /// `slow-close`: our end waits until then (monotonic milliseconds).
  let holdUntil: Int64?
  private(set) var peerClosed: Bool
  private(set) var outputClosed = false

  init(
    _ reason: CloseReason, detail: String? = nil, peerClosed: Bool, style: Style = .orderly,
    holdUntil: Int64? = nil
  ) {
    self.reason = reason
    self.detail = detail
    self.peerClosed = peerClosed
    self.style = style
    self.holdUntil = holdUntil
  }

  /// Still holding our end back (`slow-close`).
  func isHolding(_ now: Int64) -> Bool { holdUntil.map { now < $0 } ?? false }

  mutating func step(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> StageOutcome {
    if !outputClosed {
      if style == .truncate, let stream = channel.transport.tlsStream {
        if let interest = try cut(stream, &channel) { return .wait(interest) }
      } else if let interest = try channel.flush(loop) {
        return .wait(interest)
      }
    }
    if !outputClosed && isHolding(loop.now) {
      // Read (and drop) meanwhile: a peer that has ended its side leaves nothing to wait for
      // but the timer.
      return peerClosed ? .wait([]) : try drain(&channel, loop)
    }
    if !outputClosed {
      switch style {
      case .orderly:
        switch try channel.transport.closeOutput() {
        case .wantRead: return .wait(.readable)
        case .wantWrite: return .wait(.writable)
        case .done, .closed: break
        }
      case .bareFIN, .truncate:
        do { try channel.transport.socket.shutdownOutput() } catch { throw .socket(error) }
      }
      outputClosed = true
    }
    return try drain(&channel, loop)
  }

  /// Reads and drops until the peer ends its side.
  private mutating func drain(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> StageOutcome {
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
      } catch  where outputClosed && reason == .fault {
        // A fault ended the stream on purpose; what the client says of it (an alert, a reset)
        // does not change why the connection ended.
        peerClosed = true
      }
    }
    return peerClosed ? .done : .runAgain
  }

  /// `truncate`: one record of what is pending (or the close_notify) goes out cut; the rest of
  /// the output is dropped. Returns the readiness to wait for while the cut part has not all
  /// gone (a retry passes the same bytes again, as OpenSSL needs: they stay pending till then).
  private func cut(
    _ stream: TLSStream, _ channel: inout Channel
  ) throws(TransportError) -> Epoll.Interest? {
    if !stream.hasCutRecord {
      stream.cutNextRecord()
      let count = min(channel.pendingCount, stream.recordSize)
      let step: StreamStep
      if count == 0 {
        step = try channel.transport.closeOutput()
      } else {
        var record = [UInt8](repeating: 0, count: count)
        channel.takePending(into: &record)
        step = try record.withBytes { (bytes) throws(TransportError) in
          try channel.transport.write(bytes)
        }
      }
      switch step {
      case .wantRead: return .readable
      case .wantWrite: return .writable
      case .done, .closed: if !stream.hasCutRecord { return .writable }
      }
    }
    channel.discardPending()
    return nil
  }
}
