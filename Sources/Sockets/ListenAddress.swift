/// One place to listen, as a user writes it: `127.0.0.1:4433`, `[::]:4433`, `localhost:0`,
/// `*:4433` (every interface, IPv4 and IPv6). A name gets a listener per address it resolves to.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
  /// A name, a numeric IPv4 or IPv6 address (without brackets), or `*`.
  public var host: String
  /// 0: the kernel picks a free port (the same one for every address of a name).
  public var port: UInt16

  public init(host: String, port: UInt16) {
    self.host = host
    self.port = port
  }

  /// Parses `HOST:PORT`, where an IPv6 address is in brackets (`[::1]:4433`). Returns a reason
  /// for the user when the text is not one.
  public static func parse(_ text: String) -> Result<ListenAddress, ParseError> {
    let host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else {
        return .failure(.init("an IPv6 address needs its closing ']'"))
      }
      host = text[text.index(after: text.startIndex)..<close]
      let rest = text[text.index(after: close)...]
      guard rest.hasPrefix(":") else { return .failure(.init("the port is missing after ']'")) }
      portText = rest.dropFirst()
      guard SocketAddress(numericHost: String(host), port: 0)?.family == .ipv6 else {
        return .failure(.init("'\(host)' in brackets is not an IPv6 address"))
      }
    } else {
      guard let colon = text.lastIndex(of: ":") else {
        return .failure(.init("the port is missing (ADDRESS:PORT, e.g. 127.0.0.1:4433)"))
      }
      host = text[..<colon]
      portText = text[text.index(after: colon)...]
      if host.contains(":") {
        return .failure(.init("an IPv6 address goes in brackets, e.g. [::1]:4433"))
      }
    }
    guard !host.isEmpty else {
      return .failure(.init("the address is missing (use '*' for every interface)"))
    }
    guard let port = UInt16(portText) else {
      return .failure(.init("the port must be a number from 0 to 65535, not '\(portText)'"))
    }
    return .success(ListenAddress(host: String(host), port: port))
  }

  /// The addresses to bind: `*` is every IPv4 and every IPv6 interface, each on its own socket.
  public func resolve() throws(SocketError) -> [SocketAddress] {
    if host == "*" {
      return ["0.0.0.0", "::"].compactMap { SocketAddress(numericHost: $0, port: port) }
    }
    return try SocketAddress.resolve(host: host, port: port, forListening: true)
  }

  public var description: String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
  }

  public struct ParseError: Error, Sendable, Equatable {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
  }
}

extension SocketAddress {
  /// Whether listeners on both would take the same port: the same address, or a wildcard of
  /// the same family (IPv6 listeners are IPv6-only, so `::` leaves IPv4 alone).
  public func overlaps(_ other: SocketAddress) -> Bool {
    guard port == other.port, family == other.family else { return false }
    return self == other || [host, other.host].contains { $0 == "0.0.0.0" || $0 == "::" }
  }
}
