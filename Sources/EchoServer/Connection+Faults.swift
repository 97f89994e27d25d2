import Faults
import Sockets
import TLS

/// A connection's faults and certificate scenario: learned from its ClientHello's decision (or,
/// in plaintext, drawn at accept), counted once, and the ends they bring.
extension Connection {
  /// Reads what the ClientHello decided, once: the faults, the scenario, and the counters.
  func takeDecision(_ loop: LoopContext) {
    guard !decisionTaken, let stream = transport.tlsStream, let decision = stream.handshakeDecision
    else { return }
    // Only a finished handshake knows its version: one that ended before keeps every fault.
    faults = decision.faults(tls13: !handshakeDone || stream.protocolVersion == "TLSv1.3")
    scenario = decision.scenario
    countFaults(loop)
  }

  /// `faults_applied_<kind>`, once per connection, when its faults are known.
  func countFaults(_ loop: LoopContext) {
    decisionTaken = true
    for fault in faults { loop.statistics.faultApplied(fault.kind) }
    if loop.logsDebug && (!faults.isEmpty || scenario != nil) {
      loop.logger.debug(
        "faults applied",
        metadata: [
          "peer": "\(peer)", "faults": "\(faultSpelling ?? "none")",
          "scenario": "\(scenario?.rawValue ?? "none")",
        ])
    }
  }

  /// `delay-200.small-records-512`, or nil without faults.
  var faultSpelling: String? {
    faults.isEmpty ? nil : faults.map { FaultLabel($0).spelling }.joined(separator: ".")
  }

  /// `handshake-stall`: the ClientHello callback holds the handshake; the connection waits
  /// for the stall's end with no interest at all (a reset still wakes it, and closes it).
  func holdHandshake(_ loop: LoopContext) -> Next {
    if handshakeHeldUntil == nil {
      takeDecision(loop)
      var seconds = 0
      for case .handshakeStall(let held) in faults { seconds = held }
      handshakeHeldUntil = loop.now + Int64(seconds) * 1000
      timerNeedsUpdate = true
    }
    return .wait([])
  }

  /// A handshake the server ended on purpose: a name it refused (`fault_refused`, with why),
  /// or a `handshake-alert` fault (`fault`). nil for any other failure.
  var handshakeRefusal: (CloseReason, String?)? {
    guard let decision = transport.tlsStream?.handshakeDecision else { return nil }
    if let refusal = decision.refusal { return (.faultRefused, refusal.description) }
    if let alert = decision.fault(.handshakeAlert) {
      return (.fault, FaultLabel(alert).spelling)
    }
    return nil
  }

  /// Why a connection held with no interest ends when both sides have closed: its closing
  /// stage's reason, or, before one, the client's close.
  var endAtHangUp: (CloseReason, String?) {
    if case .closing(let closing) = stage { return (closing.reason, closing.detail) }
    return (.clientClosed, nil)
  }

  /// How the stream's faults end a connection.
  enum FaultEnd {
    /// It is in its closing stage now: step on.
    case closing
    /// Closed at once (RST).
    case close(Next)
  }

  /// Whether the stream's faults end the connection now (`endByFault` will).
  func faultEndIsDue(_ loop: LoopContext) -> Bool {
    channel.shaper?.ending(now: loop.now) != nil
  }

  /// The stream's faults say the connection ends now: into its closing stage, or closed at
  /// once with RST. nil while they do not, or when it is in no stage they end (before the
  /// service). Taken once: the schedule ends with it.
  func endByFault(_ loop: LoopContext) -> FaultEnd? {
    guard let ending = channel.shaper?.ending(now: loop.now) else { return nil }
    let peerClosed: Bool
    switch stage {
    case .service: peerClosed = false
    case .closing(let closing): peerClosed = closing.peerClosed
    default: return nil
    }
    switch FaultStage.end(by: ending, faults, &channel, peerClosed: peerClosed, now: loop.now) {
    case .reset(let detail): return .close(.close(.fault, detail: detail))
    case .closing(let closing):
      enter(.closing(closing))
      return .closing
    }
  }
}
