import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// What one step of a connection's I/O did, for plaintext and TLS alike.
public enum StreamStep {
  case done(Int)
  case wantRead
  case wantWrite
  /// The peer closed its sending side (TCP FIN, or close_notify over TLS).
  case closed
}

/// A connection's byte stream: a bare socket or TLS over it. Code that moves bytes (the
/// server's connections, the client's pipe mode) is the same for both; only these calls differ.
public protocol ByteStream: AnyObject {
  var socket: Socket { get }
  /// Advances the handshake; `.done` once the stream carries data.
  func advanceHandshake() throws -> StreamStep
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> StreamStep
  func write(_ buffer: UnsafeRawBufferPointer) throws -> StreamStep
  /// Ends our sending side (TCP FIN, or close_notify over TLS); reads may go on. `.done` when
  /// there is nothing left to do.
  func closeOutput() throws -> StreamStep
}

/// Plaintext: the socket itself.
public final class PlainStream: ByteStream {
  public let socket: Socket

  public init(_ socket: Socket) { self.socket = socket }

  public func advanceHandshake() -> StreamStep { .done(0) }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> StreamStep {
    switch try socket.read(into: buffer) {
    case .processed(0): .closed
    case .processed(let count): .done(count)
    case .wouldBlock: .wantRead
    }
  }

  public func write(_ buffer: UnsafeRawBufferPointer) throws -> StreamStep {
    switch try socket.write(buffer) {
    case .processed(let count): .done(count)
    case .wouldBlock: .wantWrite
    }
  }

  public func closeOutput() throws -> StreamStep {
    try socket.shutdownOutput()
    return .done(0)
  }
}

extension TLSStream: ByteStream {
  public func advanceHandshake() throws -> StreamStep {
    StreamStep(try handshake()) { _ in 0 }
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> StreamStep {
    StreamStep(try read(into: buffer) as TLSResult<Int>) { $0 }
  }

  public func write(_ buffer: UnsafeRawBufferPointer) throws -> StreamStep {
    StreamStep(try write(buffer) as TLSResult<Int>) { $0 }
  }

  /// Sends close_notify (answering the peer's, or starting a half-close).
  public func closeOutput() throws -> StreamStep {
    StreamStep(try shutdown()) { _ in 0 }
  }
}

extension StreamStep {
  fileprivate init<T>(_ result: TLSResult<T>, _ count: (T) -> Int) {
    switch result {
    case .done(let value): self = .done(count(value))
    case .wantRead: self = .wantRead
    case .wantWrite: self = .wantWrite
    case .closed: self = .closed
    }
  }
}

// MARK: Blocking use

extension ByteStream {
  /// Sends all of `bytes`, waiting for the socket whenever it cannot take more. For clients;
  /// the server never waits.
  public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
      switch try write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
      case .done(let count): offset += count
      case .wantRead: try socket.waitUntil(writable: false)
      case .wantWrite: try socket.waitUntil(writable: true)
      case .closed: throw SocketError("send", errno: EPIPE)
      }
    }
  }

  /// Receives at least one byte into `buffer`, waiting as needed; 0 once the peer has closed.
  public func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    while true {
      switch try read(into: buffer) {
      case .done(let count): return count
      case .wantRead: try socket.waitUntil(writable: false)
      case .wantWrite: try socket.waitUntil(writable: true)
      case .closed: return 0
      }
    }
  }
}
