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
  /// Batches of datagrams one loop takes from its socket before its other work gets a turn:
  /// a flood of ClientHellos is answered in turns with the connections, never instead of them.
  static let datagramBatchesPerWakeUp = 4

  func acceptDatagramPeers(_ listener: DTLSListener) {
    guard let context = control.currentTLS else { return }
    for _ in 0..<Self.datagramBatchesPerWakeUp {
      let batch: DTLSListener.Batch
      do {
        batch = try listener.receive(context)
      } catch {
        // An error queued on the socket (an ICMP error of an earlier reply): it is consumed.
        logger.debug("DTLS receive failed: \(error)")
        continue
      }
      statistics.dtlsCookiesSent.add(batch.answered)
      statistics.dtlsDatagramsDropped.add(batch.dropped)
      for accepted in batch.accepted { admitDatagramPeer(accepted, context) }
      if !batch.full { return }
    }
  }

  private func admitDatagramPeer(_ accepted: DTLSListener.Accepted, _ context: TLSContext) {
    let (local, peer) = (accepted.local, accepted.peer)
    // A peer admitted already, or being admitted by another loop (its ClientHello came again,
    // with its cookie, before its own socket existed): a second socket on the same pair of
    // addresses would take half of its datagrams. Claimed before the setup, not after.
    if let datagramPeers, !datagramPeers.claim(local: local, peer: peer) {
      statistics.dtlsDatagramsDropped.add(1)
      return
    }
    guard control.admitConnection() else {
      datagramPeers?.release(local: local, peer: peer)
      return countRefusal(peer: peer, because: .refusedAtLimit)
    }
    let transport: Transport
    do {
      // From the address the client wrote to, even on a wildcard listener: the client
      // takes datagrams from that one alone.
      let socket = try Socket.connectedDatagram(local: local, peer: peer)
      transport = .tls(try TLSStream(accepted: accepted, socket: socket, context: context))
      try epoll.add(socket.descriptor, .readable, token: UInt64(socket.descriptor))
    } catch {
      datagramPeers?.release(local: local, peer: peer)
      return setupFailed(peer: peer, error)
    }
    let connection = Connection(
      transport: transport, peer: accepted.peer.description, service: self.context.service,
      loop: self.context)
    if self.context.logsDebug {
      logger.debug(
        "accepted", metadata: ["peer": "\(accepted.peer)", "transport": "dtls"])
    }
    store(connection)
    datagramPeers?.attach(local: local, peer: peer, descriptor: connection.descriptor)
    // Its ClientHello is in: the server's flight goes now, and the connection's timer follows
    // the flight's retransmission timer.
    drive(connection)
  }
}
