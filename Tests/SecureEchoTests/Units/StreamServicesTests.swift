import Foundation
import StreamServices
import Testing

/// The pure parts of the service modes: what reverse, chargen, source and sink send.
@Suite("Stream services")
struct StreamServicesTests {
  private func reverse(_ chunks: [String], finish: Bool = true) -> String {
    var reverser = LineReverser()
    var output: [UInt8] = []
    for chunk in chunks {
      Array(chunk.utf8).withUnsafeBytes { reverser.feed($0, into: &output) }
    }
    if finish { reverser.finish(into: &output) }
    return String(decoding: output, as: UTF8.self)
  }

  @Test("reverse: each line reversed by character, line endings kept, across chunks")
  func reverseLines() {
    #expect(reverse(["hello\n"]) == "olleh\n")
    #expect(reverse(["hel", "lo\r", "\nab"]) == "olleh\r\nba")
    #expect(reverse(["héllo ✓ 🙂\n"]) == "🙂 ✓ olléh\n")
    #expect(reverse(["\n\n"]) == "\n\n")
    #expect(reverse(["abc"], finish: false) == "")
  }

  @Test("reverse: bytes that are not UTF-8 are reversed one by one")
  func reverseInvalidUTF8() {
    var reverser = LineReverser()
    var output: [UInt8] = []
    let input: [UInt8] = [0x61, 0xFF, 0xC3, 0x28, 0xE2, 0x82, 0x0A]
    input.withUnsafeBytes { reverser.feed($0, into: &output) }
    #expect(output == [0x82, 0xE2, 0x28, 0xC3, 0xFF, 0x61, 0x0A])
  }

  @Test("reverse: a line longer than the bound comes back in bounded pieces")
  func reverseLongLine() {
    var reverser = LineReverser()
    var output: [UInt8] = []
    let long = [UInt8](repeating: 0x61, count: LineReverser.maximumLine * 2 + 10) + [0x62, 0x0A]
    long.withUnsafeBytes { reverser.feed($0, into: &output) }
    #expect(reverser.heldCount == 0)
    #expect(output.count == long.count)
    // Two full pieces of a's, then the rest of the line: "b" first, reversed, then its LF.
    #expect(Array(output.suffix(12)) == [0x62] + [UInt8](repeating: 0x61, count: 10) + [0x0A])
  }

  @Test("chargen: RFC 864 lines of 72 printable characters, each starting one further")
  func chargen() {
    let bytes = ChargenPattern.bytes
    let first = String(decoding: bytes[0..<74], as: UTF8.self)
    #expect(
      first == " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n")
    let second = String(decoding: bytes[74..<148], as: UTF8.self)
    #expect(second.hasPrefix("!\"#$%") && second.hasSuffix("abcdefgh\r\n"))
    #expect(bytes.count == ChargenPattern.period + ChargenPattern.tail)
    // The pattern repeats with its period, so a slice from any offset is the stream.
    #expect(bytes[ChargenPattern.period..<(ChargenPattern.period + 74)] == bytes[0..<74])
  }

  @Test("source: every byte value, a prime period, contiguous slices from any offset")
  func source() {
    let bytes = SourcePattern.bytes
    #expect(Set(bytes[0..<SourcePattern.period]).count == 256)
    #expect(bytes[SourcePattern.period..<(SourcePattern.period + 1000)] == bytes[0..<1000])
    #expect(SourcePattern.start(offset: SourcePattern.period + 5, seed: 3) == 8)
  }

  @Test("sink report: formatted and parsed back")
  func sinkReport() throws {
    let report = SinkReport(bytes: 1_048_576, nanoseconds: 12_345_678)
    #expect(report.line == "sink: 1048576 bytes in 0.012346 s, 84.93 MB/s\n")
    let parsed = try #require(SinkReport(line: report.line))
    #expect(parsed.bytes == 1_048_576)
    #expect(SinkReport(line: "sink: 0 bytes in 0.000000 s, 0.00 MB/s")?.bytes == 0)
    #expect(SinkReport(line: "hello") == nil)
  }

  @Test("every mode has a name, and only record needs TLS")
  func modes() {
    #expect(ServiceMode.allCases.map(\.rawValue).count == 7)
    #expect(ServiceMode.allCases.filter(\.needsTLS) == [.record])
  }
}
