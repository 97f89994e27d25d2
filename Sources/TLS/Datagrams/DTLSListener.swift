import CTLS
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// The first exchange of a DTLS server, on a loop's UDP socket. It reads a batch of datagrams
/// itself (`recvmmsg`) and gives `DTLSv1_listen` one at a time, in a memory BIO: a ClientHello
/// without a valid cookie is answered with a HelloVerifyRequest (never larger than it, and
/// from the address it was sent to, which OpenSSL's datagram BIO cannot do on a wildcard
/// socket), anything else is dropped, and only a ClientHello that returns the cookie yields an
/// `Accepted`: the `SSL` that read it, which goes on with the handshake over a socket of its
/// own. Nothing is kept for a client before that round trip, and one call does at most a
/// batch's work, however many datagrams wait (OpenSSL's own loop reads until none is left).
///
/// One per loop and socket; not `Sendable`.
public final class DTLSListener {
  /// A client that returned its cookie: its address, the local address it wrote to (with the
  /// port), and the `SSL` that is its connection now.
  public final class Accepted {
    public let peer: SocketAddress
    public let local: SocketAddress
    private var ssl: OpaquePointer?

    init(ssl: OpaquePointer, peer: SocketAddress, local: SocketAddress) {
      self.ssl = ssl
      self.peer = peer
      self.local = local
    }

    deinit { if let ssl { SSL_free(ssl) } }

    /// The `SSL`, once: the `TLSStream` made of it frees it.
    func take() -> OpaquePointer {
      defer { ssl = nil }
      guard let ssl else { preconditionFailure("an accepted DTLS connection taken twice") }
      return ssl
    }
  }

  /// What one batch brought.
  public struct Batch {
    public var accepted: [Accepted] = []
    /// ClientHellos answered with a cookie (HelloVerifyRequests sent), and datagrams dropped
    /// (not a ClientHello, a bad cookie, cut, or an answer the socket did not take).
    public var answered = 0
    public var dropped = 0
    /// The socket may hold more: the batch was full.
    public var full = false
  }

  /// The loop's socket, borrowed: the server owns it.
  public let descriptor: Int32
  public let local: SocketAddress
  /// The `SSL` listening now; replaced by a new one when it accepts.
  private var ssl: OpaquePointer?
  private var context: TLSContext?
  /// A ClientHello fits one datagram (`DTLSv1_listen` takes no fragments); a longer one is
  /// dropped.
  private let batch = DatagramBatch(capacity: 16, bufferSize: 8193, packetInfo: true)
  /// The peer of the datagram being listened to, for the cookie callbacks (ex_data), and
  /// where `DTLSv1_listen` writes what it knows of it (nothing, from a memory BIO).
  private let peerAddress: OpaquePointer
  private let listenAddress: OpaquePointer

  public init(descriptor: Int32, local: SocketAddress) {
    self.descriptor = descriptor
    self.local = local
    guard let peer = BIO_ADDR_new(), let scratch = BIO_ADDR_new() else {
      fatalError("no memory for a BIO_ADDR")
    }
    peerAddress = peer
    listenAddress = scratch
  }

  deinit {
    if let ssl { SSL_free(ssl) }
    BIO_ADDR_free(peerAddress)
    BIO_ADDR_free(listenAddress)
  }

  /// Reads what waits on the socket, a batch at most, and answers or admits each datagram.
  /// `context` is the server's current one: a reload applies to the next listening `SSL`.
  /// A peer accepted twice (its ClientHello came again, with its cookie, before its own
  /// socket existed) is the caller's to refuse: another loop's listener may accept it too.
  public func receive(_ context: TLSContext) throws(SocketError) -> Batch {
    var result = Batch()
    let count = try batch.receive(from: descriptor)
    result.full = count == batch.capacity
    for index in 0..<count {
      let datagram = batch.datagram(index)
      let local = datagram.local?.withPort(self.local.port) ?? self.local
      guard !datagram.truncated else {
        result.dropped += 1
        continue
      }
      switch listen(datagram.bytes, from: datagram.peer, context) {
      case .accepted(let ssl):
        result.accepted.append(Accepted(ssl: ssl, peer: datagram.peer, local: local))
      case .answer(let reply):
        if !reply.withUnsafeBytes({ batch.mark(index, replyingWith: $0) }) { result.dropped += 1 }
      case .dropped:
        result.dropped += 1
      }
    }
    let sent = batch.echoMarked(on: descriptor)
    result.answered = sent.sent
    result.dropped += sent.failed
    return result
  }

  private enum Outcome {
    case accepted(OpaquePointer)
    case answer([UInt8])
    case dropped
  }

  /// `DTLSv1_listen` over `datagram` alone.
  private func listen(
    _ datagram: UnsafeRawBufferPointer, from peer: SocketAddress, _ context: TLSContext
  ) -> Outcome {
    guard let ssl = listeningSSL(context), let base = datagram.baseAddress,
      let input = ctls_BIO_new_datagram_buffer(base, Int32(datagram.count))
    else { return .dropped }
    guard let output = BIO_new(BIO_s_mem()) else {
      BIO_free(input)
      return .dropped
    }
    SSL_set_bio(ssl, input, output)
    guard Self.setAddress(peerAddress, to: peer) else { return .dropped }
    _ = SSL_set_ex_data(ssl, DTLSCookies.peerIndex, UnsafeMutableRawPointer(peerAddress))
    defer { OpenSSLErrorQueue.clear() }
    let result = DTLSv1_listen(ssl, listenAddress)
    if result > 0 {
      _ = SSL_set_ex_data(ssl, DTLSCookies.peerIndex, nil)
      self.ssl = nil
      return .accepted(ssl)
    }
    if result < 0 {
      // A fatal error leaves the listening `SSL` unusable: the next datagram gets a new one.
      SSL_free(ssl)
      self.ssl = nil
      return .dropped
    }
    let pending = Int(BIO_ctrl_pending(output))
    guard pending > 0 else { return .dropped }
    var reply = [UInt8](repeating: 0, count: pending)
    guard BIO_read(output, &reply, Int32(pending)) == Int32(pending) else { return .dropped }
    return .answer(reply)
  }

  /// The listening `SSL`, new for a new context (a reload) or after one accepted.
  private func listeningSSL(_ context: TLSContext) -> OpaquePointer? {
    if let ssl, self.context === context { return ssl }
    if let ssl { SSL_free(ssl) }
    ssl = nil
    OpenSSLErrorQueue.clear()
    guard let fresh = SSL_new(context.context) else { return nil }
    _ = ctls_dtls_set_link_mtu(fresh, context.configuration.datagramMTU)
    SSL_set_accept_state(fresh)
    ssl = fresh
    self.context = context
    return fresh
  }

  /// Makes `target` say `address`.
  private static func setAddress(_ target: OpaquePointer, to address: SocketAddress) -> Bool {
    address.withSockAddr { pointer, _ in
      BIO_ADDR_rawmake(
        target, Int32(pointer.pointee.sa_family), rawAddress(pointer), rawLength(address),
        address.port.bigEndian)
    } == 1
  }

  /// `address` as OpenSSL's BIO_ADDR; the caller frees it.
  static func bioAddress(_ address: SocketAddress) -> OpaquePointer? {
    guard let result = BIO_ADDR_new() else { return nil }
    guard setAddress(result, to: address) else {
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

}
