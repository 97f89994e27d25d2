import Foundation
import TLS
import TLSHello
import Testing

@Suite("ClientHello parser")
struct ClientHelloParserTests {
  @Test("every list of the hello is read, in wire order, unknown extensions kept")
  func fields() throws {
    var builder = HelloBuilder()
    builder.extensions = [
      0x0000, 0x000a, 0x000b, 0x000d, 0x0010, 0x002b, 0x002d, 0x0032, 0x0033, 0x4469, 0xfe0d,
    ]
    builder.alpn = [Array("echo".utf8), Array("h2".utf8)]
    let hello = try ClientHello.parse(builder.bytes()).get()

    #expect(hello.legacyVersion == 0x0303 && hello.cipherSuites == [0x1301, 0x1302])
    #expect(hello.extensions.map(\.type) == builder.extensions)
    #expect(hello.serverName == "localhost")
    #expect(hello.groups == [0x001d, 0x0017] && hello.keyShareGroups == [0x001d])
    #expect(
      hello.signatureAlgorithms == [0x0403, 0x0804]
        && hello.signatureAlgorithmsCert == [0x0403, 0x0804])
    #expect(hello.alpn == [Array("echo".utf8), Array("h2".utf8)])
    #expect(hello.supportedVersions == [0x0304, 0x0303] && hello.highestVersion == 0x0304)
    #expect(hello.pskModes == [1] && hello.pointFormats == [0])
    #expect(hello.length == builder.bytes().count - 4)
  }

  @Test("an SSL 2.0-format hello is named as such")
  func sslv2() {
    // RFC 5246 E.2: length with the high bit, message type 1, version 3.1, then the specs.
    let hello: [UInt8] = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]
    #expect(throws: ClientHelloError.sslv2Format) { try ClientHello.parse(hello).get() }
  }

  @Test("another handshake message is not a ClientHello")
  func otherMessage() {
    #expect(throws: ClientHelloError.notClientHello(2)) {
      try ClientHello.parse([2, 0, 0, 0]).get()
    }
  }

  @Test("a hello cut at every length is an error, never a crash; whole, it parses")
  func truncations() throws {
    var builder = HelloBuilder()
    builder.extensions = [0x0000, 0x000a, 0x000b, 0x000d, 0x0010, 0x002b, 0x002d, 0x0033]
    let bytes = builder.bytes()
    for length in 0..<bytes.count {
      if case .success = ClientHello.parse(Array(bytes.prefix(length))) {
        Issue.record("a hello cut to \(length) of \(bytes.count) bytes parsed")
      }
    }
    #expect(throws: Never.self) { try ClientHello.parse(bytes).get() }
  }

  /// Random bytes, and a real hello with bytes changed, dropped and repeated: every one gives
  /// a value or an error. SECUREECHO_FUZZ_CASES sets how many (`make fuzz` runs a million).
  @Test("random and mutated hellos never crash the parser or the fingerprints")
  func fuzz() {
    let cases = Int(ProcessInfo.processInfo.environment["SECUREECHO_FUZZ_CASES"] ?? "") ?? 20_000
    var generator = SplitMix(seed: 0x5EC0_EC40)
    var builder = HelloBuilder()
    builder.extensions = [0x0000, 0x000a, 0x000b, 0x000d, 0x0010, 0x002b, 0x002d, 0x0033, 0x1a1a]
    let seed = builder.bytes()
    var parsed = 0
    for index in 0..<cases {
      var bytes = seed
      if index % 4 == 0 {
        bytes = (0..<Int(generator.next() % 300)).map { _ in
          UInt8(truncatingIfNeeded: generator.next())
        }
        if !bytes.isEmpty { bytes[0] = 1 }
      } else {
        generator.mutate(&bytes, upTo: 6)
      }
      if case .success(let hello) = ClientHello.parse(bytes) {
        parsed += 1
        _ = Fingerprints(hello, digests: .openSSL)
      }
    }
    // Some mutations (inside a random or a key share) leave a valid hello: they went through
    // the fingerprints too.
    #expect(parsed > 0)
  }
}

/// A small deterministic generator (SplitMix64), so that a failing case can be found again.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Changes `bytes` in 1 to `times` random places: a byte replaced, removed or doubled.
  mutating func mutate(_ bytes: inout [UInt8], upTo times: UInt64) {
    for _ in 0..<(1 + next() % times) where !bytes.isEmpty {
      let position = Int(next() % UInt64(bytes.count))
      switch next() % 3 {
      case 0: bytes[position] = UInt8(truncatingIfNeeded: next())
      case 1: bytes.remove(at: position)
      default: bytes.insert(bytes[position], at: position)
      }
    }
  }
}
