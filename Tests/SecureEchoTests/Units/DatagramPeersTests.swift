import Sockets
import Testing

@testable import EchoServer

/// The DTLS peers a loop has admitted, on their own.
@Suite("DTLS peers admitted (no sockets)")
struct DatagramPeersTests {
  @Test("a peer is known while its connection lasts, and only that connection forgets it")
  func lifetime() {
    var peers = DatagramPeers()
    let local = SocketAddress(numericHost: "127.0.0.1", port: 4433)!
    let peer = DatagramPeers.Pair(
      local: local, peer: SocketAddress(numericHost: "127.0.0.1", port: 40_000)!)
    let other = DatagramPeers.Pair(
      local: local, peer: SocketAddress(numericHost: "127.0.0.1", port: 40_001)!)
    // The same client toward another of the server's addresses is another pair.
    let elsewhere = DatagramPeers.Pair(
      local: SocketAddress(numericHost: "127.0.0.2", port: 4433)!, peer: peer.peer)
    let claimed = peers.claim(peer)
    #expect(claimed)
    peers.attach(peer, descriptor: 10)
    #expect(peers.contains(peer) && !peers.contains(other) && !peers.contains(elsewhere))
    // The same address and port again, on a new connection, after the first closed late:
    // the old one's close must not forget the new one.
    peers.attach(peer, descriptor: 11)
    peers.remove(descriptor: 10)
    #expect(peers.contains(peer))
    peers.remove(descriptor: 11)
    #expect(!peers.contains(peer) && peers.count == 0)
    peers.remove(descriptor: 12)
    #expect(peers.count == 0)
  }
}

extension DatagramPeersTests {
  @Test("a pair is claimed once, even before its connection exists; a failed setup frees it")
  func claims() {
    var peers = DatagramPeers()
    let pair = DatagramPeers.Pair(
      local: SocketAddress(numericHost: "127.0.0.1", port: 4433)!,
      peer: SocketAddress(numericHost: "127.0.0.1", port: 40_000)!)
    var claims = [peers.claim(pair)]
    // Another loop, handed the same ClientHello while the first sets the connection up.
    claims.append(peers.claim(pair))
    peers.release(pair)
    let released = !peers.contains(pair)
    claims.append(peers.claim(pair))
    peers.attach(pair, descriptor: 10)
    // A release is only for a claim never attached.
    peers.release(pair)
    claims.append(peers.claim(pair))
    peers.remove(descriptor: 10)
    claims.append(peers.claim(pair))
    #expect(released)
    #expect(claims == [true, false, true, false, true])
  }
}
