import ProxyProtocol
import Testing

/// The parser's promises under input no one wrote by hand. Deterministic (SplitMix, seeded), so a
/// failure names bytes that fail again.
@Suite("PROXY protocol header parser, fuzzed")
struct ProxyHeaderFuzzTests {
  let either = ProxyHeaderParser(accepting: [.v1, .v2])
  let v1Only = ProxyHeaderParser(accepting: [.v1])
  let v2Only = ProxyHeaderParser(accepting: [.v2])

  /// Random bytes (alone or after a signature) and valid headers with bytes changed, dropped or
  /// repeated, through parsers of every configuration: none may crash, and every answer must be
  /// one a caller can act on without looking at the bytes itself.
  @Test("random and mutated input never crashes, and every answer keeps its promise")
  func fuzz() {
    var generator = SplitMix(seed: 0x9B0C_1E55)
    let parsers = [
      either, v1Only, v2Only, ProxyHeaderParser(accepting: [.v1, .v2], maximumLength: 64),
    ]
    let seeds = ProxyHeaderParserTests.validHeaders
    var outcomes = [0, 0, 0]
    for index in 0..<4000 {
      var bytes: [UInt8]
      if index < 2000 {
        bytes = random(Int(generator.next() % 200), &generator)
        if index % 3 == 1 { bytes = Array("PROXY ".utf8) + bytes }
        if index % 3 == 2 {
          bytes = ProxyHeaderBuilder.v2Signature + [0x20 | UInt8(index % 2)] + bytes
        }
      } else {
        bytes = seeds[Int(generator.next() % UInt64(seeds.count))]
        generator.mutate(&bytes, upTo: 3)
      }
      for parser in parsers { check(parser, bytes, &generator, &outcomes) }
    }
    // Each kind of answer came up, so each promise below was exercised.
    #expect(outcomes.allSatisfy { $0 > 100 }, "needMore, complete, invalid: \(outcomes)")
  }

  /// needMore only while the header can still be shorter than its limit; a complete header
  /// whose length fits the input and does not depend on what follows it, with every shorter
  /// prefix needMore; invalid staying invalid whatever comes after.
  private func check(
    _ parser: ProxyHeaderParser, _ bytes: [UInt8], _ generator: inout SplitMix,
    _ outcomes: inout [Int]
  ) {
    let extra = random(1 + Int(generator.next() % 8), &generator)
    let result = parser.parse(bytes)
    switch result {
    case .needMore:
      outcomes[0] += 1
      if bytes.first == 0x50 {
        let lineEnds = zip(bytes, bytes.dropFirst()).contains { $0 == 0x0D && $1 == 0x0A }
        #expect(bytes.count < 107 && !lineEnds, "needMore for \(bytes)")
      } else {
        let declared = bytes.count >= 16 ? 16 + (Int(bytes[14]) << 8 | Int(bytes[15])) : 16
        #expect(bytes.count < declared, "needMore for \(bytes)")
      }
    case .complete(_, let length):
      outcomes[1] += 1
      #expect(length <= bytes.count)
      #expect(parser.parse(Array(bytes.prefix(length))) == result, "\(bytes)")
      #expect(parser.parse(bytes + extra) == result, "\(bytes)")
      let cut = Int(generator.next() % UInt64(length))
      #expect(parser.parse(Array(bytes.prefix(cut))) == .needMore, "\(cut) of \(bytes)")
    case .invalid:
      outcomes[2] += 1
      if case .invalid = parser.parse(bytes + extra) { return }
      Issue.record("invalid \(bytes) was not with more bytes")
    }
  }

  private func random(_ count: Int, _ generator: inout SplitMix) -> [UInt8] {
    (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
  }
}
