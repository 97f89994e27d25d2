import Sockets

/// `--dtls`: the peers admitted, by the pair of addresses, so that a ClientHello of theirs that
/// reached a listening socket before their own socket existed (a retransmission, with its
/// valid cookie) does not admit them a second time: a second socket on the same pair of
/// addresses would take half of the client's datagrams. Shared by the loops: which loop's
/// socket the kernel hands a client's datagram to changes as peers' sockets come and go.
struct DatagramPeers {
  struct Pair: Hashable {
    let local: SocketAddress
    let peer: SocketAddress
  }

  private var byPair: [Pair: Int32] = [:]
  private var byDescriptor: [Int32: Pair] = [:]

  func contains(_ pair: Pair) -> Bool { byPair[pair] != nil }

  mutating func insert(_ pair: Pair, descriptor: Int32) {
    byPair[pair] = descriptor
    byDescriptor[descriptor] = pair
  }

  /// The connection on `descriptor` closed.
  mutating func remove(descriptor: Int32) {
    guard let pair = byDescriptor.removeValue(forKey: descriptor) else { return }
    if byPair[pair] == descriptor { byPair[pair] = nil }
  }

  var count: Int { byPair.count }
}

/// The loops' one `DatagramPeers`, behind a lock taken per datagram a DTLS listener reads and
/// per DTLS connection opened and closed: never on the data path.
final class SharedDatagramPeers: Sendable {
  private let state = ThreadLock(DatagramPeers())

  func contains(local: SocketAddress, peer: SocketAddress) -> Bool {
    state.withLock { $0.contains(.init(local: local, peer: peer)) }
  }

  func insert(local: SocketAddress, peer: SocketAddress, descriptor: Int32) {
    state.withLock { $0.insert(.init(local: local, peer: peer), descriptor: descriptor) }
  }

  func remove(descriptor: Int32) { state.withLock { $0.remove(descriptor: descriptor) } }
}
