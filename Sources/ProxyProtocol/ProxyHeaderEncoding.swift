/// Writing a header, for a client that speaks as its own balancer (`echo-client
/// --proxy-header`): the layouts of sections 2.1 and 2.2 of haproxy's doc/proxy-protocol.txt,
/// so that what it sends is what HAProxy would, and any receiver, not only this parser, takes it.
extension ProxyHeader {
  /// The header as it goes on the wire.
  ///
  /// v1: `PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>\r\n`, or
  /// `PROXY UNKNOWN\r\n` when there is no pair of addresses of one family to give (the spec's
  /// word for "use the real connection's"; v1 has no LOCAL, so a LOCAL header is written so
  /// too). v1 carries no TLVs: `tlvs` are left out.
  ///
  /// v2: the signature, version 2 with PROXY or LOCAL, TCP over IPv4 or IPv6 (or UNSPEC, with
  /// no address bytes, for LOCAL as the spec asks and for a header without a pair of
  /// addresses), the length, the addresses and ports, then `tlvs` in order. The first CRC32C TLV
  /// of 4 bytes gets the checksum of the finished header, whatever its value held.
  ///
  /// A TLV value or a v2 header longer than the 16-bit lengths can say is a programmer error.
  public func encoded() -> [UInt8] {
    switch version {
    case .v1: ProxyV1.encode(self)
    case .v2: ProxyV2.encode(self)
    }
  }

  /// Both addresses, when the header relays a connection and they share a family: what either
  /// format can carry. (A real connection's two ends always share one.)
  fileprivate var addressPair: (source: ProxyAddress, destination: ProxyAddress)? {
    guard command == .proxy, let source, let destination, source.family == destination.family
    else { return nil }
    return (source, destination)
  }
}

extension ProxyV1 {
  static func encode(_ header: ProxyHeader) -> [UInt8] {
    // Nothing after UNKNOWN: the receiver must ignore it, and some would log it as the client.
    guard case (let source, let destination)? = header.addressPair else {
      return Array("PROXY UNKNOWN\r\n".utf8)
    }
    let name = source.family == .inet ? "TCP4" : "TCP6"
    // `host` is inet_ntop's text: no leading zeros, the one spelling the spec allows.
    return Array(
      "PROXY \(name) \(source.host) \(destination.host) \(source.port) \(destination.port)\r\n"
        .utf8)
  }
}

extension ProxyV2 {
  private static let proxyVersionAndCommand: UInt8 = 0x21
  private static let localVersionAndCommand: UInt8 = 0x20

  static func encode(_ header: ProxyHeader) -> [UInt8] {
    var family: UInt8 = 0x00
    var body: [UInt8] = []
    if case (let source, let destination)? = header.addressPair {
      family = source.family == .inet ? 0x11 : 0x21
      body =
        source.bytes + destination.bytes + bigEndian(source.port)
        + bigEndian(destination.port)
    }
    var checksumOffset: Int?
    for tlv in header.tlvs {
      precondition(tlv.value.count <= 0xFFFF, "a TLV value of \(tlv.value.count) bytes")
      body.append(tlv.type)
      body += bigEndian(UInt16(tlv.value.count))
      if tlv.type == ProxyTLVType.crc32c && tlv.value.count == 4 && checksumOffset == nil {
        // The spec: the field is zero while the checksum is computed, then holds it.
        checksumOffset = fixedLength + body.count
        body += [0, 0, 0, 0]
      } else {
        body += tlv.value
      }
    }
    precondition(body.count <= 0xFFFF, "a v2 header of \(fixedLength + body.count) bytes")
    let command = header.command == .proxy ? proxyVersionAndCommand : localVersionAndCommand
    var bytes = signature + [command, family] + bigEndian(UInt16(body.count)) + body
    if let checksumOffset {
      let checksum = CRC32C.checksum(bytes)
      bytes.replaceSubrange(
        checksumOffset..<checksumOffset + 4,
        with: bigEndian(UInt16(checksum >> 16)) + bigEndian(UInt16(checksum & 0xFFFF)))
    }
    return bytes
  }

  private static func bigEndian(_ value: UInt16) -> [UInt8] {
    [UInt8(value >> 8), UInt8(value & 0xFF)]
  }
}

extension ProxyAddress {
  /// The address in network order, as v2 carries it.
  fileprivate var bytes: [UInt8] {
    // `host` came from inet_ntop (every initializer goes through it), so it always reads back.
    guard let bytes = Self.binary(family, text: Array(host.utf8)) else {
      preconditionFailure("a ProxyAddress whose host \(host) is not an address")
    }
    return bytes
  }
}
