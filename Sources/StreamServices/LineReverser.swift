/// `--mode reverse`: each line (ending in LF, or CR LF) comes back with its characters in
/// reverse order and its line ending kept, like `openssl s_server -rev` (which reverses
/// bytes). Valid UTF-8 characters keep their bytes in order, so `héllo` becomes `olléh`; other
/// bytes are reversed one by one.
///
/// A line longer than `maximumLine` is not held without bound: its first `maximumLine` bytes
/// come back reversed as a line of their own (without a line ending), and the rest starts a new
/// line. At the end of input, a last line without LF comes back reversed.
public struct LineReverser {
  public static let maximumLine = 64 * 1024

  /// The bytes of the line not yet ended.
  private var line: [UInt8] = []

  public init() {}

  /// Bytes held waiting for the end of their line.
  public var heldCount: Int { line.count }

  /// Feeds `input`; appends to `output` every line it completes, reversed.
  public mutating func feed(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
    var start = 0
    while start < input.count {
      let rest = input[start...]
      let room = Self.maximumLine - line.count
      if let newline = rest.firstIndex(of: 10), newline - start <= room {
        line.append(contentsOf: input[start..<newline])
        var ending: [UInt8] = [10]
        if line.last == 13 {
          line.removeLast()
          ending = [13, 10]
        }
        Self.appendReversed(line, to: &output)
        output += ending
        line.removeAll(keepingCapacity: true)
        start = newline + 1
      } else if rest.count <= room {
        line.append(contentsOf: rest)
        start = input.count
      } else {
        line.append(contentsOf: input[start..<(start + room)])
        Self.appendReversed(line, to: &output)
        line.removeAll(keepingCapacity: true)
        start += room
      }
    }
  }

  /// The end of input: appends the last, unterminated line (if any), reversed.
  public mutating func finish(into output: inout [UInt8]) {
    Self.appendReversed(line, to: &output)
    line = []
  }

  /// Appends `line` reversed by character: each well-formed UTF-8 sequence is one unit.
  public static func appendReversed(_ line: [UInt8], to output: inout [UInt8]) {
    output.reserveCapacity(output.count + line.count)
    // ASCII, the common case, is one byte per character.
    if line.allSatisfy({ $0 < 0x80 }) {
      output.append(contentsOf: line.reversed())
      return
    }
    var starts: [Int] = []
    starts.reserveCapacity(line.count)
    var index = 0
    while index < line.count {
      starts.append(index)
      index += sequenceLength(line, at: index)
    }
    var end = line.count
    for start in starts.reversed() {
      output.append(contentsOf: line[start..<end])
      end = start
    }
  }

  /// The length of the UTF-8 sequence at `index` if it is well formed, else 1.
  static func sequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
    let lead = bytes[index]
    let length: Int
    var lowest: UInt8 = 0x80
    var highest: UInt8 = 0xBF
    switch lead {
    case 0x00...0x7F: return 1
    case 0xC2...0xDF: length = 2
    case 0xE0:
      length = 3
      lowest = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED:
      length = 3
      highest = 0x9F
    case 0xF0:
      length = 4
      lowest = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4:
      length = 4
      highest = 0x8F
    default: return 1
    }
    guard index + length <= bytes.count else { return 1 }
    // The first continuation byte has the narrower range (no overlongs, no surrogates).
    guard (lowest...highest).contains(bytes[index + 1]) else { return 1 }
    for offset in 2..<length where !(0x80...0xBF).contains(bytes[index + offset]) { return 1 }
    return length
  }
}
