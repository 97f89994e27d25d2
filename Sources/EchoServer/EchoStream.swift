import Sockets
import TLS

/// What one step of a connection's I/O did, for plaintext and TLS alike.
enum StreamStep {
  case done(Int)
  case wantRead
  case wantWrite
  /// The peer closed its sending side (TCP FIN, or close_notify over TLS).
  case closed
}

/// The byte stream a connection echoes over: a bare socket or TLS over it. The connection's
/// logic is the same for both; only these calls differ.
protocol EchoStream: AnyObject {
  var socket: Socket { get }
  /// Advances the handshake; `.done` once the stream carries data.
  func advanceHandshake() throws -> StreamStep
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> StreamStep
  func write(_ buffer: UnsafeRawBufferPointer) throws -> StreamStep
  /// Ends our sending side after the peer ended theirs; `.done` when there is nothing left to do.
  func finishOutput() throws -> StreamStep
}

/// Plaintext: the socket itself.
final class PlainStream: EchoStream {
  let socket: Socket

  init(_ socket: Socket) { self.socket = socket }

  func advanceHandshake() -> StreamStep { .done(0) }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> StreamStep {
    switch try socket.read(into: buffer) {
    case .processed(0): .closed
    case .processed(let count): .done(count)
    case .wouldBlock: .wantRead
    }
  }

  func write(_ buffer: UnsafeRawBufferPointer) throws -> StreamStep {
    switch try socket.write(buffer) {
    case .processed(let count): .done(count)
    case .wouldBlock: .wantWrite
    }
  }

  func finishOutput() throws -> StreamStep {
    try socket.shutdownOutput()
    return .done(0)
  }
}

extension TLSStream: EchoStream {
  func advanceHandshake() throws -> StreamStep {
    StreamStep(try handshake()) { _ in 0 }
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> StreamStep {
    StreamStep(try read(into: buffer) as TLSResult<Int>) { $0 }
  }

  func write(_ buffer: UnsafeRawBufferPointer) throws -> StreamStep {
    StreamStep(try write(buffer) as TLSResult<Int>) { $0 }
  }

  /// Answers the peer's close_notify with ours.
  func finishOutput() throws -> StreamStep {
    StreamStep(try shutdown()) { _ in 0 }
  }
}

extension StreamStep {
  init<T>(_ result: TLSResult<T>, _ count: (T) -> Int) {
    switch result {
    case .done(let value): self = .done(count(value))
    case .wantRead: self = .wantRead
    case .wantWrite: self = .wantWrite
    case .closed: self = .closed
    }
  }
}
