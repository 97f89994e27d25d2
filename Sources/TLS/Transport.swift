import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// What one step of a connection's I/O did, for plaintext and TLS alike.
public enum StreamStep: Equatable {
  case done(Int)
  case wantRead
  case wantWrite
  /// The peer closed its sending side (TCP FIN, or close_notify over TLS).
  case closed
}

/// Why a transport operation failed: the socket underneath, or TLS.
public enum TransportError: Error, CustomStringConvertible {
  case socket(SocketError)
  case tls(TLSError)

  public var description: String {
    switch self {
    case .socket(let error): error.description
    case .tls(let error): error.description
    }
  }

  /// The cause alone, without the operation.
  public var reason: String {
    switch self {
    case .socket(let error): error.reason
    case .tls(let error): error.reason
    }
  }
}

/// A connection's byte stream: a bare socket, or TLS over one. The one type the server's
/// connections, the client and the load generator move bytes through; code switches on it
/// where the two differ (a handshake, splice) instead of asking an existential what it is.
public enum Transport {
  case plain(Socket)
  case tls(TLSStream)

  public var socket: Socket {
    switch self {
    case .plain(let socket): socket
    case .tls(let stream): stream.socket
    }
  }

  public var tlsStream: TLSStream? {
    if case .tls(let stream) = self { stream } else { nil }
  }

  public var isTLS: Bool { tlsStream != nil }

  /// The name log lines give it: `plaintext`, `tls`, or `dtls` for TLS over datagrams.
  public var name: String {
    switch self {
    case .plain: "plaintext"
    case .tls(let stream): stream.isDatagram ? "dtls" : "tls"
    }
  }

  /// Advances the handshake; `.done` once the stream carries data (at once in plaintext).
  public func handshake() throws(TransportError) -> StreamStep {
    switch self {
    case .plain: return .done(0)
    case .tls(let stream):
      do { return StreamStep(try stream.handshake()) { _ in 0 } } catch { throw .tls(error) }
    }
  }

  /// Reads what is there into `buffer` (over TLS, at most one record's worth).
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> StreamStep
  {
    switch self {
    case .plain(let socket):
      do {
        switch try socket.read(into: buffer) {
        case .processed(0): return .closed
        case .processed(let count): return .done(count)
        case .wouldBlock: return .wantRead
        }
      } catch {
        throw .socket(error)
      }
    case .tls(let stream):
      do { return StreamStep(try stream.read(into: buffer)) { $0 } } catch { throw .tls(error) }
    }
  }

  /// Writes what the socket takes of `buffer` now. `buffer` must not be empty.
  public func write(_ buffer: UnsafeRawBufferPointer) throws(TransportError) -> StreamStep {
    switch self {
    case .plain(let socket):
      do {
        switch try socket.write(buffer) {
        case .processed(let count): return .done(count)
        case .wouldBlock: return .wantWrite
        }
      } catch {
        throw .socket(error)
      }
    case .tls(let stream):
      let step: StreamStep
      do { step = StreamStep(try stream.write(buffer)) { $0 } } catch { throw .tls(error) }
      // After the peer's close_notify, OpenSSL reports a write that failed underneath (EPIPE,
      // a reset) as ZERO_RETURN: nothing more can be sent, so it is a broken pipe, not a state
      // to wait in (a reset socket stays ready and the wait would spin).
      if step == .closed { throw .socket(SocketError("TLS write", errno: EPIPE)) }
      return step
    }
  }

  /// Ends our sending side (TCP FIN, or close_notify over TLS); reads may go on. `.done` when
  /// there is nothing left to do for it.
  public func closeOutput() throws(TransportError) -> StreamStep {
    switch self {
    case .plain(let socket):
      do { try socket.shutdownOutput() } catch { throw .socket(error) }
      return .done(0)
    case .tls(let stream):
      do {
        switch try stream.shutdown() {
        case .done: return .done(0)
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .closed: return .done(0)
        }
      } catch {
        throw .tls(error)
      }
    }
  }

  /// Whether input has already been read off the socket and waits inside OpenSSL (a record, or
  /// part of one): epoll cannot see it, so a reader that stops now must come back by itself.
  public var hasBufferedInput: Bool {
    switch self {
    case .plain: false
    case .tls(let stream): stream.hasBufferedInput
    }
  }

  /// Sends what a TLS write that stopped halfway held back (`TLSStream.push`); plaintext has
  /// nothing held.
  public func push() throws(TransportError) {
    guard case .tls(let stream) = self else { return }
    do { try stream.push() } catch { throw .socket(error) }
  }

  /// Closes the connection: the `SSL` (if any) and the descriptor end together.
  public func close() {
    switch self {
    case .plain(let socket): socket.close()
    case .tls(let stream): stream.close()
    }
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

extension Transport {
  /// Sends all of `bytes`, waiting for the socket whenever it cannot take more. For clients;
  /// the server never waits.
  public func sendAll(_ bytes: UnsafeRawBufferPointer) throws(TransportError) {
    var offset = 0
    while offset < bytes.count {
      switch try write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
      case .done(let count): offset += count
      case .wantRead: try wait(writable: false)
      case .wantWrite: try wait(writable: true)
      case .closed: throw .socket(SocketError("send", errno: EPIPE))
      }
    }
  }

  /// Receives at least one byte into `buffer`, waiting as needed; 0 once the peer has closed.
  public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int {
    while true {
      switch try read(into: buffer) {
      case .done(let count): return count
      case .wantRead: try wait(writable: false)
      case .wantWrite: try wait(writable: true)
      case .closed: return 0
      }
    }
  }

  private func wait(writable: Bool) throws(TransportError) {
    do { try socket.waitUntil(writable: writable) } catch { throw .socket(error) }
  }
}
