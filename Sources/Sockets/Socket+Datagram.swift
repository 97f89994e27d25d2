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

  /// A new UDP socket for `family`, close-on-exec, optionally non-blocking.
  public static func udp(
    _ family: SocketAddress.Family, nonBlocking: Bool = false
  ) throws(SocketError) -> Socket {
    var type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
    let domain = family == .ipv6 ? AF_INET6 : AF_INET
    let fd = try syscall("create UDP socket") { Glibc.socket(domain, type, 0) }
    return Socket(owning: fd)
  }

  /// A non-blocking UDP socket bound to `address` (port 0: the kernel picks). With
  /// `packetInfo` (a wildcard address), each datagram carries the local address it was sent
  /// to, so that a reply can come from it: a client connected to one of the host's addresses
  /// drops a reply from another. `SO_REUSEADDR` and `SO_REUSEPORT` let the DTLS peers' sockets
  /// bind the same address.
  public static func datagramListening(
    on address: SocketAddress, packetInfo: Bool
  ) throws(SocketError) -> Socket {
    let socket = try Socket.udp(address.family, nonBlocking: true)
    try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
    try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT")
    if address.family == .ipv6 {
      try socket.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY")
    }
    if packetInfo {
      if address.family == .ipv6 {
        try socket.setOption(
          Int32(IPPROTO_IPV6), clinux_IPV6_RECVPKTINFO(), 1, "IPV6_RECVPKTINFO")
      } else {
        try socket.setOption(Int32(IPPROTO_IP), clinux_IP_PKTINFO(), 1, "IP_PKTINFO")
      }
    }
    try socket.bind(address)
    return socket
  }

  /// A non-blocking UDP socket bound to `local` (the server's listening address, shared) and
  /// connected to `peer`: Linux delivers that peer's datagrams to it rather than to the
  /// listening socket, so one peer's DTLS connection has a socket of its own.
  public static func connectedDatagram(
    local: SocketAddress, peer: SocketAddress
  ) throws(SocketError) -> Socket {
    let socket = try Socket.udp(local.family, nonBlocking: true)
    try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
    try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT")
    if local.family == .ipv6 {
      try socket.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY")
    }
    try socket.bind(local)
    try peer.withSockAddr { (pointer, length) throws(SocketError) in
      try syscall("connect to \(peer)") { Glibc.connect(socket.descriptor, pointer, length) }
    }
    return socket
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

  func bind(_ address: SocketAddress) throws(SocketError) {
    try address.withSockAddr { (pointer, length) throws(SocketError) in
      try syscall("bind \(address)") { Glibc.bind(open, pointer, length) }
    }
  }
}
