import TLS
import TLSHello
import Testing

@Suite("ClientHello fingerprints (JA3, JA4)")
struct FingerprintTests {
  private func fingerprints(_ builder: HelloBuilder) throws -> Fingerprints {
    Fingerprints(try ClientHello.parse(builder.bytes()).get(), digests: .openSSL)
  }

  /// The example of JA4.md: its cipher, extension and signature-algorithm lists, and the
  /// fingerprints it gives for them.
  @Test("JA4, JA4_r, JA4_o and JA4_ro of the specification's example")
  func specificationExample() throws {
    var hello = HelloBuilder()
    hello.ciphers = [
      0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
      0x009c, 0x009d, 0x002f, 0x0035,
    ]
    hello.extensions = [
      0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
      0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
    ]
    hello.signatureAlgorithms = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
    let result = try fingerprints(hello)

    #expect(result.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1")
    let summary = Fingerprints.summary(
      try ClientHello.parse(hello.bytes()).get(), digests: .openSSL)
    #expect(summary.ja4 == result.ja4 && summary.ja3MD5 == result.ja3MD5)
    #expect(result.ja4o == "t13d1516h2_acb858a92679_18f69afefd3d")
    #expect(
      result.ja4r
        == "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
    )
    #expect(
      result.ja4ro
        == "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601"
    )
  }

  /// The example of the JA3 README.
  @Test("JA3 of the specification's example")
  func ja3Example() throws {
    var hello = HelloBuilder()
    hello.legacyVersion = 769
    hello.ciphers = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]
    hello.extensions = [0, 10, 11]
    hello.groups = [23, 24, 25]
    hello.pointFormats = [0]
    let result = try fingerprints(hello)

    #expect(result.ja3 == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0")
    #expect(result.ja3MD5 == "ada70206e40642a3e4461f35503241d5")
  }

  @Test("GREASE is left out of every list and count; JA3N sorts the extensions")
  func grease() throws {
    var hello = HelloBuilder()
    hello.ciphers = [0x0a0a, 0x1301, 0x1302]
    hello.extensions = [0x1a1a, 0x0010, 0x000a, 0x0000, 0x000d, 0x002b, 0x0033, 0xfafa]
    hello.groups = [0x2a2a, 0x001d]
    hello.signatureAlgorithms = [0x3a3a, 0x0403]
    hello.supportedVersions = [0x4a4a, 0x0304]
    let result = try fingerprints(hello)
    let parsed = try ClientHello.parse(hello.bytes()).get()

    #expect(parsed.extensions.filter(\.isGREASE).count == 2)
    #expect(result.ja4.hasPrefix("t13d0206h2_"), "\(result.ja4)")
    #expect(result.ja3 == "771,4865-4866,16-10-0-13-43-51,29,")
    #expect(result.ja3n == "771,4865-4866,0-10-13-16-43-51,29,")
    #expect(result.ja4r.hasSuffix("_000a,000d,002b,0033_0403"), "\(result.ja4r)")
  }

  @Test("no SNI is i, no ALPN is 00, a one-character ALPN counts twice, more than 99 ciphers is 99")
  func partA() throws {
    var hello = HelloBuilder()
    hello.extensions = [0x000a, 0x002b]
    #expect(try fingerprints(hello).ja4.hasPrefix("t13i020200_"))
    hello.extensions = [0x0010, 0x002b]
    hello.alpn = [Array("a".utf8)]
    #expect(try fingerprints(hello).ja4.hasPrefix("t13i0202aa_"))
    hello.ciphers = (1...120).map { UInt16($0) }
    #expect(try fingerprints(hello).ja4.hasPrefix("t13i9902aa_"))
    hello.extensions = []
    hello.ciphers = []
    #expect(try fingerprints(hello).ja4 == "t12i000000_000000000000_000000000000")
  }

  @Test(
    "a first ALPN value with a non-alphanumeric end gives its hex form's first and last digit",
    arguments: [
      ([0xab], "ab"), ([0x20], "20"), ([0xab, 0xcd], "ad"), ([0x20, 0x61], "21"),
      ([0x30, 0xab], "3b"), ([0x61, 0x20], "60"), ([0x30, 0x31, 0xab, 0xcd], "3d"),
      ([0x30, 0xab, 0xcd, 0x31], "01"), (Array("http/1.1".utf8), "h1"),
    ] as [([UInt8], String)])
  func alpnCharacters(_ value: [UInt8], _ expected: String) {
    #expect(Fingerprints.alpnCharacters(value) == expected)
  }

  @Test("a TLS 1.2 client without supported_versions takes its version from legacy_version")
  func versionWithoutSupportedVersions() throws {
    var hello = HelloBuilder()
    hello.extensions = [0x0000, 0x000a]
    #expect(try fingerprints(hello).ja4.hasPrefix("t12d"))
  }
}
