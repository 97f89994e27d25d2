import Foundation
import Sockets
import TLS

/// A one-connection TLS server in a thread of the test, for the endings echo-server never
/// produces: it reads what the client sends, answers part or all of it, and then drops the TCP
/// connection without a close_notify.
final class ScriptedTLSServer: Sendable {
  struct Outcome: Sendable {
    /// The client sent more (its close_notify) before the echo had gone back.
    var clientClosedEarly: Bool
  }

  let port: UInt16
  private let listener: Handoff<Socket>
  private let context: Handoff<TLSContext>

  init(maximumVersion: TLSConfiguration.Version = .tls13) throws {
    var configuration = TLSConfiguration.server(
      certificateChainFile: Locations.serverCertificate.path,
      privateKeyFile: Locations.serverKey.path)
    configuration.maximumVersion = maximumVersion
    context = Handoff(try TLSContext(configuration, role: .server))
    let socket = try Socket.listening(on: SocketAddress(numericHost: "127.0.0.1", port: 0)!)
    port = try socket.localAddress().port
    listener = Handoff(socket)
  }

  /// Serves one client: reads `expect` bytes, writes the first `echo` of them back and drops
  /// the connection. While the echo is still held back, watches the socket for `watchMilliseconds`
  /// to see whether the client already ended its side.
  func serveOnce(expect: Int, echo: Int, watchMilliseconds: Int32 = 300) async throws -> Outcome {
    let (listener, context) = (self.listener, self.context)
    return try await runBlocking {
      let socket = listener.value
      try socket.setNonBlocking(false)
      guard try socket.waitUntil(writable: false, timeoutMilliseconds: 20_000),
        case .processed(let (connection, _)) = try Socket.accept(listener: socket.descriptor)
      else { throw TestFailure("no client came") }
      try connection.setNonBlocking(false)
      let stream = try TLSStream(socket: connection, context: context.value)
      defer { stream.close() }
      guard case .done = try stream.handshake() else { throw TestFailure("handshake") }
      var received = Data()
      var buffer = [UInt8](repeating: 0, count: 16 * 1024)
      while received.count < expect {
        let step = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
        guard case .done(let count) = step else {
          throw TestFailure("client ended at \(received.count)")
        }
        received.append(contentsOf: buffer[..<count])
      }
      let arrived = try connection.waitUntil(
        writable: false, timeoutMilliseconds: watchMilliseconds)
      let early = stream.hasBufferedInput || arrived
      var sent = 0
      while sent < echo {
        let step = try received.withUnsafeBytes {
          try stream.write(UnsafeRawBufferPointer(rebasing: $0[sent..<echo]))
        }
        guard case .done(let count) = step else { throw TestFailure("write") }
        sent += count
      }
      // stream.close() (deferred) frees the SSL and closes the socket: no close_notify.
      return Outcome(clientClosedEarly: early)
    }
  }
}

extension TLSConfigurationVersion {
  var value: TLSConfiguration.Version { self == .tls12 ? .tls12 : .tls13 }
}
