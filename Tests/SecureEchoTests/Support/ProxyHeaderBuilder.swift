import ProxyProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// PROXY protocol headers as bytes, put together field by field as haproxy's
/// doc/proxy-protocol.txt lays them out, without the parser: for its tests, and for test clients
/// that speak to the server as a proxy would. Only the checksum comes from the module.
enum ProxyHeaderBuilder {
  static let v2Signature: [UInt8] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
  ]

  /// "PROXY TCP4 ..." or "PROXY TCP6 ...", the family from the source address's text. The
  /// addresses go out as given, so a test can send a spelling the receiver must canonicalize.
  static func v1(
    source: String, destination: String, sourcePort: UInt16, destinationPort: UInt16
  ) -> [UInt8] {
    let family = source.contains(":") ? "TCP6" : "TCP4"
    return Array(
      "PROXY \(family) \(source) \(destination) \(sourcePort) \(destinationPort)\r\n".utf8)
  }

  /// "PROXY UNKNOWN\r\n", or with `rest` (which the receiver ignores) after a space.
  static func v1Unknown(_ rest: String? = nil) -> [UInt8] {
    Array("PROXY UNKNOWN\(rest.map { " " + $0 } ?? "")\r\n".utf8)
  }

  /// A v2 header: TCP (or UDP, `datagram`) over the family of the addresses, or UNSPEC without
  /// them; the TLVs in the order given. With `crc32c`, a CRC32C TLV comes first (where HAProxy
  /// puts it), computed over the finished header.
  static func v2(
    command: ProxyHeader.Command = .proxy,
    source: (host: String, port: UInt16)? = nil,
    destination: (host: String, port: UInt16)? = nil,
    datagram: Bool = false,
    tlvs: [(UInt8, [UInt8])] = [],
    crc32c: Bool = false
  ) -> [UInt8] {
    precondition((source == nil) == (destination == nil), "both addresses or neither")
    var family: UInt8 = 0x00
    var payload: [UInt8] = []
    if let source, let destination {
      let sourceBytes = addressBytes(source.host)
      let destinationBytes = addressBytes(destination.host)
      precondition(sourceBytes.count == destinationBytes.count, "addresses of two families")
      family = (sourceBytes.count == 4 ? 0x10 : 0x20) | (datagram ? 0x02 : 0x01)
      payload = sourceBytes + destinationBytes + u16(source.port) + u16(destination.port)
    }
    let checksumOffset = v2Signature.count + 4 + payload.count + 3
    if crc32c { payload += tlv(0x03, [0, 0, 0, 0]) }
    for (type, value) in tlvs { payload += tlv(type, value) }
    var header = v2(
      versionAndCommand: command == .proxy ? 0x21 : 0x20, family: family, payload: payload)
    if crc32c {
      let checksum = CRC32C.checksum(header)
      header.replaceSubrange(checksumOffset..<checksumOffset + 4, with: u32(checksum))
    }
    return header
  }

  /// A v2 header from raw fields, its length that of `payload`: for the shapes the typed
  /// builder does not make (AF_UNIX, bad versions, opaque bytes after the addresses).
  static func v2(versionAndCommand: UInt8 = 0x21, family: UInt8, payload: [UInt8]) -> [UInt8] {
    precondition(payload.count <= 0xFFFF, "a payload of \(payload.count) bytes")
    return v2Signature + [versionAndCommand, family] + u16(UInt16(payload.count)) + payload
  }

  static func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] {
    precondition(value.count <= 0xFFFF, "a TLV value of \(value.count) bytes")
    return [type] + u16(UInt16(value.count)) + value
  }

  /// The value of an SSL TLV (0x20): the client flags (0x01 SSL, 0x02 certificate on this
  /// connection, 0x04 in this session), the verify result (0 when a certificate verified),
  /// then sub-TLVs such as 0x21 (TLS version) and 0x22 (certificate CN).
  static func sslValue(
    client: UInt8 = 0x01, verify: UInt32 = 0, _ subTLVs: [(UInt8, [UInt8])]
  ) -> [UInt8] {
    [client] + u32(verify) + subTLVs.flatMap { tlv($0.0, $0.1) }
  }

  /// The network-order bytes of a numeric IPv4 or IPv6 address.
  static func addressBytes(_ host: String) -> [UInt8] {
    var v4 = [UInt8](repeating: 0, count: 4)
    if v4.withUnsafeMutableBytes({ inet_pton(AF_INET, host, $0.baseAddress) }) == 1 { return v4 }
    var v6 = [UInt8](repeating: 0, count: 16)
    if v6.withUnsafeMutableBytes({ inet_pton(AF_INET6, host, $0.baseAddress) }) == 1 { return v6 }
    preconditionFailure("not a numeric address: \(host)")
  }

  static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

  static func u32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }
}
