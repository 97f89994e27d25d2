import Sockets
import StreamServices
import TLS

/// What a service step tells its connection.
enum ServiceOutcome {
  /// Wait until the socket is ready this way, then step again.
  case wait(Epoll.Interest)
  /// The read budget ran out with work left: run again before the loop waits.
  case runAgain
  /// The service is over: on to closing, which flushes pending output first. `peerClosed`:
  /// the peer has already ended its side, so there is nothing more to wait for.
  case finished(CloseReason, peerClosed: Bool)
  /// Close now, without a closing stage: the peer is gone (a write failed after its end).
  case closeNow(CloseReason)
}

/// The service stage of a connection's life, one case per `--mode`. Each case is a small type
/// of its own; adding a service is adding a case here, not a branch in the loop.
enum Service {
  /// Echo through the loop's buffer, coalescing what has already arrived (TLS, or plaintext
  /// without splice).
  case echo
  /// Plaintext echo by splice(2), through the loop's pipe.
  case spliceEcho
  /// Each TLS record back as one record.
  case record
  case reverse(ReverseService)
  case discard
  case chargen(PatternSender)
  case source(PatternSender)
  case sink(SinkService)

  /// The service for `configuration` on `transport`. `shaped`: the connection has stream
  /// faults, whose timing needs the bytes in user memory (no splice).
  init(
    _ configuration: ServiceConfiguration, transport: Transport, loop: LoopContext,
    shaped: Bool = false
  ) {
    switch configuration.mode {
    case .echo where transport.tlsStream?.isDatagram == true:
      // DTLS: each record is a datagram, and each goes back as one.
      self = .record
    case .echo:
      self = !transport.isTLS && loop.splicePipe != nil && !shaped ? .spliceEcho : .echo
    case .record:
      precondition(transport.isTLS, "record mode needs TLS; the command line refuses it")
      self = .record
    case .reverse: self = .reverse(ReverseService())
    case .discard: self = .discard
    case .chargen: self = .chargen(PatternSender(.chargen, limit: nil))
    case .source: self = .source(PatternSender(.source, limit: configuration.sourceBytes))
    case .sink: self = .sink(SinkService())
    }
  }

  mutating func step(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> ServiceOutcome {
    switch self {
    case .echo: return try EchoService.echo(&channel, loop, coalesce: true)
    case .record: return try EchoService.echo(&channel, loop, coalesce: false)
    case .spliceEcho: return try EchoService.splice(&channel, loop)
    case .reverse(let service): return try service.step(&channel, loop)
    case .discard: return try DiscardService.step(&channel, loop)
    case .chargen(var sender):
      defer { self = .chargen(sender) }
      return try sender.step(&channel, loop)
    case .source(var sender):
      defer { self = .source(sender) }
      return try sender.step(&channel, loop)
    case .sink(var sink):
      defer { self = .sink(sink) }
      return try sink.step(&channel, loop)
    }
  }

}
