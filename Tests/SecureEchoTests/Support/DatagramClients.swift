import Foundation
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// A UDP socket connected to `host:port` (bound first to `source`, an address of this host,
/// and `sourcePort`, when given): one client, as the server sees it, by its address and port.
func connectUDP(
  host: String = "127.0.0.1", port: UInt16, source: String? = nil, sourcePort: UInt16 = 0
) throws -> Socket {
  guard let server = SocketAddress(numericHost: host, port: port) else {
    throw TestFailure("not a numeric address: \(host)")
  }
  let socket = try Socket.udp(server.family)
  if let source {
    guard let local = SocketAddress(numericHost: source, port: sourcePort) else {
      throw TestFailure("not a numeric address: \(source)")
    }
    try local.withSockAddr { (pointer, length) throws(SocketError) in
      guard Glibc.bind(socket.descriptor, pointer, length) == 0 else {
        throw SocketError("bind \(local)", errno: errno)
      }
    }
  }
  try server.withSockAddr { (pointer, length) throws(SocketError) in
    guard Glibc.connect(socket.descriptor, pointer, length) == 0 else {
      throw SocketError("connect to \(server)", errno: errno)
    }
  }
  return socket
}

extension Socket {
  func sendDatagram(_ data: Data) throws {
    let result = try data.withUnsafeBytes { try write($0) }
    guard result == .processed(data.count) else { throw TestFailure("datagram not sent whole") }
  }

  /// The next datagram, or nil if none comes within `milliseconds`.
  func receiveDatagram(withinMilliseconds milliseconds: Int32) throws -> Data? {
    guard try waitUntil(writable: false, timeoutMilliseconds: milliseconds) else { return nil }
    var buffer = [UInt8](repeating: 0, count: 70_000)
    guard case .processed(let count) = try buffer.withUnsafeMutableBytes({ try read(into: $0) })
    else { return nil }
    return Data(buffer[..<count])
  }

  /// Every datagram that arrives until none has for `quietMilliseconds`.
  func drainDatagrams(quietMilliseconds: Int32 = 300) throws -> [Data] {
    var all: [Data] = []
    while let datagram = try receiveDatagram(withinMilliseconds: quietMilliseconds) {
      all.append(datagram)
    }
    return all
  }
}

/// Sends a UDP datagram to 127.0.0.1:`port` from `sourcePort` of 127.0.0.1, which no UDP
/// socket could send from (port 0, or the server's own port): a raw socket, with a UDP header
/// of its own and no checksum (optional over IPv4). Needs CAP_NET_RAW, as root has.
func sendForgedDatagram(to port: UInt16, fromPort sourcePort: UInt16, payload: Data) throws {
  let descriptor = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_UDP))
  guard descriptor >= 0 else {
    throw TestFailure(
      "a raw socket for a forged UDP source: \(String(cString: strerror(errno))) "
        + "(the test needs CAP_NET_RAW, as root has)")
  }
  defer { close(descriptor) }
  let length = 8 + payload.count
  var packet = [UInt8]()
  for value in [sourcePort, port, UInt16(length), 0] {
    packet += [UInt8(value >> 8), UInt8(value & 0xff)]
  }
  packet += payload
  let target = SocketAddress(numericHost: "127.0.0.1", port: 0)!
  let sent = target.withSockAddr { pointer, size in
    sendto(descriptor, packet, packet.count, 0, pointer, size)
  }
  guard sent == packet.count else {
    throw TestFailure("raw send: \(String(cString: strerror(errno)))")
  }
}

/// The ports in a listening line, in order (`listening on 127.0.0.1:4433, [::1]:4434 (...)`).
func listeningPorts(_ line: String) -> [UInt16] {
  guard let list = line.firstMatch(of: /listening on ([^(]*)\(/)?.1 else { return [] }
  return list.split(separator: ",").compactMap {
    $0.trimmingCharacters(in: .whitespaces).split(separator: ":").last.flatMap { UInt16($0) }
  }
}
