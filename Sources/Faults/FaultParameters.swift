/// The parameters of one kind of fault, read from the hyphen-separated words after its name,
/// and written back the same way. Each kind's words and ranges are here, side by side with
/// their spelling, so that what is read and what is written cannot drift apart.
struct FaultParameters {
  struct Reason: Error {
    let text: String
  }

  let kind: Fault.Kind
  let words: [String]

  init(kind: Fault.Kind, _ words: [String]) {
    self.kind = kind
    self.words = words
  }

  /// The ranges: wide enough for any test, narrow enough that no value can overflow a timer or
  /// make a connection hold more than its bound.
  static let milliseconds = 0...3_600_000
  static let bytes = 0...(1 << 40)
  static let recordSizes = 512...16_384

  func fault() -> Result<Fault, Reason> {
    switch kind {
    case .delay:
      return one("the delay in milliseconds", 0...60_000).map { .delay(milliseconds: $0) }
    case .jitter:
      return one("the jitter in milliseconds", 1...60_000).map { .jitter(milliseconds: $0) }
    case .bandwidth:
      return one("the rate in bytes a second", 1...1_000_000_000).map {
        .bandwidth(bytesPerSecond: $0)
      }
    case .slice:
      guard (1...2).contains(words.count) else {
        return .failure(
          Reason(text: "takes the chunk size in bytes, then optionally the gap in ms"))
      }
      guard let size = FaultLabel.number(words[0], in: 1...65_536) else {
        return .failure(range("the chunk size in bytes", 1...65_536, words[0]))
      }
      let gapText = words.count == 2 ? words[1] : "10"
      guard let gap = FaultLabel.number(gapText, in: 0...10_000) else {
        return .failure(range("the gap in milliseconds", 0...10_000, gapText))
      }
      return .success(.slice(bytes: size, gapMilliseconds: gap))
    case .limit:
      guard (1...2).contains(words.count) else {
        return .failure(Reason(text: "takes a byte count, then optionally fin, rst or notify"))
      }
      guard let count = FaultLabel.number(words[0], in: Self.bytes) else {
        return .failure(range("the byte count", Self.bytes, words[0]))
      }
      var close = Fault.LimitClose.normal
      if words.count == 2 {
        guard let given = Fault.LimitClose(rawValue: words[1]), given != .normal else {
          return .failure(Reason(text: "ends with fin, rst or notify, not '\(words[1])'"))
        }
        close = given
      }
      return .success(.limit(bytes: count, close: close))
    case .reset:
      guard words.count == 1 else {
        return .failure(Reason(text: "takes a byte count (reset-4096) or a time (reset-500ms)"))
      }
      if words[0].hasSuffix("ms") {
        let text = String(words[0].dropLast(2))
        guard let time = FaultLabel.number(text, in: Self.milliseconds) else {
          return .failure(range("the time in milliseconds", Self.milliseconds, text))
        }
        return .success(.reset(.afterMilliseconds(time)))
      }
      return one("the byte count", Self.bytes).map { .reset(.afterBytes($0)) }
    case .blackhole: return none(.blackhole)
    case .stall: return one("the byte count", Self.bytes).map { .stall(afterBytes: $0) }
    case .slowClose:
      return one("the wait in milliseconds", 1...60_000).map { .slowClose(milliseconds: $0) }
    case .smallRecords:
      return one("the record size in bytes", Self.recordSizes).map { .smallRecords(bytes: $0) }
    case .keyUpdate:
      guard (1...2).contains(words.count), words.count == 1 || words[1] == "requested" else {
        return .failure(Reason(text: "takes a byte count, then optionally 'requested'"))
      }
      guard let every = FaultLabel.number(words[0], in: 1...Self.bytes.upperBound) else {
        return .failure(range("the byte count", 1...Self.bytes.upperBound, words[0]))
      }
      return .success(.keyUpdate(everyBytes: every, requested: words.count == 2))
    case .noCloseNotify: return none(.noCloseNotify)
    case .truncate: return none(.truncate)
    case .handshakeStall:
      return one("the stall in seconds", 1...60).map { .handshakeStall(seconds: $0) }
    case .handshakeAlert:
      let name = words.joined(separator: "-")
      guard let alert = TLSAlert(named: name) else {
        let names = TLSAlert.allCases.map(\.name).joined(separator: ", ")
        return .failure(Reason(text: "no such alert '\(name)' (known: \(names))"))
      }
      return .success(.handshakeAlert(alert))
    case .tickets: return one("the number of tickets", 0...10).map { .tickets(count: $0) }
    }
  }

  /// How `fault` is written: the inverse of `fault()`.
  static func spelling(of fault: Fault) -> String {
    let name = fault.kind.rawValue
    switch fault {
    case .delay(let value), .jitter(let value), .bandwidth(let value), .stall(let value),
      .slowClose(let value), .smallRecords(let value), .handshakeStall(let value),
      .tickets(let value):
      return "\(name)-\(value)"
    case .slice(let size, let gap): return "\(name)-\(size)-\(gap)"
    case .limit(let count, let close):
      return close == .normal ? "\(name)-\(count)" : "\(name)-\(count)-\(close.rawValue)"
    case .reset(.afterBytes(let count)): return "\(name)-\(count)"
    case .reset(.afterMilliseconds(let time)): return "\(name)-\(time)ms"
    case .keyUpdate(let every, let requested):
      return requested ? "\(name)-\(every)-requested" : "\(name)-\(every)"
    case .handshakeAlert(let alert): return "\(name)-\(alert.name)"
    case .blackhole, .noCloseNotify, .truncate: return name
    }
  }

  private func one(_ what: String, _ range: ClosedRange<Int>) -> Result<Int, Reason> {
    guard words.count == 1 else {
      return .failure(Reason(text: "takes one number, \(what) (\(kind.rawValue)-N)"))
    }
    guard let value = FaultLabel.number(words[0], in: range) else {
      return .failure(self.range(what, range, words[0]))
    }
    return .success(value)
  }

  private func none(_ fault: Fault) -> Result<Fault, Reason> {
    words.isEmpty
      ? .success(fault)
      : .failure(Reason(text: "takes no parameter, not '\(words.joined(separator: "-"))'"))
  }

  private func range(_ what: String, _ range: ClosedRange<Int>, _ given: String) -> Reason {
    Reason(
      text:
        "\(what) must be a number from \(range.lowerBound) to \(range.upperBound), not '\(given)'")
  }
}
