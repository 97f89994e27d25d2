/// CRC-32C (Castagnoli) as RFC 4960 appendix B defines it, which the PROXY v2 CRC32C TLV uses:
/// reflected polynomial 0x82F63B78, register starting at all ones, result inverted.
public enum CRC32C {
  public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    ~update(~0, bytes)
  }

  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    ~update(~0, bytes)
  }

  /// One byte per step: a header is a few hundred bytes, checked once per connection, so the
  /// slicing-by-8 tables or the SSE 4.2 instruction would buy nothing measurable.
  static func update(_ register: UInt32, _ bytes: some Sequence<UInt8>) -> UInt32 {
    var register = register
    for byte in bytes {
      register = table[Int(truncatingIfNeeded: register ^ UInt32(byte)) & 0xFF] ^ (register >> 8)
    }
    return register
  }

  private static let table: [UInt32] = (0..<256).map { index in
    var entry = UInt32(index)
    for _ in 0..<8 {
      entry = entry & 1 == 1 ? (entry >> 1) ^ 0x82F6_3B78 : entry >> 1
    }
    return entry
  }
}
