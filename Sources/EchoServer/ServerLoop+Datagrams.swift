import Logging
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// `--dtls`: admitting DTLS peers. A client becomes a connection only once its ClientHello
/// has come back with the stateless cookie (`DTLSListener`); it then gets a UDP socket of its
/// own, connected to it, and is a `Connection` like any TLS one (handshake, record echo,
/// closing), counted in `accepted` and closed for one reason, within `--max-connections`.
extension ServerLoop {
  /// Datagrams one loop takes from its socket before its other work gets a turn.
  static let datagramsPerWakeUp = 64

  func acceptDatagramPeers(_ listener: DTLSListener) {
    guard let context = control.currentTLS else { return }
    for _ in 0..<Self.datagramsPerWakeUp {
      let outcome: (accepted: DTLSListener.Accepted?, drained: Bool)
      do { outcome = try listener.listen(context) } catch {
        logger.warning("DTLS listen failed: \(error)")
        return
      }
      if let accepted = outcome.accepted { admitDatagramPeer(accepted, on: listener, context) }
      if outcome.drained { return }
    }
  }

  private func admitDatagramPeer(
    _ accepted: DTLSListener.Accepted, on listener: DTLSListener, _ context: TLSContext
  ) {
    statistics.accepted.add(1)
    guard control.admitConnection() else {
      statistics.closed(.refusedAtLimit)
      refusals.note(.refusedAtLimit, peer: accepted.peer, now: now, logger: logger)
      return
    }
    let transport: Transport
    do {
      let socket = try Socket.connectedDatagram(local: listener.local, peer: accepted.peer)
      transport = .tls(try TLSStream(accepted: accepted, socket: socket, context: context))
      try epoll.add(socket.descriptor, .readable, token: UInt64(socket.descriptor))
    } catch {
      control.releaseConnection()
      statistics.closed(.error)
      logger.info(
        "connection setup failed",
        metadata: ["peer": "\(accepted.peer)", "reason": "error", "detail": "\(error)"])
      return
    }
    let connection = Connection(
      transport: transport, peer: accepted.peer.description, service: self.context.service,
      loop: self.context)
    if self.context.logsDebug {
      logger.debug(
        "accepted", metadata: ["peer": "\(accepted.peer)", "transport": "dtls"])
    }
    store(connection)
    timers.schedule(connection, at: connection.nextDeadline(self.context))
    // Its ClientHello is in: the server's flight goes now.
    drive(connection)
  }
}
