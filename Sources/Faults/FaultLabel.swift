/// Why a fault label or spec was refused: the label, and what is wrong with it, for the log
/// line (and the usage error of `--fault`).
public struct FaultSpecError: Error, Sendable, Equatable, CustomStringConvertible {
  public let label: String
  public let reason: String

  public init(_ label: String, _ reason: String) {
    self.label = label
    self.reason = reason
  }

  public var description: String { "fault '\(label)': \(reason)" }
}

/// One fault as written: `kind[-parameter...][-pPERCENT]`, a DNS label (letters, digits,
/// hyphens, at most 63 bytes), so that the same spelling serves `--fault` and server names.
/// Parsed strictly: every parameter a kind takes, in its range, and nothing else.
public struct FaultLabel: Sendable, Equatable {
  public let fault: Fault
  /// The share of connections that get it, 1 to 100.
  public let percent: Int

  public init(_ fault: Fault, percent: Int = 100) {
    self.fault = fault
    self.percent = percent
  }

  /// The longest label a DNS name may hold.
  public static let maximumLength = 63

  public static func parse(_ text: String) -> Result<FaultLabel, FaultSpecError> {
    let label = text.lowercased()
    let fail = { (reason: String) in Result<FaultLabel, FaultSpecError>.failure(.init(text, reason))
    }
    guard !label.isEmpty else { return fail("empty") }
    guard label.utf8.count <= maximumLength else {
      return fail("longer than a DNS label's \(maximumLength) bytes")
    }
    guard label.utf8.allSatisfy({ Self.allowed.contains($0) }), label.first != "-",
      label.last != "-", !label.contains("--")
    else {
      return fail("only letters, digits and single hyphens between them")
    }
    // Longest kind first: `handshake-stall` before a shorter one it starts with.
    let kinds = Fault.Kind.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
    guard
      let kind = kinds.first(where: { label == $0.rawValue || label.hasPrefix($0.rawValue + "-") })
    else {
      let known = Fault.Kind.allCases.map(\.rawValue).joined(separator: ", ")
      return fail("no such fault (known: \(known))")
    }
    var parameters = label.dropFirst(kind.rawValue.count).split(separator: "-").map(String.init)
    var percent = 100
    if let last = parameters.last, last.hasPrefix("p"), last.count > 1,
      last.dropFirst().allSatisfy(\.isNumber)
    {
      guard let value = Self.number(String(last.dropFirst()), in: 1...100) else {
        return fail("the share after '-p' must be a percentage from 1 to 100, not '\(last)'")
      }
      percent = value
      parameters.removeLast()
    }
    switch FaultParameters(kind: kind, parameters).fault() {
    case .success(let fault): return .success(FaultLabel(fault, percent: percent))
    case .failure(let reason): return fail(reason.text)
    }
  }

  /// The canonical spelling: what `parse` reads back as the same label.
  public var spelling: String {
    let base = FaultParameters.spelling(of: fault)
    return percent < 100 ? "\(base)-p\(percent)" : base
  }

  private static let allowed = Set(Array("abcdefghijklmnopqrstuvwxyz0123456789-".utf8))

  /// A plain decimal number in `range`: no sign, no leading zero, no more digits than fit.
  static func number(_ text: String, in range: ClosedRange<Int>) -> Int? {
    guard !text.isEmpty, text.count <= 18, text.allSatisfy({ $0.isASCII && $0.isNumber }),
      text == "0" || !text.hasPrefix("0"), let value = Int(text), range.contains(value)
    else { return nil }
    return value
  }
}
