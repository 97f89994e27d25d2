import CTLS
import Sockets

/// DTLS: a TLS stream whose `SSL` speaks DTLS 1.2 over a connected UDP socket, through
/// OpenSSL's datagram BIO (each record is one datagram; the BIO reads whole ones), with the
/// retransmission timer OpenSSL keeps for the handshake's flights.
extension TLSStream {
  /// A client's DTLS connection to `peer` over `socket` (connected to it, owned by the stream).
  public convenience init(
    datagramSocket socket: Socket, context: TLSContext, peer: SocketAddress, serverName: String?
  ) throws(TLSError) {
    precondition(context.role == .client && context.configuration.datagram)
    OpenSSLErrorQueue.clear()
    guard let ssl = SSL_new(context.context) else {
      throw TLSError.fromQueue(.configuration, "create DTLS connection", fallback: "SSL_new failed")
    }
    self.init(adopting: ssl, socket: socket, context: context, serverName: serverName)
    try attachDatagramBIO(peer: peer)
    SSL_set_connect_state(ssl)
    if let serverName {
      try configureServerName(serverName, verify: context.configuration.verifyPeer)
    }
  }

  /// A server's DTLS connection to a client whose ClientHello came back with a valid cookie
  /// (`DTLSListener`): its `SSL` goes on with the handshake over `socket`, connected to the
  /// client, instead of the loop's listening socket.
  public convenience init(
    accepted: DTLSListener.Accepted, socket: Socket, context: TLSContext
  ) throws(TLSError) {
    self.init(adopting: accepted.take(), socket: socket, context: context, serverName: nil)
    try attachDatagramBIO(peer: accepted.peer)
  }

  private func attachDatagramBIO(peer: SocketAddress) throws(TLSError) {
    guard let bio = BIO_new_dgram(socket.descriptor, BIO_NOCLOSE) else {
      throw TLSError.fromQueue(
        .configuration, "attach UDP socket", fallback: "BIO_new_dgram failed")
    }
    // The SSL takes the BIO (and frees a listener's it had before).
    SSL_set_bio(ssl, bio, bio)
    guard let address = DTLSListener.bioAddress(peer) else {
      throw TLSError.fromQueue(.configuration, "attach UDP socket", fallback: "BIO_ADDR failed")
    }
    defer { BIO_ADDR_free(address) }
    _ = ctls_dgram_set_connected(bio, address)
    _ = ctls_dtls_set_link_mtu(ssl, context.configuration.datagramMTU)
  }

  /// Milliseconds until the DTLS retransmission timer fires (0: due), or nil when none runs.
  public var retransmissionDue: Int64? {
    let left = ctls_dtls_timeout_ms(ssl)
    return left < 0 ? nil : Int64(left)
  }

  /// The retransmission timer came due: the last flight goes again (OpenSSL doubles the wait
  /// each time, and gives up after a few).
  public func retransmit() throws(TLSError) {
    OpenSSLErrorQueue.clear()
    if ctls_dtls_handle_timeout(ssl) < 0 {
      throw TLSError.fromQueue(.handshake, "DTLS retransmission", fallback: "too many timeouts")
    }
  }

  /// Whether this is DTLS (each record a datagram, a record read is a datagram's payload).
  public var isDatagram: Bool { context.configuration.datagram }
}
