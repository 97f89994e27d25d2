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
  /// A pair claimed whose connection is being set up.
  private static let unattached: Int32 = -1

  func contains(_ pair: Pair) -> Bool { byPair[pair] != nil }

  /// Takes `pair` for a connection about to be set up; false if it is taken already (by a
  /// connection, or by another loop setting one up this moment).
  mutating func claim(_ pair: Pair) -> Bool {
    guard byPair[pair] == nil else { return false }
    byPair[pair] = Self.unattached
    return true
  }

  /// The connection on `descriptor` now has `pair`.
  mutating func attach(_ pair: Pair, descriptor: Int32) {
    byPair[pair] = descriptor
    byDescriptor[descriptor] = pair
  }

  /// A claim whose connection was never set up.
  mutating func release(_ pair: Pair) {
    if byPair[pair] == Self.unattached { byPair[pair] = nil }
  }

  /// The connection on `descriptor` closed.
  mutating func remove(descriptor: Int32) {
    guard let pair = byDescriptor.removeValue(forKey: descriptor) else { return }
    if byPair[pair] == descriptor { byPair[pair] = nil }
  }

  var count: Int { byPair.count }
}

/// The loops' one `DatagramPeers`, behind a lock taken per DTLS connection admitted and
/// closed: never per datagram.
final class SharedDatagramPeers: Sendable {
  private let state = ThreadLock(DatagramPeers())

  func claim(local: SocketAddress, peer: SocketAddress) -> Bool {
    state.withLock { $0.claim(.init(local: local, peer: peer)) }
  }

  func attach(local: SocketAddress, peer: SocketAddress, descriptor: Int32) {
    state.withLock { $0.attach(.init(local: local, peer: peer), descriptor: descriptor) }
  }

  func release(local: SocketAddress, peer: SocketAddress) {
    state.withLock { $0.release(.init(local: local, peer: peer)) }
  }

  func remove(descriptor: Int32) { state.withLock { $0.remove(descriptor: descriptor) } }
}
