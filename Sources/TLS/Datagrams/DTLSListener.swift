import CTLS
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// The first exchange of a DTLS server, on a loop's UDP socket: `DTLSv1_listen`
/// reads one datagram; a ClientHello without a valid cookie is answered with a
/// HelloVerifyRequest and forgotten (anything else, just forgotten), and only a ClientHello
/// that returns the cookie yields an `Accepted`: the `SSL` that read it, which goes on with the
/// handshake over a socket of its own. Nothing is kept for a client before that round trip.
///
/// One per loop and socket; not `Sendable`.
public final class DTLSListener {
  /// A client that returned its cookie: its address, and the `SSL` that is its connection now.
  public final class Accepted {
    public let peer: SocketAddress
    private var ssl: OpaquePointer?

    init(ssl: OpaquePointer, peer: SocketAddress) {
      self.ssl = ssl
      self.peer = peer
    }

    deinit { if let ssl { SSL_free(ssl) } }

    /// The `SSL`, once: the `TLSStream` made of it frees it.
    func take() -> OpaquePointer {
      defer { ssl = nil }
      guard let ssl else { preconditionFailure("an accepted DTLS connection taken twice") }
      return ssl
    }
  }

  /// The loop's socket, borrowed: the server owns it.
  public let descriptor: Int32
  public let local: SocketAddress
  /// The `SSL` listening now, over the socket; replaced by a new one when it accepts.
  private var ssl: OpaquePointer?
  private var context: TLSContext?

  public init(descriptor: Int32, local: SocketAddress) {
    self.descriptor = descriptor
    self.local = local
  }

  deinit { if let ssl { SSL_free(ssl) } }

  /// What one datagram brought: nothing (read, answered or dropped), or an accepted client.
  /// `drained` when the socket had nothing left. `context` is the server's current one: a
  /// reload applies to the next listening `SSL`.
  public func listen(
    _ context: TLSContext
  ) throws(TLSError) -> (accepted: Accepted?, drained: Bool) {
    if ssl == nil || self.context !== context { try restart(context) }
    guard let ssl, let client = BIO_ADDR_new() else {
      throw TLSError.fromQueue(.configuration, "DTLS listen", fallback: "no memory")
    }
    defer { BIO_ADDR_free(client) }
    OpenSSLErrorQueue.clear()
    let result = DTLSv1_listen(ssl, client)
    if result < 0 {
      // A fatal error leaves the listening `SSL` unusable: the next datagram gets a new one.
      OpenSSLErrorQueue.clear()
      SSL_free(ssl)
      self.ssl = nil
      return (nil, false)
    }
    guard result > 0 else {
      // A bad datagram leaves errors behind; they concern no one.
      let drained = ctls_BIO_should_retry(SSL_get_rbio(ssl)) == 1
      OpenSSLErrorQueue.clear()
      return (nil, drained)
    }
    guard let peer = Self.socketAddress(client) else {
      try restart(context)
      return (nil, false)
    }
    self.ssl = nil
    return (Accepted(ssl: ssl, peer: peer), false)
  }

  /// A fresh listening `SSL` over the socket.
  private func restart(_ context: TLSContext) throws(TLSError) {
    if let ssl { SSL_free(ssl) }
    ssl = nil
    OpenSSLErrorQueue.clear()
    guard let fresh = SSL_new(context.context), let bio = BIO_new_dgram(descriptor, BIO_NOCLOSE)
    else {
      throw TLSError.fromQueue(.configuration, "DTLS listen", fallback: "SSL_new failed")
    }
    SSL_set_bio(fresh, bio, bio)
    _ = ctls_dtls_set_link_mtu(fresh, context.configuration.datagramMTU)
    SSL_set_accept_state(fresh)
    ssl = fresh
    self.context = context
  }

  /// `address` as OpenSSL's BIO_ADDR; the caller frees it.
  static func bioAddress(_ address: SocketAddress) -> OpaquePointer? {
    guard let result = BIO_ADDR_new() else { return nil }
    let ok = address.withSockAddr { pointer, _ in
      BIO_ADDR_rawmake(
        result, Int32(pointer.pointee.sa_family), rawAddress(pointer), rawLength(address),
        address.port.bigEndian)
    }
    guard ok == 1 else {
      BIO_ADDR_free(result)
      return nil
    }
    return result
  }

  private static func rawAddress(_ pointer: UnsafePointer<sockaddr>) -> UnsafeRawPointer {
    if Int32(pointer.pointee.sa_family) == AF_INET6 {
      return UnsafeRawPointer(pointer) + MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
    }
    return UnsafeRawPointer(pointer) + MemoryLayout<sockaddr_in>.offset(of: \.sin_addr)!
  }

  private static func rawLength(_ address: SocketAddress) -> Int {
    address.family == .ipv6 ? 16 : 4
  }

  /// OpenSSL's BIO_ADDR as a `SocketAddress`.
  static func socketAddress(_ address: OpaquePointer) -> SocketAddress? {
    var bytes = [UInt8](repeating: 0, count: 16)
    var length = 0
    guard BIO_ADDR_rawaddress(address, &bytes, &length) == 1 else { return nil }
    let port = UInt16(bigEndian: BIO_ADDR_rawport(address))
    var text = [CChar](repeating: 0, count: 64)
    let family = BIO_ADDR_family(address) == AF_INET6 ? AF_INET6 : AF_INET
    guard inet_ntop(family, bytes, &text, socklen_t(text.count)) != nil else { return nil }
    let host = String(
      decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return SocketAddress(numericHost: host, port: port)
  }
}
