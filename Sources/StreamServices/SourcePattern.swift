/// A binary pattern that every byte of a stream can be checked against: all byte values, and a
/// prime period so that no chunk size lines up with it (a chunk delivered twice or out of place
/// is caught). Stream `seed` carries, at offset `o`, byte `bytes[(o + seed) % period]`.
///
/// `echo-server --mode source` sends seed 0; the load generator gives each connection its own
/// seed, so that bytes delivered to the wrong connection are caught too.
public enum SourcePattern {
  /// Prime.
  public static let period = 65_521
  /// The longest slice `bytes` holds contiguously from any offset in the period.
  public static let tail = 64 * 1024

  /// One period, then `tail` more bytes that repeat its start.
  public static let bytes: [UInt8] = {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var bytes = [UInt8](repeating: 0, count: period + tail)
    for index in 0..<period {
      // xorshift: cheap, and every byte value appears.
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    for index in period..<bytes.count { bytes[index] = bytes[index - period] }
    return bytes
  }()

  /// Where in `bytes` the stream `seed` is at stream offset `offset`.
  public static func start(offset: Int, seed: Int) -> Int { (offset % period + seed) % period }

  /// The per-connection seed the load generator uses for connection number `slot`.
  public static func seed(slot: Int) -> Int { (slot &* 7919) % period }
}
