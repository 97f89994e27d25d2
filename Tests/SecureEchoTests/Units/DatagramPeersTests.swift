import Sockets
import Testing

@testable import EchoServer

/// The DTLS peers a loop has admitted, on their own.
@Suite("DTLS peers admitted (no sockets)")
struct DatagramPeersTests {
  @Test("a peer is known while its connection lasts, and only that connection forgets it")
  func lifetime() {
    var peers = DatagramPeers()
    let peer = SocketAddress(numericHost: "127.0.0.1", port: 40_000)!
    let other = SocketAddress(numericHost: "127.0.0.1", port: 40_001)!
    peers.insert(peer, descriptor: 10)
    #expect(peers.contains(peer) && !peers.contains(other))
    // The same address and port again, on a new connection, after the first closed late:
    // the old one's close must not forget the new one.
    peers.insert(peer, descriptor: 11)
    peers.remove(descriptor: 10)
    #expect(peers.contains(peer))
    peers.remove(descriptor: 11)
    #expect(!peers.contains(peer) && peers.count == 0)
    peers.remove(descriptor: 12)
    #expect(peers.count == 0)
  }
}
