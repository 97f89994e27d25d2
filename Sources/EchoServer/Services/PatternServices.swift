import Sockets
import StreamServices
import TLS

/// `discard` (RFC 863): reads and drops until the client closes. (The `blackhole` fault runs
/// it too, and ends without close_notify.)
enum DiscardService {
  static func step(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> ServiceOutcome {
    for _ in 0..<LoopContext.readBudget {
      switch try channel.read(into: loop.buffer, loop) {
      case .done: if channel.inputDrained { return .wait(.readable) }
      case .wantRead: return .wait(.readable)
      case .wantWrite: return .wait(.writable)
      case .closed: return .finished(.clientClosed, peerClosed: true)
      }
    }
    return .runAgain
  }
}

/// `chargen` (RFC 864) and `source`: sends a pattern, paced by the client (it waits whenever
/// the socket is full), while reading and dropping what the client sends, to see it end.
///
/// When the client ends its side: `chargen` and a `source` without `--bytes` have no end of
/// their own, so they stop ("until the client closes"); a `source` with `--bytes` goes on to
/// send them all (`nc -N < /dev/null` half-closes at once and reads on). A write that fails
/// after the client's end is that client leaving, not an error.
///
/// The pattern is written straight from its shared, immutable bytes: an unfinished write is
/// retried from the same offset, so it passes OpenSSL the same bytes again, and nothing is
/// copied per connection.
struct PatternSender {
  enum Pattern {
    case chargen, source
  }

  private let pattern: Pattern
  /// Where the next byte comes from, inside the pattern's period.
  private var offset = 0
  /// Bytes still to send; nil: until the client closes.
  private var remaining: Int?
  /// The client has ended its side.
  private var peerClosed = false
  /// The length of a TLS write that could not finish: OpenSSL holds part of its record and
  /// must be offered the same bytes again before anything else, close_notify included.
  private var unfinished = 0

  init(_ pattern: Pattern, limit: Int?) {
    self.pattern = pattern
    self.remaining = limit
  }

  mutating func step(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> ServiceOutcome {
    // Once per step, not per write: input is rare here, and each read that finds nothing is a
    // syscall.
    if !peerClosed, case .closed = try channel.read(into: loop.buffer, loop) {
      peerClosed = true
      if remaining == nil {
        // The half-written record goes out first (closing flushes it), then close_notify.
        if unfinished > 0 {
          let slice = patternBytes[offset..<(offset + unfinished)]
          slice.withUnsafeBytes { channel.queue($0, loop) }
        }
        return .finished(.clientClosed, peerClosed: true)
      }
    }
    do {
      return try send(&channel, loop)
    } catch .socket(let error) where peerClosed && error.isConnectionReset {
      return .closeNow(.clientClosed)
    } catch .tls(let error) where peerClosed && error.kind == .io {
      return .closeNow(.clientClosed)
    }
  }

  private mutating func send(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> ServiceOutcome {
    if channel.shaper != nil { return try sendShaped(&channel, loop) }
    let (bytes, period, tail) = (patternBytes, patternPeriod, patternTail)
    for _ in 0..<LoopContext.readBudget {
      if remaining == 0 { return .finished(.completed, peerClosed: peerClosed) }
      let length = min(tail, remaining ?? tail)
      let start = offset
      let step = try bytes.withBytes { (all) throws(TransportError) in
        try channel.transport.write(UnsafeRawBufferPointer(rebasing: all[start..<(start + length)]))
      }
      unfinished = 0
      switch step {
      case .done(let count):
        channel.wrote(count, loop)
        offset = (offset + count) % period
        if let left = remaining { remaining = left - count }
      case .wantWrite, .closed:
        if channel.transport.isTLS { unfinished = length }
        return .wait(peerClosed ? .writable : [.readable, .writable])
      case .wantRead:
        if channel.transport.isTLS { unfinished = length }
        return .wait(.readable)
      }
    }
    return .runAgain
  }

  /// With stream faults: through the channel, which holds each part until the faults let it
  /// go (and retries unfinished TLS writes itself).
  private mutating func sendShaped(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> ServiceOutcome {
    let (bytes, period, tail) = (patternBytes, patternPeriod, patternTail)
    let watch: Epoll.Interest = peerClosed ? [] : .readable
    for _ in 0..<LoopContext.readBudget {
      if let interest = try channel.makeRoom(loop) { return .wait(interest.union(watch)) }
      if remaining == 0 { return .finished(.completed, peerClosed: peerClosed) }
      let length = min(tail, remaining ?? tail)
      let start = offset
      let interest = try bytes.withBytes { (all) throws(TransportError) in
        try channel.send(UnsafeRawBufferPointer(rebasing: all[start..<(start + length)]), loop)
      }
      offset = (offset + length) % period
      if let left = remaining { remaining = left - length }
      if let interest { return .wait(interest.union(watch)) }
    }
    return .runAgain
  }

  private var patternBytes: [UInt8] {
    pattern == .chargen ? ChargenPattern.bytes : SourcePattern.bytes
  }
  private var patternPeriod: Int {
    pattern == .chargen ? ChargenPattern.period : SourcePattern.period
  }
  private var patternTail: Int { pattern == .chargen ? ChargenPattern.tail : SourcePattern.tail }
}

/// `sink`: reads until the client's end of input, then answers one `SinkReport` line.
struct SinkService {
  /// Monotonic nanoseconds of the first byte.
  private var firstByte: UInt64?

  mutating func step(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> ServiceOutcome {
    for _ in 0..<LoopContext.readBudget {
      switch try channel.read(into: loop.buffer, loop) {
      case .done:
        if firstByte == nil { firstByte = MonotonicClock.nanoseconds() }
        if channel.inputDrained { return .wait(.readable) }
      case .wantRead: return .wait(.readable)
      case .wantWrite: return .wait(.writable)
      case .closed:
        let elapsed = firstByte.map { MonotonicClock.nanoseconds() - $0 } ?? 0
        var line = SinkReport(bytes: channel.bytesIn, nanoseconds: elapsed).line
        line.withUTF8 { channel.queue(UnsafeRawBufferPointer($0), loop) }
        return .finished(.completed, peerClosed: true)
      }
    }
    return .runAgain
  }
}

/// `reverse`: each line back reversed (see `LineReverser`). A class, so that the line it holds
/// is changed in place rather than copied out of the connection's stage and back.
final class ReverseService {
  private var reverser = LineReverser()

  func step(_ channel: inout Channel, _ loop: LoopContext) throws(TransportError) -> ServiceOutcome
  {
    for _ in 0..<LoopContext.readBudget {
      if let interest = try channel.makeRoom(loop) { return .wait(interest) }
      loop.output.removeAll(keepingCapacity: true)
      switch try channel.read(into: loop.buffer, loop) {
      case .done(let count):
        reverser.feed(UnsafeRawBufferPointer(rebasing: loop.buffer[..<count]), into: &loop.output)
        guard !loop.output.isEmpty else { continue }
        let interest = try loop.output.withBytes { (bytes) throws(TransportError) in
          try channel.send(bytes, loop)
        }
        if let interest { return .wait(interest) }
      case .wantRead: return .wait(.readable)
      case .wantWrite: return .wait(.writable)
      case .closed:
        reverser.finish(into: &loop.output)
        loop.output.withUnsafeBytes { channel.queue($0, loop) }
        return .finished(.clientClosed, peerClosed: true)
      }
    }
    return .runAgain
  }
}
