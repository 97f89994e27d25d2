import Faults
import Sockets
import TLS

/// A connection's one timer: which deadline is in force, and what happens when it comes.
extension Connection {
  /// What the timer does when it comes due.
  enum TimerAction {
    case close(CloseReason, String?)
    /// An idle TLS connection gives its record buffers back, and stays open.
    case releaseBuffers
    /// Faults hold something back until now (a delayed write, a slice's gap, a refilled
    /// bucket, a slow close): step the connection.
    case wake
    /// DTLS: the handshake's last flight got no answer in time; it goes again.
    case retransmit
  }

  /// The deadline in force and what happens at it: the handshake deadline (plaintext: until
  /// the first byte; a held handshake: the end of its stall), the idle deadline as of the last
  /// activity, or the end of the linger while closing; and, earlier, the release of an idle
  /// TLS connection's buffers, or a wake-up the faults ask for. One function for both uses
  /// below, so that the deadline armed and the deadline checked cannot drift apart.
  func deadline(_ loop: LoopContext) -> (at: Int64, action: TimerAction)? {
    let limits = loop.limits
    var due: (at: Int64, action: TimerAction)?
    switch stage {
    case .proxyHeader(let reading):
      let detail = "no complete PROXY header in time (\(reading.received.count) bytes came)"
      due = (openedAt + limits.handshakeTimeout, .close(.handshakeTimeout, detail))
    case .handshake:
      if let heldUntil = handshakeHeldUntil {
        due = (heldUntil, .close(.fault, faults.first { $0.kind == .handshakeStall }.map(spelling)))
      } else {
        due = (openedAt + limits.handshakeTimeout, .close(.handshakeTimeout, nil))
      }
      if let left = transport.tlsStream?.retransmissionDue {
        earlier(&due, loop.now + left, .retransmit)
      }
    case .service where !hasStarted:
      due = (openedAt + limits.handshakeTimeout, .close(.handshakeTimeout, nil))
    case .report, .faults, .service:
      if limits.idleTimeout > 0 {
        due = (channel.lastActivity + limits.idleTimeout, .close(.idleTimeout, nil))
      }
    case .closing(let closing):
      let at = channel.lastActivity + limits.closeLinger
      due =
        closing.outputClosed
        ? (at, .close(closing.reason, "the client did not close within the linger time"))
        : (at, .close(.idleTimeout, "the client stopped reading while the server closed"))
      if let hold = closing.holdUntil, closing.isHolding(loop.now) { earlier(&due, hold, .wake) }
    case .closed: return nil
    }
    if let wake = channel.shaper?.nextWake(now: loop.now, readWanted: readThrottled) {
      earlier(&due, wake, .wake)
    }
    // (DTLS keeps OpenSSL's own release of empty buffers: its record layer holds on to them.)
    if transport.isTLS && !isDatagram && buffersReleasedAt != channel.lastActivity {
      earlier(&due, channel.lastActivity + limits.bufferRelease, .releaseBuffers)
    }
    return due
  }

  private func earlier(
    _ due: inout (at: Int64, action: TimerAction)?, _ at: Int64, _ action: TimerAction
  ) {
    if due == nil || at < due!.at { due = (at, action) }
  }

  private func spelling(_ fault: Fault) -> String { FaultLabel(fault).spelling }

  /// When the loop should look at this connection's timer next. Activity only moves the
  /// deadline forward, so an early look costs one re-arm and nothing per read.
  func nextDeadline(_ loop: LoopContext) -> Int64? {
    timerNeedsUpdate = false
    let due = deadline(loop)
    if case .wake? = due?.action { armedForWake = true } else { armedForWake = false }
    return due?.at
  }

  /// The timer came due: close now, step now (`runAgain`), or nil when the connection stays
  /// (activity since moved the deadline, or it only gave its buffers back); the loop then
  /// re-arms it at `nextDeadline`.
  func deadlinePassed(_ loop: LoopContext) -> Next? {
    // A wake-up armed is a wake-up delivered: what was held may have become possible exactly
    // now, and the step finds out (asking again could find nothing left to wait for).
    if armedForWake {
      armedForWake = false
      timerNeedsUpdate = true
      return .runAgain
    }
    guard let due = deadline(loop), loop.now >= due.at else { return nil }
    switch due.action {
    case .releaseBuffers:
      transport.tlsStream?.releaseIdleBuffers()
      buffersReleasedAt = channel.lastActivity
      loop.freedMemory = true
      return nil
    case .wake:
      timerNeedsUpdate = true
      return .runAgain
    case .retransmit:
      do throws(TLSError) {
        try transport.tlsStream?.retransmit()
      } catch {
        return .close(.handshakeFailed, detail: error.reason)
      }
      return nil
    case .close(let reason, let detail):
      if case .service = stage, reason == .idleTimeout {
        // Over TLS, a close_notify first lets the client tell this from a truncation.
        _ = try? transport.closeOutput()
      }
      return .close(reason, detail: detail)
    }
  }
}
