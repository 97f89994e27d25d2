/// The character generator pattern of RFC 864: lines of 72 characters from the ring of the 95
/// printable ASCII characters (space to `~`), line n starting at character n of the ring, each
/// ended by CR LF. It repeats every 95 lines.
public enum ChargenPattern {
  public static let lineLength = 72
  /// 95 lines of 74 bytes.
  public static let period = 95 * (lineLength + 2)

  /// One period, followed by as much again as `tail` asks: any slice of up to `tail` bytes
  /// starting inside the period is contiguous, so a writer never has to wrap.
  public static let bytes: [UInt8] = {
    var line: [UInt8] = []
    var bytes: [UInt8] = []
    bytes.reserveCapacity(period + tail)
    for first in 0..<95 {
      line.removeAll(keepingCapacity: true)
      for column in 0..<lineLength { line.append(UInt8(32 + (first + column) % 95)) }
      bytes += line
      bytes += [13, 10]
    }
    for index in 0..<tail { bytes.append(bytes[index % period]) }
    return bytes
  }()

  /// The longest slice `bytes` holds contiguously from any offset in the period.
  public static let tail = 64 * 1024
}
