import ProxyProtocol
import Testing

@Suite("WireText")
struct WireTextTests {
  @Test("printable ASCII kept, quotes, backslashes and the rest as \\xNN, capped")
  func printable() {
    #expect(WireText.printable(Array("h2".utf8), limit: 255) == "h2")
    #expect(
      WireText.printable([0x61, 0x22, 0x5C, 0x00, 0x0A, 0xFF], limit: 255)
        == "a\\x22\\x5c\\x00\\x0a\\xff")
    #expect(WireText.printable(Array("abcdef".utf8), limit: 4) == "abcd...")
    #expect(WireText.printable(Array("abcd".utf8), limit: 4) == "abcd")
  }
}
