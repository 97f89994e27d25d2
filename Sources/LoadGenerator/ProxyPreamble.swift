import ProxyProtocol
import Sockets

/// The PROXY header a client sends as its own balancer (`echo-client --proxy-header`): this
/// connection's real addresses, so that a server set up to sit behind a balancer can be tested
/// without one, and what it logs as the peer is still the truth.
public enum ProxyPreamble {
  /// The header for the connected `socket`: the source is its local address, the destination
  /// the server's end (of the addresses a name resolved to, the one that accepted).
  public static func bytes(
    _ version: ProxyVersion, for socket: Socket
  ) throws(SocketError) -> [UInt8] {
    let header = ProxyHeader(
      version: version, command: .proxy, source: proxyAddress(try socket.localAddress()),
      destination: proxyAddress(try socket.peerAddress()))
    return header.encoded()
  }

  private static func proxyAddress(_ address: SocketAddress) -> ProxyAddress? {
    ProxyAddress(numericHost: address.host, port: address.port)
  }

  /// Writes the header with one non-blocking write on a connection that has sent nothing yet.
  /// Its send buffer is empty and takes a header (107 bytes at most) whole, so a short write
  /// cannot happen; were it ever to, the bytes after it would follow a cut header, and a server
  /// closing on that would be measured instead of the server: an error, not a retry.
  static func sendOnFreshSocket(_ version: ProxyVersion, on socket: Socket) throws {
    let header = try bytes(version, for: socket)
    let name = version == .v1 ? "v1" : "v2"
    switch try header.withUnsafeBytes({ (raw) throws(SocketError) in try socket.write(raw) }) {
    case .processed(let count) where count == header.count:
      return
    case .processed(let count):
      throw BenchError(
        "PROXY \(name) header: a new connection's socket took \(count) of its \(header.count) "
          + "bytes in one write", kind: "proxy_header")
    case .wouldBlock:
      throw BenchError(
        "PROXY \(name) header: a new connection's socket would not take its \(header.count) "
          + "bytes (EAGAIN)", kind: "proxy_header")
    }
  }
}
