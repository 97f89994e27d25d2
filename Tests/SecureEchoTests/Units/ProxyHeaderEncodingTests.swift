import ProxyProtocol
import Testing

/// The encoder against two references that do not share its code: the parser (what it writes
/// reads back as the same header) and `ProxyHeaderBuilder`, laid out by hand from the spec (the
/// same bytes, so the parser is not merely agreeing with the encoder's mistakes).
@Suite("PROXY protocol header encoder")
struct ProxyHeaderEncodingTests {
  typealias Build = ProxyHeaderBuilder

  struct Case: Sendable, CustomTestStringConvertible {
    var name: String
    var header: ProxyHeader
    /// The same header from the builder.
    var expected: [UInt8]

    var testDescription: String { name }
  }

  static func address(_ host: String, _ port: UInt16) -> ProxyAddress {
    guard let address = ProxyAddress(numericHost: host, port: port) else {
      preconditionFailure("not a numeric address: \(host)")
    }
    return address
  }

  static let uniqueID: [UInt8] = Array(0..<20)
  static let ssl = Build.sslValue(
    client: 0x07, [(0x21, Array("TLSv1.3".utf8)), (0x22, Array("client.example".utf8))])
  /// A checksum TLV whose value the encoder must replace: not zero, not the checksum.
  static let staleChecksum = ProxyTLV(type: ProxyTLVType.crc32c, value: [1, 2, 3, 4])

  static let cases: [Case] = [
    Case(
      name: "v1 TCP4",
      header: ProxyHeader(
        version: .v1, command: .proxy, source: address("192.0.2.1", 4000),
        destination: address("192.0.2.2", 443)),
      expected: Build.v1(
        source: "192.0.2.1", destination: "192.0.2.2", sourcePort: 4000, destinationPort: 443)),
    Case(
      name: "v1 TCP6",
      header: ProxyHeader(
        version: .v1, command: .proxy, source: address("2001:db8::1", 0),
        destination: address("::1", 65535)),
      expected: Build.v1(
        source: "2001:db8::1", destination: "::1", sourcePort: 0, destinationPort: 65535)),
    Case(
      name: "v1 UNKNOWN",
      header: ProxyHeader(version: .v1, command: .proxy, source: nil, destination: nil),
      expected: Build.v1Unknown()),
    Case(
      name: "v2 PROXY TCP4, TLVs and CRC32C",
      header: ProxyHeader(
        version: .v2, command: .proxy, source: address("192.0.2.7", 5555),
        destination: address("192.0.2.8", 443),
        tlvs: [
          staleChecksum, ProxyTLV(type: ProxyTLVType.alpn, value: Array("h2".utf8)),
          ProxyTLV(type: ProxyTLVType.authority, value: Array("echo.example".utf8)),
          ProxyTLV(type: ProxyTLVType.uniqueID, value: uniqueID),
        ]),
      expected: Build.v2(
        source: ("192.0.2.7", 5555), destination: ("192.0.2.8", 443),
        tlvs: [(0x01, Array("h2".utf8)), (0x02, Array("echo.example".utf8)), (0x05, uniqueID)],
        crc32c: true)),
    Case(
      name: "v2 PROXY TCP6, TLVs and CRC32C",
      header: ProxyHeader(
        version: .v2, command: .proxy, source: address("2001:db8::7", 50_000),
        destination: address("2001:db8::8", 8443),
        tlvs: [
          ProxyTLV(type: ProxyTLVType.crc32c, value: [0, 0, 0, 0]),
          ProxyTLV(type: ProxyTLVType.ssl, value: ssl),
          ProxyTLV(type: ProxyTLVType.noop, value: [0, 0, 0]),
        ]),
      expected: Build.v2(
        source: ("2001:db8::7", 50_000), destination: ("2001:db8::8", 8443),
        tlvs: [(0x20, ssl), (0x04, [0, 0, 0])], crc32c: true)),
    Case(
      name: "v2 PROXY TCP4, no TLVs",
      header: ProxyHeader(
        version: .v2, command: .proxy, source: address("198.51.100.1", 1),
        destination: address("198.51.100.2", 2)),
      expected: Build.v2(source: ("198.51.100.1", 1), destination: ("198.51.100.2", 2))),
    Case(
      name: "v2 LOCAL (a health check)",
      header: ProxyHeader(version: .v2, command: .local, source: nil, destination: nil),
      expected: Build.v2(command: .local)),
    Case(
      name: "v2 LOCAL with a TLV and CRC32C",
      header: ProxyHeader(
        version: .v2, command: .local, source: nil, destination: nil,
        tlvs: [staleChecksum, ProxyTLV(type: ProxyTLVType.noop, value: [])]),
      expected: Build.v2(command: .local, tlvs: [(0x04, [])], crc32c: true)),
    Case(
      name: "v2 PROXY UNSPEC",
      header: ProxyHeader(version: .v2, command: .proxy, source: nil, destination: nil),
      expected: Build.v2()),
  ]

  @Test("byte for byte what the builder lays out from the spec", arguments: cases)
  func sameBytesAsTheBuilder(_ example: Case) {
    #expect(example.header.encoded() == example.expected)
  }

  @Test("the parser reads back the same header, and no byte after it", arguments: cases)
  func roundTrip(_ example: Case) throws {
    let bytes = example.header.encoded()
    let after: [UInt8] = [0x16, 0x03, 0x01]
    let parser = ProxyHeaderParser(accepting: [example.header.version])
    guard case .complete(let parsed, let length) = parser.parse(bytes + after) else {
      Issue.record("\(parser.parse(bytes + after))")
      return
    }
    #expect(length == bytes.count)
    #expect(parsed == Self.withChecksum(of: bytes, example.header))
    #expect(parsed.hadChecksum == example.header.hadChecksum)
  }

  @Test("HAProxy's health check, exactly: LOCAL, UNSPEC, length 0")
  func healthCheck() {
    let local = ProxyHeader(version: .v2, command: .local, source: nil, destination: nil)
    #expect(local.encoded() == Build.v2Signature + [0x20, 0x00, 0x00, 0x00])
  }

  @Test("what a format cannot say is left out, as the spec says to send it")
  func unrepresentable() {
    let source = Self.address("192.0.2.1", 1)
    let destination = Self.address("192.0.2.2", 2)
    let noop = ProxyTLV(type: ProxyTLVType.noop, value: [9])
    // v1 has no TLVs and no LOCAL.
    #expect(
      ProxyHeader(
        version: .v1, command: .proxy, source: source, destination: destination, tlvs: [noop]
      ).encoded()
        == Build.v1(
          source: "192.0.2.1", destination: "192.0.2.2", sourcePort: 1, destinationPort: 2))
    #expect(
      ProxyHeader(version: .v1, command: .local, source: source, destination: destination)
        .encoded() == Build.v1Unknown())
    // LOCAL presents no address; the TLVs still go.
    #expect(
      ProxyHeader(
        version: .v2, command: .local, source: source, destination: destination, tlvs: [noop]
      ).encoded() == Build.v2(command: .local, tlvs: [(0x04, [9])]))
    // Two families, or one address only: no pair to give.
    let mixed = Self.address("2001:db8::1", 3)
    #expect(
      ProxyHeader(version: .v1, command: .proxy, source: source, destination: mixed).encoded()
        == Build.v1Unknown())
    #expect(
      ProxyHeader(version: .v2, command: .proxy, source: source, destination: nil).encoded()
        == Build.v2())
  }

  /// `header` with the value of its first CRC32C TLV as `bytes` carry it: the checksum the
  /// encoder filled in, which the parser keeps as received.
  private static func withChecksum(of bytes: [UInt8], _ header: ProxyHeader) -> ProxyHeader {
    guard let index = header.tlvs.firstIndex(where: { $0.type == ProxyTLVType.crc32c }) else {
      return header
    }
    var tlvs = header.tlvs
    // After the fixed part, the addresses and the TLVs before it.
    let addressBytes = header.source == nil ? 0 : header.source?.family == .inet ? 12 : 36
    let offset = 16 + addressBytes + header.tlvs[..<index].reduce(0) { $0 + 3 + $1.value.count }
    tlvs[index] = ProxyTLV(
      type: ProxyTLVType.crc32c, value: Array(bytes[offset + 3..<offset + 7]))
    return ProxyHeader(
      version: header.version, command: header.command, source: header.source,
      destination: header.destination, tlvs: tlvs)
  }
}
