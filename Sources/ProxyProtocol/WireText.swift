/// Bytes that came from the network, made safe to show in a log line or an error: printable
/// ASCII as itself (but `"` and `\`, which would end or escape a quoted value), every other
/// byte as `\xNN`, and at most `limit` bytes, then `...`. A header's TLVs come from a trusted
/// balancer, but carry what its clients sent.
public enum WireText {
  public static func printable(_ bytes: some Collection<UInt8>, limit: Int) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    for byte in bytes.prefix(limit) {
      if (0x20...0x7E).contains(byte) && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
        text.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        text += "\\x" + String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
      }
    }
    return bytes.count > limit ? text + "..." : text
  }
}
