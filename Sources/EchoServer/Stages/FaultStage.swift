import Faults
import Sockets
import TLS

/// The fault stage, between the handshake (and its report) and the service: the faults a
/// connection was given take hold. Those that act on the stream go into its channel
/// (`FaultShaper`: delays, bandwidth, slices, limits, resets, stalls, truncation,
/// KeyUpdates), `blackhole` replaces the service by `discard`, and those that change how it
/// ends are read by `closing`. The handshake's own faults (alerts, stalls, record sizes,
/// tickets) already acted in the ClientHello, where the TLS module's `HandshakeDirector`
/// decided them all.
enum FaultStage {
  /// Gives `channel` its stream faults and returns the service the connection runs.
  static func begin(_ faults: [Fault], _ channel: inout Channel, _ loop: LoopContext) -> Service {
    channel.shaper = FaultShaper(faults, now: loop.now)
    if faults.contains(.blackhole) { return .discard }
    return Service(
      loop.service, transport: channel.transport, loop: loop, shaped: channel.shaper != nil)
  }

  /// How the connection closes, as its faults say: `reason` and `detail` are what ended it.
  static func closing(
    _ faults: [Fault], _ reason: CloseReason, detail: String? = nil, peerClosed: Bool,
    style: Closing.Style? = nil, now: Int64
  ) -> Closing {
    var chosen = Closing.Style.orderly
    // A blackhole answers nothing, not even the end.
    if faults.contains(.noCloseNotify) || faults.contains(.blackhole) { chosen = .bareFIN }
    if faults.contains(.truncate) { chosen = .truncate }
    var hold: Int64?
    for case .slowClose(let milliseconds) in faults { hold = now + Int64(milliseconds) }
    return Closing(
      reason, detail: detail, peerClosed: peerClosed, style: style ?? chosen, holdUntil: hold)
  }

  /// What a fault ending leads to.
  enum Outcome {
    case closing(Closing)
    /// RST, now: the connection closes without a closing stage.
    case reset(detail: String)
  }

  static func end(
    by ending: FaultShaper.Ending, _ faults: [Fault], _ channel: inout Channel,
    peerClosed: Bool, now: Int64
  ) -> Outcome {
    func spelling(_ kind: Fault.Kind) -> String {
      faults.first { $0.kind == kind }.map { FaultLabel($0).spelling } ?? kind.rawValue
    }
    channel.shaper?.markEnded()
    switch ending {
    case .reset, .limit(.rst):
      channel.discardPending()
      try? channel.transport.socket.setResetOnClose()
      return .reset(detail: spelling(ending == .reset ? .reset : .limit))
    case .limit(let close):
      channel.discardPending()
      let style: Closing.Style? = close == .fin ? .bareFIN : close == .notify ? .orderly : nil
      return .closing(
        closing(
          faults, .fault, detail: spelling(.limit), peerClosed: peerClosed, style: style,
          now: now))
    case .truncate:
      return .closing(
        closing(
          faults, .fault, detail: spelling(.truncate), peerClosed: peerClosed, style: .truncate,
          now: now))
    }
  }
}
