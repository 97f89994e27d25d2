import Sockets
import TLS

/// Echo: every byte back, in order, as soon as it can be.
enum EchoService {
  /// Reads and writes back through the loop's buffer. With `coalesce`, a read is followed by
  /// more reads of what OpenSSL already holds (records that arrived together), up to the buffer,
  /// and all of it goes back in one write: a request split into many small records comes back
  /// as one. It never waits for more to arrive, so it adds no latency. Without it (record
  /// mode), each record read goes back as one record of the same length.
  static func echo(
    _ channel: inout Channel, _ loop: LoopContext, coalesce: Bool
  ) throws(TransportError) -> ServiceOutcome {
    let buffer = loop.buffer
    for _ in 0..<LoopContext.readBudget {
      if let interest = try channel.makeRoom(loop) { return .wait(interest) }
      var filled = 0
      var ended = false
      var blocked: Epoll.Interest?
      gather: while filled < buffer.count {
        let space = UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
        switch try channel.read(into: space, loop) {
        case .done(let count): filled += count
        case .closed:
          ended = true
          break gather
        case .wantRead:
          blocked = .readable
          break gather
        case .wantWrite:
          blocked = .writable
          break gather
        }
        if !coalesce || !channel.transport.hasBufferedInput { break }
      }
      if filled > 0,
        let interest = try channel.send(UnsafeRawBufferPointer(rebasing: buffer[..<filled]), loop),
        !ended
      {
        return .wait(interest)
      }
      if ended { return .finished(.clientClosed, peerClosed: true) }
      if let blocked { return .wait(blocked) }
      if channel.inputDrained { return .wait(.readable) }
    }
    return .runAgain
  }

  /// Plaintext echo without copying through user memory: socket to the loop's pipe to socket
  /// (splice). Bytes the socket does not take at once are read out of the pipe into pending
  /// output. The pipe is shared by every connection of the loop, so it must be empty when this
  /// returns; if the count of what went in and came out says otherwise, the pipe is drained
  /// and this connection closed, so that no byte of it can reach another client.
  static func splice(
    _ channel: inout Channel, _ loop: LoopContext
  ) throws(TransportError) -> ServiceOutcome {
    guard let pipe = loop.splicePipe else { preconditionFailure("splice echo without a pipe") }
    let socket = channel.transport.socket
    for _ in 0..<LoopContext.readBudget {
      if channel.hasPending, let interest = try channel.flush(loop) { return .wait(interest) }
      let count: Int
      do {
        switch try pipe.fill(from: socket, count: LoopContext.bufferSize) {
        case .wouldBlock: return .wait(.readable)
        case .processed(0): return .finished(.clientClosed, peerClosed: true)
        case .processed(let filled): count = filled
        }
      } catch {
        throw .socket(error)
      }
      channel.received(count, loop)
      var moved = 0
      do {
        while moved < count,
          case .processed(let sent) = try pipe.drain(to: socket, count: count - moved), sent > 0
        {
          moved += sent
          channel.wrote(sent, loop)
        }
        if moved < count {
          let rest = UnsafeMutableRawBufferPointer(rebasing: loop.buffer[..<(count - moved)])
          let taken = try pipe.read(into: rest)
          channel.keep(UnsafeRawBufferPointer(rebasing: rest[..<taken]))
          moved += taken
        }
      } catch {
        pipe.discardAll(using: loop.buffer)
        throw .socket(error)
      }
      guard moved == count else {
        pipe.discardAll(using: loop.buffer)
        throw .socket(
          SocketError("splice echo", reason: "\(count - moved) bytes were left in the pipe"))
      }
      if channel.hasPending { return .wait(.writable) }
    }
    return .runAgain
  }
}
