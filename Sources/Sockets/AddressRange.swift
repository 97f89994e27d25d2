#if canImport(Glibc)
  import Glibc
#endif

/// A block of addresses in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address: `127.0.0.1`
/// is `/32`, `::1` is `/128`), for deciding which peers the server trusts.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
  /// The network's address bytes (4 or 16), host bits cleared.
  private let network: [UInt8]
  public let prefixLength: Int

  /// Parses `ADDRESS[/LENGTH]`. The address must be numeric; host bits set beyond the prefix
  /// are refused rather than silently cleared, since `10.1.2.3/8` is more often a typo than a
  /// wish for all of 10/8.
  public static func parse(_ text: String) -> Result<AddressRange, ListenAddress.ParseError> {
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let host = String(parts[0])
    guard let address = SocketAddress(numericHost: host, port: 0), !host.hasPrefix("[") else {
      return .failure(.init("'\(host)' is not a numeric IPv4 or IPv6 address"))
    }
    let bytes = address.addressBytes
    var length = bytes.count * 8
    if parts.count == 2 {
      guard let given = Int(parts[1]), (0...length).contains(given), !parts[1].hasPrefix("+")
      else {
        return .failure(
          .init(
            "the prefix length after '/' must be a number from 0 to \(length), not '\(parts[1])'"))
      }
      length = given
    }
    let range = AddressRange(network: Self.masked(bytes, to: length), prefixLength: length)
    guard range.network == bytes else {
      return .failure(
        .init("\(text) has bits set after the first \(length); the network is \(range)"))
    }
    return .success(range)
  }

  private init(network: [UInt8], prefixLength: Int) {
    self.network = network
    self.prefixLength = prefixLength
  }

  /// Whether `address` is in the block. An IPv4 address mapped into IPv6 (`::ffff:10.1.2.3`)
  /// matches the IPv4 block it stands for.
  public func contains(_ address: SocketAddress) -> Bool {
    var bytes = address.addressBytes
    if bytes.count == 16 && network.count == 4 && bytes.prefix(12).elementsEqual(Self.mappedPrefix)
    {
      bytes = Array(bytes.suffix(4))
    }
    return bytes.count == network.count && Self.masked(bytes, to: prefixLength) == network
  }

  private static let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xff, 0xff]

  private static func masked(_ bytes: [UInt8], to length: Int) -> [UInt8] {
    bytes.enumerated().map { index, byte in
      let bits = min(8, max(0, length - index * 8))
      return bits == 8 ? byte : byte & ~(0xff >> bits)
    }
  }

  /// `10.0.0.0/8`, `fd00::/8`.
  public var description: String {
    let host = SocketAddress(bytes: network)?.host ?? "?"
    return "\(host)/\(prefixLength)"
  }
}

extension SocketAddress {
  /// The address alone, in network byte order: 4 bytes for IPv4, 16 for IPv6.
  public var addressBytes: [UInt8] {
    withSockAddr { pointer, _ in
      switch family {
      case .ipv4:
        let address = UnsafeRawPointer(pointer).load(as: sockaddr_in.self).sin_addr
        return withUnsafeBytes(of: address) { Array($0) }
      case .ipv6:
        let address = UnsafeRawPointer(pointer).load(as: sockaddr_in6.self).sin6_addr
        return withUnsafeBytes(of: address) { Array($0) }
      }
    }
  }

  /// The address of 4 or 16 network-order bytes, port 0.
  init?(bytes: [UInt8]) {
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    let family = bytes.count == 4 ? AF_INET : AF_INET6
    guard bytes.count == 4 || bytes.count == 16,
      inet_ntop(family, bytes, &text, socklen_t(text.count)) != nil
    else { return nil }
    let host = String(
      decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    self.init(numericHost: host, port: 0)
  }
}
