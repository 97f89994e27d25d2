/// The one line `echo-server --mode sink` answers once the client has finished sending:
/// `sink: 1048576 bytes in 0.012345 s, 84.94 MB/s` and a newline. Duration and rate count from
/// the first byte received to the client's end of input.
public struct SinkReport: Equatable, Sendable {
  public var bytes: Int
  public var nanoseconds: UInt64

  public init(bytes: Int, nanoseconds: UInt64) {
    self.bytes = bytes
    self.nanoseconds = nanoseconds
  }

  /// Megabytes (10^6 bytes) per second; 0 when no time passed.
  public var megabytesPerSecond: Double {
    nanoseconds == 0 ? 0 : Double(bytes) * 1000 / Double(nanoseconds)
  }

  public var line: String {
    "sink: \(bytes) bytes in \(Self.decimal(Double(nanoseconds) / 1e9, 6)) s, "
      + "\(Self.decimal(megabytesPerSecond, 2)) MB/s\n"
  }

  /// Parses `line` (with or without its newline); nil if it is not a sink report.
  public init?(line: some StringProtocol) {
    let words = line.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" })
    guard words.count == 8, words[0] == "sink:", words[2] == "bytes", words[3] == "in",
      words[5] == "s,", words[7] == "MB/s", let bytes = Int(words[1]),
      let seconds = Double(words[4]), bytes >= 0, seconds >= 0
    else { return nil }
    self.init(bytes: bytes, nanoseconds: UInt64((seconds * 1e9).rounded()))
  }

  /// `value` with exactly `places` decimals, without Foundation.
  static func decimal(_ value: Double, _ places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = (value * scale).rounded()
    guard scaled.isFinite, scaled < 9e18 else { return "\(value)" }
    let total = Int(scaled)
    let whole = total / Int(scale)
    let fraction = String(total % Int(scale))
    return "\(whole)." + String(repeating: "0", count: places - fraction.count) + fraction
  }
}
