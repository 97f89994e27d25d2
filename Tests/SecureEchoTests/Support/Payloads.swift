import Foundation
import Testing

/// Test data that would expose any byte the echo path alters, drops, reorders or adds.
enum Payload {
  /// Every byte value 0x00-0xFF, `repeats` times each, shuffled: NUL, CR, LF, 0xFF and
  /// invalid UTF-8 all appear, in no regular pattern.
  static func everyByteValue(repeats: Int = 16) -> Data {
    var bytes: [UInt8] = []
    for _ in 0..<repeats { bytes += (0...255).map { UInt8($0) } }
    bytes.shuffle()
    return Data(bytes)
  }

  /// Random bytes from the kernel (fast even for megabytes in a debug build).
  static func random(count: Int) throws -> Data {
    guard let handle = FileHandle(forReadingAtPath: "/dev/urandom") else {
      throw TestFailure("cannot open /dev/urandom")
    }
    defer { try? handle.close() }
    guard let data = try handle.read(upToCount: count), data.count == count else {
      throw TestFailure("short read from /dev/urandom")
    }
    return data
  }

  /// Bytes unique to connection `index`: its number in text, then random bytes, so a reply
  /// delivered to the wrong connection cannot match.
  static func distinct(index: Int, count: Int) throws -> Data {
    var data = Data("client \(index):".utf8)
    data += try random(count: count - data.count)
    return data
  }
}

/// Expects `actual` to be exactly `expected`, reporting where they first differ rather than
/// two byte counts.
func expectSameBytes(
  _ actual: Data, _ expected: Data, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual != expected else { return }
  let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?
    .offset
  let detail =
    if let firstDifference {
      "first difference at byte \(firstDifference)"
    } else {
      "one is a prefix of the other"
    }
  Issue.record(
    "\(what): got \(actual.count) bytes, expected \(expected.count); \(detail)",
    sourceLocation: sourceLocation)
}
