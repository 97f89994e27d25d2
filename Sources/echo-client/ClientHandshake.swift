import CommandLineSupport
import Sockets
import TLS

/// The client's TLS handshake, bounded in time: a server that accepts and never answers must
/// not hang the client.
enum ClientHandshake {
  /// Runs the handshake on `stream` within `timeoutMilliseconds`, then leaves the socket
  /// blocking again.
  static func run(
    _ stream: TLSStream, target: String, timeoutMilliseconds: Int32
  ) throws(ClientFailure) {
    let socket = stream.socket
    let deadline = MonotonicClock.milliseconds() + Int64(timeoutMilliseconds)
    do {
      try socket.setNonBlocking(true)
      handshake: while true {
        let step: TLSResult<Void>
        do { step = try stream.handshake() } catch {
          throw failure(
            error, target: target, serverName: stream.serverName,
            applied: ServerAnnouncement(stream.serverAnnouncement))
        }
        let writable: Bool
        switch step {
        case .done: break handshake
        case .wantRead: writable = false
        case .wantWrite: writable = true
        case .closed:
          throw ClientFailure(
            "TLS handshake with \(target): the server closed the connection", status: .unavailable)
        }
        let left = Int32(clamping: deadline - MonotonicClock.milliseconds())
        // DTLS: a lost flight is sent again when OpenSSL's timer fires, while waiting.
        let ready =
          stream.isDatagram
          ? try DTLSReceive.wait(stream, until: deadline)
          : try left > 0 && socket.waitUntil(writable: writable, timeoutMilliseconds: left)
        guard ready else {
          throw ClientFailure(
            "TLS handshake with \(target): no answer within \(seconds(timeoutMilliseconds)) s "
              + "(--handshake-timeout)", status: .unavailable)
        }
      }
      // A DTLS session keeps waiting with timeouts of its own (`DTLSReceive`).
      if !stream.isDatagram { try socket.setNonBlocking(false) }
    } catch let failure as ClientFailure {
      throw failure
    } catch {
      throw ClientFailure("TLS handshake with \(target): \(error)", status: .ioError)
    }
  }

  /// `applied`: what a SecureEcho server said it did on purpose, which explains the failure
  /// better than any guess.
  private static func failure(
    _ error: TLSError, target: String, serverName: String?, applied: ServerAnnouncement?
  ) -> ClientFailure {
    let because = applied.map { " (\($0.summary))" }
    if error.kind == .verification {
      return ClientFailure(
        "certificate verification failed for \(target): \(error.reason)"
          + (because ?? ClientHints.verification(error.reason, serverName: serverName)),
        status: .unavailable)
    }
    return ClientFailure(
      "TLS handshake with \(target): \(error.description)"
        + (because ?? ClientHints.handshake(error, serverName: serverName)),
      status: .unavailable)
  }
}
