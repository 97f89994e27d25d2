import Sockets

/// `--dtls`: the peers a loop has admitted, so that a ClientHello of theirs that reached the
/// listening socket before their own socket existed (a retransmission, with its valid cookie)
/// does not admit them a second time: a second socket on the same pair of addresses would
/// take half of the client's datagrams.
struct DatagramPeers {
  private var byPeer: [SocketAddress: Int32] = [:]
  private var byDescriptor: [Int32: SocketAddress] = [:]

  func contains(_ peer: SocketAddress) -> Bool { byPeer[peer] != nil }

  mutating func insert(_ peer: SocketAddress, descriptor: Int32) {
    byPeer[peer] = descriptor
    byDescriptor[descriptor] = peer
  }

  /// The connection on `descriptor` closed.
  mutating func remove(descriptor: Int32) {
    guard let peer = byDescriptor.removeValue(forKey: descriptor) else { return }
    if byPeer[peer] == descriptor { byPeer[peer] = nil }
  }

  var count: Int { byPeer.count }
}
