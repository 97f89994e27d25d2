import ProxyProtocol
import Testing

@Suite("PROXY protocol header parser")
struct ProxyHeaderParserTests {
  typealias Build = ProxyHeaderBuilder

  let either = ProxyHeaderParser(accepting: [.v1, .v2])
  let v1Only = ProxyHeaderParser(accepting: [.v1])
  let v2Only = ProxyHeaderParser(accepting: [.v2])

  static let tcp4 = Build.v2(source: ("192.0.2.1", 4000), destination: ("192.0.2.2", 443))
  static let ssl = Build.sslValue(
    client: 0x07,
    [
      (0x21, Array("TLSv1.3".utf8)), (0x23, Array("TLS_AES_128_GCM_SHA256".utf8)),
      (0x22, Array("client.example".utf8)),
    ])
  static let tcp6WithTLVs = Build.v2(
    source: ("2001:db8::1", 50_000), destination: ("2001:db8::2", 8443),
    tlvs: [
      (0x01, Array("h2".utf8)), (0x02, Array("example.com".utf8)), (0x05, Array(0..<16)),
      (0x20, ssl), (0x04, [0, 0, 0]),
    ])
  /// HAProxy's health check, byte for byte: LOCAL, UNSPEC, length 0.
  static let healthCheck = Build.v2Signature + [0x20, 0x00, 0x00, 0x00]

  /// Every shape of valid header the tests parse, for the prefix and fuzz tests.
  static let validHeaders: [[UInt8]] = [
    Build.v1(source: "192.0.2.1", destination: "192.0.2.2", sourcePort: 4000, destinationPort: 443),
    Build.v1(source: "2001:DB8::1", destination: "::1", sourcePort: 0, destinationPort: 65535),
    Build.v1Unknown(), Build.v1Unknown("ffff::1 ffff::2 65535 65535"),
    tcp4, tcp6WithTLVs, healthCheck,
    Build.v2(source: ("192.0.2.1", 53), destination: ("192.0.2.2", 53), datagram: true),
    Build.v2(
      source: ("192.0.2.1", 4000), destination: ("192.0.2.2", 443),
      tlvs: [(0x02, Array("example.com".utf8))], crc32c: true),
    Build.v2(command: .local, tlvs: [(0x04, [])], crc32c: true),
    Build.v2(family: 0x31, payload: [UInt8](repeating: 0x2F, count: 216)),
  ]

  /// The header that `bytes` is, whole: `.complete` with its full length, or a recorded issue.
  func complete(
    _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> ProxyHeader {
    let result = either.parse(bytes)
    guard case .complete(let header, let length) = result, length == bytes.count else {
      Issue.record("\(bytes.count) bytes gave \(result)", sourceLocation: sourceLocation)
      throw ParseFailure()
    }
    return header
  }

  struct ParseFailure: Error {}

  func malformed(_ reason: String) -> ProxyParseResult { .invalid(.malformed(reason)) }

  @Test("v1 TCP4: addresses and ports, no TLVs")
  func v1TCP4() throws {
    let header = try complete(
      Build.v1(
        source: "192.0.2.1", destination: "192.0.2.2", sourcePort: 4000, destinationPort: 443))
    #expect(header.version == .v1 && header.command == .proxy && header.tlvs.isEmpty)
    #expect(header.source == ProxyAddress(numericHost: "192.0.2.1", port: 4000))
    #expect(header.source?.family == .inet && header.source?.description == "192.0.2.1:4000")
    #expect(header.destination?.description == "192.0.2.2:443")
    #expect(header.alpn == nil && header.authority == nil && !header.hadChecksum)
  }

  @Test("v1 TCP6: the host in canonical form, the longest line the spec counts")
  func v1TCP6() throws {
    let header = try complete(
      Build.v1(
        source: "2001:DB8:0:0:0:0:0:1", destination: "::1", sourcePort: 0, destinationPort: 65535))
    #expect(header.source?.family == .inet6 && header.source?.host == "2001:db8::1")
    #expect(header.source?.description == "[2001:db8::1]:0")
    #expect(header.destination?.description == "[::1]:65535")
    let full = Array(repeating: "ffff", count: 8).joined(separator: ":")
    let longest = Build.v1(
      source: full, destination: full, sourcePort: 65535, destinationPort: 65535)
    #expect(longest.count == 104)
    #expect(try complete(longest).source?.host == full)
  }

  @Test("v1 UNKNOWN, short and with the worst-case 107-byte rest: no addresses")
  func v1Unknown() throws {
    let short = try complete(Build.v1Unknown())
    #expect(short.version == .v1 && short.command == .proxy && short.source == nil)
    let full = Array(repeating: "ffff", count: 8).joined(separator: ":")
    let longest = Build.v1Unknown("\(full) \(full) 65535 65535")
    #expect(longest.count == 107)
    #expect(try complete(longest).destination == nil)
    // The spec says to ignore anything before the CRLF, even what is not an address.
    #expect(try complete(Build.v1Unknown("not\tan address \u{7F}")).source == nil)
  }

  @Test("v2 PROXY over TCP4 and UDP4 without TLVs")
  func v2IPv4() throws {
    let header = try complete(Self.tcp4)
    #expect(Self.tcp4.count == 28)
    #expect(header.version == .v2 && header.command == .proxy && header.tlvs.isEmpty)
    #expect(header.source?.description == "192.0.2.1:4000")
    #expect(header.destination?.description == "192.0.2.2:443")
    let udp = try complete(
      Build.v2(source: ("192.0.2.1", 53), destination: ("192.0.2.2", 54), datagram: true))
    #expect(udp.source?.port == 53 && udp.destination?.port == 54)
  }

  @Test("v2 PROXY over TCP6 with ALPN, authority, unique ID, SSL and NOOP, in wire order")
  func v2IPv6WithTLVs() throws {
    let header = try complete(Self.tcp6WithTLVs)
    #expect(header.source?.description == "[2001:db8::1]:50000")
    #expect(header.destination?.description == "[2001:db8::2]:8443")
    #expect(header.tlvs.map(\.type) == [0x01, 0x02, 0x05, 0x20, 0x04])
    #expect(header.tlvs[3] == ProxyTLV(type: 0x20, value: Self.ssl))
    #expect(header.alpn == Array("h2".utf8) && header.authority == "example.com")
    #expect(header.uniqueID == Array(0..<16))
    #expect(header.sslVersion == "TLSv1.3" && header.sslCommonName == "client.example")
    #expect(!header.hadChecksum)
  }

  @Test("TLVs that cannot be read as their type are kept, and only their accessor is nil")
  func unreadableTLVs() throws {
    // An SSL sub-TLV running past its parent, and an authority that is not UTF-8.
    let header = try complete(
      Build.v2(
        source: ("192.0.2.1", 1), destination: ("192.0.2.2", 2),
        tlvs: [(0x20, [0x01, 0, 0, 0, 0, 0x21, 0x00, 0x09, 0x54]), (0x02, [0xC3, 0x28])]))
    #expect(header.tlvs.map(\.type) == [0x20, 0x02])
    #expect(header.sslVersion == nil && header.sslCommonName == nil && header.authority == nil)
    #expect(try complete(Build.v2(tlvs: [(0x20, [0x01, 0, 0])])).sslVersion == nil)
  }

  @Test("v2 LOCAL: HAProxy's 16-byte health check, and LOCAL with addresses or opaque bytes")
  func v2Local() throws {
    let check = try complete(Self.healthCheck)
    #expect(check.version == .v2 && check.command == .local && check.source == nil)
    #expect(check.tlvs.isEmpty)
    // Addresses are ignored, the TLVs after them still read.
    let addressed = try complete(
      Build.v2(
        command: .local, source: ("192.0.2.1", 4000), destination: ("192.0.2.2", 443),
        tlvs: [(0x02, Array("example.com".utf8))]))
    #expect(addressed.source == nil && addressed.authority == "example.com")
    // Bytes that are no TLV, and a family PROXY would refuse: still a valid LOCAL.
    #expect(
      try complete(Build.v2(versionAndCommand: 0x20, family: 0x00, payload: [1, 0, 9])).tlvs == [])
    #expect(
      try complete(Build.v2(versionAndCommand: 0x20, family: 0x41, payload: [7])).command == .local)
    #expect(
      try complete(Build.v2(versionAndCommand: 0x20, family: 0x11, payload: [1, 2])).tlvs == [])
  }

  @Test("v2 PROXY with UNSPEC or AF_UNIX: no addresses, TLVs still read")
  func v2WithoutAddresses() throws {
    let unspec = try complete(Build.v2Signature + [0x21, 0x00, 0x00, 0x00])
    #expect(unspec.command == .proxy && unspec.source == nil && unspec.destination == nil)
    #expect(try complete(Build.v2(tlvs: [(0x01, [0x68])])).alpn == [0x68])
    #expect(try complete(Build.v2(family: 0x00, payload: [9, 9])).tlvs.isEmpty)
    let paths = [UInt8](repeating: 0x2F, count: 216)
    let unix = try complete(Build.v2(family: 0x31, payload: paths + Build.tlv(0x01, [0x68])))
    #expect(unix.source == nil && unix.alpn == [0x68])
    #expect(try complete(Build.v2(family: 0x32, payload: paths)).destination == nil)
  }

  @Test("a CRC32C TLV that matches is kept; one that does not refuses the header")
  func checksum() throws {
    let good = Build.v2(
      source: ("192.0.2.1", 4000), destination: ("192.0.2.2", 443),
      tlvs: [(0x05, Array("id".utf8))], crc32c: true)
    let header = try complete(good)
    #expect(header.hadChecksum && header.tlvs.first?.type == 0x03)
    #expect(header.tlvs.first?.value.count == 4 && header.uniqueID == Array("id".utf8))
    #expect(try complete(Build.v2(command: .local, crc32c: true)).hadChecksum)
    // A changed checksum byte, a changed address byte, a changed TLV byte.
    for position in [31, 17, good.count - 1] {
      var bad = good
      bad[position] ^= 0x01
      #expect(either.parse(bad) == .invalid(.checksumMismatch), "byte \(position) changed")
    }
    // LOCAL's TLVs are read leniently, but a checksum among them is still checked.
    var local = Build.v2(command: .local, crc32c: true)
    local[19] ^= 0x80
    #expect(either.parse(local) == .invalid(.checksumMismatch))
  }

  @Test("CRC32C: the check value of \"123456789\" and RFC 3720's vectors")
  func crc32cVectors() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([]) == 0)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
    let pointer = Array("123456789".utf8).withUnsafeBytes { CRC32C.checksum($0) }
    #expect(pointer == 0xE306_9283)
  }

  @Test("a header followed at once by a ClientHello ends exactly where the header does")
  func followedByClientHello() {
    let hello = HelloBuilder().bytes()
    let record = [0x16, 0x03, 0x01] + Build.u16(UInt16(hello.count)) + hello
    for header in Self.validHeaders {
      let result = either.parse(header + record)
      #expect(result == either.parse(header), "header of \(header.count) bytes")
      guard case .complete(_, let length) = result else { continue }
      #expect(length == header.count)
      let viaPointer = (header + record).withUnsafeBytes { either.parse($0) }
      #expect(viaPointer == result)
    }
  }

  @Test("every prefix of a valid header is needMore, fed a byte at a time, for each parser")
  func prefixes() {
    let trailer: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x05]
    for header in Self.validHeaders {
      let version: ProxyVersion = header.first == 0x50 ? .v1 : .v2
      for parser in [either, version == .v1 ? v1Only : v2Only] {
        var received: [UInt8] = []
        for byte in header + trailer {
          if received.count < header.count {
            #expect(parser.parse(received) == .needMore, "\(received.count) of \(header.count)")
          } else {
            let result = parser.parse(received)
            guard case .complete(_, let length) = result, length == header.count else {
              Issue.record("\(received.count) bytes of a \(header.count)-byte header: \(result)")
              break
            }
          }
          received.append(byte)
        }
      }
    }
  }

  @Test("the first byte that no accepted header starts with is refused at once")
  func badSignature() {
    for parser in [either, v1Only, v2Only] {
      #expect(parser.parse([0x16]) == .invalid(.badSignature))
      #expect(parser.parse(Array("GET / HTTP/1.1\r\n".utf8)) == .invalid(.badSignature))
      #expect(parser.parse(Array("PROXX".utf8)) == .invalid(.badSignature))
      #expect(parser.parse(Array(Build.v2Signature.prefix(4)) + [0x0A]) == .invalid(.badSignature))
      #expect(parser.parse([]) == .needMore)
    }
    #expect(either.parse(Array("PROX".utf8)) == .needMore)
    #expect(either.parse(Array("PROXY".utf8)) == .needMore)
    #expect(either.parse(Array(Build.v2Signature.prefix(11))) == .needMore)
    #expect(either.parse(Build.v2Signature) == .needMore)
  }

  @Test("a signature of the version not accepted is named as such")
  func versionNotAccepted() {
    #expect(v1Only.parse(Self.tcp4) == .invalid(.versionNotAccepted(.v2)))
    #expect(v1Only.parse(Array(Build.v2Signature.prefix(5))) == .invalid(.versionNotAccepted(.v2)))
    #expect(v2Only.parse(Build.v1Unknown()) == .invalid(.versionNotAccepted(.v1)))
    #expect(v2Only.parse(Array("PROXY".utf8)) == .invalid(.versionNotAccepted(.v1)))
    #expect(v2Only.parse(Array("POST / HTTP/1.1".utf8)) == .invalid(.badSignature))
  }

  @Test("v1 addresses and ports outside the spec")
  func v1BadFields() {
    func line(_ text: String) -> ProxyParseResult { either.parse(Array("PROXY \(text)\r\n".utf8)) }
    #expect(
      line("TCP4 2001:db8::1 192.0.2.2 4000 443") == malformed("v1: TCP4 with an IPv6 address"))
    #expect(line("TCP6 192.0.2.1 ::1 4000 443") == malformed("v1: TCP6 with an IPv4 address"))
    #expect(
      line("TCP4 192.0.2.1 192.0.2.2 65536 443")
        == malformed("v1: source port \"65536\" is above 65535"))
    #expect(
      line("TCP4 192.0.2.1 192.0.2.2 4000 0443")
        == malformed("v1: destination port \"0443\" has a leading zero"))
    #expect(
      line("TCP4 192.0.2.1 192.0.2.2 4000 1234567")
        == malformed("v1: destination port \"1234567\" is above 65535"))
    #expect(
      line("TCP4 192.0.2.1 192.0.2.2 +40 443")
        == malformed("v1: source port \"+40\" is not a decimal number"))
    #expect(
      line("TCP4 192.0.2.01 192.0.2.2 4000 443")
        == malformed("v1: TCP4 with a bad source address \"192.0.2.01\""))
    #expect(
      line("TCP4 192.0.2.1 host 4000 443")
        == malformed("v1: TCP4 with a bad destination address \"host\""))
    #expect(
      line("TCP4 192.0.2.1  192.0.2.2 4000 443")
        == malformed("v1: TCP4 needs 4 fields after it, not 5"))
    #expect(
      line("TCP4 192.0.2.1 192.0.2.2 4000 ")
        == malformed("v1: TCP4 fields not separated by exactly one space"))
    #expect(
      line("TCP4 192.0.2.1 192.0.2.2 4000") == malformed("v1: TCP4 needs 4 fields after it, not 3"))
    #expect(line("TCP5 192.0.2.1 192.0.2.2 4000 443") == malformed("v1: unknown protocol \"TCP5\""))
    #expect(line("UNKNOWNX") == malformed("v1: unknown protocol \"UNKNOWNX\""))
    #expect(line("") == malformed("v1: unknown protocol \"\""))
    #expect(
      line("TCP4 1.2.3.4\u{0}5 192.0.2.2 1 2")
        == malformed("v1: TCP4 with a bad source address \"1.2.3.4\\x005\""))
    guard case .complete(let header, _) = line("TCP4 192.0.2.1 192.0.2.2 0 65535") else {
      Issue.record("ports 0 and 65535 were refused")
      return
    }
    #expect(header.source?.port == 0 && header.destination?.port == 65535)
  }

  @Test("v1 without a CRLF in 107 bytes, or with a lone CR or LF")
  func v1LineEnd() {
    func padded(_ count: Int, _ end: String = "") -> [UInt8] {
      let text = "PROXY UNKNOWN "
      return Array(
        (text + String(repeating: "x", count: count - text.utf8.count - end.utf8.count) + end).utf8)
    }
    let tooLong = malformed("v1: no CRLF within 107 bytes")
    #expect(either.parse(padded(108)) == tooLong)
    #expect(either.parse(padded(107)) == tooLong)
    // 106 bytes without CR cannot end within 107; with a CR as the 106th, the LF still fits.
    #expect(either.parse(padded(106)) == tooLong)
    #expect(either.parse(padded(105)) == .needMore)
    #expect(either.parse(padded(106, "\r")) == .needMore)
    #expect(either.parse(padded(107, "\r")) == tooLong)
    let unknown = ProxyHeader(version: .v1, command: .proxy, source: nil, destination: nil)
    #expect(either.parse(padded(107, "\r\n")) == .complete(unknown, length: 107))
    #expect(
      either.parse(Array("PROXY UNKNOWN\rX\r\n".utf8)) == malformed("v1: CR not followed by LF"))
    #expect(either.parse(Array("PROXY UNKNOWN\n".utf8)) == malformed("v1: LF without CR"))
  }

  @Test("v2 fixed fields outside the spec are refused as soon as they arrive")
  func v2BadFixedPart() {
    let signature = Build.v2Signature
    #expect(either.parse(signature + [0x11]) == malformed("v2: version 1"))
    #expect(either.parse(signature + [0x31]) == malformed("v2: version 3"))
    #expect(either.parse(signature + [0x22]) == malformed("v2: command 2"))
    #expect(either.parse(signature + [0x21, 0x41]) == malformed("v2: family and protocol 0x41"))
    #expect(either.parse(signature + [0x21, 0x13]) == malformed("v2: family and protocol 0x13"))
    #expect(
      either.parse(signature + [0x21, 0x11, 0x00, 0x04])
        == malformed("v2: TCP4 needs 12 address bytes, length is 4"))
    #expect(
      either.parse(signature + [0x21, 0x31, 0x00, 0x64])
        == malformed("v2: UNIX stream needs 216 address bytes, length is 100"))
    #expect(either.parse(signature + [0x21, 0x11, 0xFF, 0xFF]) == .invalid(.tooLong(65_551)))
    let small = ProxyHeaderParser(accepting: [.v2], maximumLength: 64)
    #expect(small.parse(signature + [0x21, 0x11, 0x00, 0x64]) == .invalid(.tooLong(116)))
    #expect(small.parse(signature + [0x21, 0x11, 0x00, 0x30]) == .needMore)
  }

  @Test("v2 TLVs that overrun, trail, or break a registered type's rule")
  func v2BadTLVs() {
    let addresses = Array(Self.tcp4.dropFirst(16))
    func tlvs(_ bytes: [UInt8]) -> ProxyParseResult {
      either.parse(Build.v2(family: 0x11, payload: addresses + bytes))
    }
    #expect(tlvs([0x01, 0x00, 0x0A, 0x68, 0x32]) == malformed("v2: TLV 0x01 runs past the header"))
    #expect(
      tlvs(Build.tlv(0x04, []) + [0x05, 0x00])
        == malformed("v2: 2 bytes after the last TLV, too few for one"))
    #expect(tlvs(Build.tlv(0x03, [0, 0, 0])) == malformed("v2: CRC32C TLV of 3 bytes, not 4"))
    let twoChecksums = Build.tlv(0x03, [0, 0, 0, 0]) + Build.tlv(0x03, [0, 0, 0, 0])
    #expect(tlvs(twoChecksums) == malformed("v2: more than one CRC32C TLV"))
    #expect(
      tlvs(Build.tlv(0x05, Array(repeating: 7, count: 129)))
        == malformed("v2: unique ID longer than 128 bytes"))
    guard case .complete(let header, _) = tlvs(Build.tlv(0x05, Array(repeating: 7, count: 128)))
    else {
      Issue.record("a unique ID of 128 bytes was refused")
      return
    }
    #expect(header.uniqueID?.count == 128)
  }

  @Test("every error reads as a phrase for a log line")
  func descriptions() {
    let errors: [ProxyHeaderError] = [
      .badSignature, .versionNotAccepted(.v1), .versionNotAccepted(.v2),
      .malformed("v2: command 7"), .checksumMismatch, .tooLong(70_000),
    ]
    let texts = errors.map(\.description)
    #expect(texts[0] == "no PROXY protocol header")
    #expect(texts[2].contains("v2") && texts[3].contains("v2: command 7"))
    #expect(texts[5].contains("70000") && Set(texts).count == texts.count)
  }
}
