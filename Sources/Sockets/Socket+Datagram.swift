import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// UDP sockets: the server's (bound, unconnected, shared by the loops; one connected per DTLS
/// peer) and the client's (connected to the server).
extension Socket {
  /// The largest UDP payload: 65,535 less the UDP header and IPv4's 20-byte header (IPv6
  /// allows 65,527, but a datagram that fits both is what a test can rely on either way).
  public static let maximumDatagram = 65_507

  /// What a server's UDP socket asks for as its receive buffer.
  static let listeningReceiveBuffer: Int32 = 4 << 20

  /// A new UDP socket for `family`, close-on-exec, optionally non-blocking.
  public static func udp(
    _ family: SocketAddress.Family, nonBlocking: Bool = false
  ) throws(SocketError) -> Socket {
    try create(family, Int32(SOCK_DGRAM.rawValue), nonBlocking, "create UDP socket")
  }

  /// A non-blocking UDP socket bound to `address` (port 0: the kernel picks). With
  /// `packetInfo` (a wildcard address), each datagram carries the local address it was sent
  /// to, so that a reply can come from it: a client connected to one of the host's addresses
  /// drops a reply from another.
  ///
  /// `SO_REUSEPORT` lets each loop and each DTLS peer have a socket on the same address, and
  /// only sockets of the same user join them (`SO_REUSEADDR` would let any user's socket take
  /// the port's datagrams). An `exclusive` socket is bound without it, so the bind fails if any
  /// socket has the port (and port 0 gets one no socket has: with `SO_REUSEPORT` the kernel
  /// may hand out a port this user's sockets already share), and turns it on afterwards, for
  /// the others to join.
  public static func datagramListening(
    on address: SocketAddress, packetInfo: Bool, exclusive: Bool = false
  ) throws(SocketError) -> Socket {
    let socket = try Socket.udp(address.family, nonBlocking: true)
    // Room for a burst (the kernel caps it at net.core.rmem_max, silently): every UDP
    // client's datagrams, and every new DTLS peer's ClientHellos, queue here, and the default
    // buffer held 92 full-size datagrams. With 3,000 DTLS peers handshaking at once, a peer
    // whose ClientHello was dropped on each retransmission missed the client's timeout.
    try? socket.setOption(SOL_SOCKET, SO_RCVBUF, Self.listeningReceiveBuffer, "SO_RCVBUF")
    if !exclusive { try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT") }
    try socket.restrictToIPv6(address.family)
    if packetInfo {
      if address.family == .ipv6 {
        try socket.setOption(
          Int32(IPPROTO_IPV6), clinux_IPV6_RECVPKTINFO(), 1, "IPV6_RECVPKTINFO")
      } else {
        try socket.setOption(Int32(IPPROTO_IP), clinux_IP_PKTINFO(), 1, "IP_PKTINFO")
      }
    }
    try socket.bind(address)
    if exclusive { try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT") }
    return socket
  }

  /// A non-blocking UDP socket bound to `local` (the server's listening address, shared) and
  /// connected to `peer`: Linux delivers that peer's datagrams to it rather than to the
  /// listening socket, so one peer's DTLS connection has a socket of its own.
  public static func connectedDatagram(
    local: SocketAddress, peer: SocketAddress
  ) throws(SocketError) -> Socket {
    let socket = try Socket.udp(local.family, nonBlocking: true)
    try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT")
    try socket.restrictToIPv6(local.family)
    try socket.bind(local)
    try peer.withSockAddr { (pointer, length) throws(SocketError) in
      try syscall("connect to \(peer)") { Glibc.connect(socket.descriptor, pointer, length) }
    }
    socket.discardQueued()
    return socket
  }

  /// Between its bind and its connect a socket takes datagrams of any client: everything
  /// queued then is dropped, so that no stranger's datagram reaches the peer's DTLS connection
  /// (their senders send again, as UDP clients do). The peer's own can only be its ClientHello
  /// again, already taken in: the server has not answered it yet.
  private func discardQueued() {
    var byte: UInt8 = 0
    // An error (a queued ICMP one, EINTR) is consumed by the call that reports it: go on.
    while Glibc.recv(open, &byte, 1, Int32(MSG_DONTWAIT)) >= 0
      || (errno != EAGAIN && errno != EWOULDBLOCK)
    {}
  }

  /// A blocking UDP socket connected to `address`: a client's, which receives from the server
  /// alone.
  public static func connectedClient(to address: SocketAddress) throws(SocketError) -> Socket {
    let socket = try Socket.udp(address.family)
    try address.withSockAddr { (pointer, length) throws(SocketError) in
      try syscall("connect to \(address)") { Glibc.connect(socket.descriptor, pointer, length) }
    }
    return socket
  }

  /// An IPv6 socket serves IPv6 alone, so that `[::]` and `0.0.0.0` are two sockets.
  private func restrictToIPv6(_ family: SocketAddress.Family) throws(SocketError) {
    guard family == .ipv6 else { return }
    try setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY")
  }

  func bind(_ address: SocketAddress) throws(SocketError) {
    try address.withSockAddr { (pointer, length) throws(SocketError) in
      try syscall("bind \(address)") { Glibc.bind(open, pointer, length) }
    }
  }
}
