import ArgumentParser

/// Usage errors for numbers out of range, worded the same way by every option:
/// `--port must be ≥ 0, not -1`, `--duration must be more than 0 seconds, not 0`.
public enum RangeCheck {
  /// `value` must lie in `range` (both ends allowed).
  public static func require<Value: Comparable & CustomStringConvertible>(
    _ option: String, _ value: Value, in range: ClosedRange<Value>, unit: String = ""
  ) throws(ValidationError) {
    if value < range.lowerBound {
      throw ValidationError(
        "\(option) must be ≥ \(show(range.lowerBound))\(unit), not \(show(value))")
    }
    if value > range.upperBound {
      throw ValidationError(
        "\(option) must be ≤ \(show(range.upperBound))\(unit), not \(show(value))")
    }
  }

  /// `value` must be more than 0 and at most `maximum`.
  public static func requirePositive(
    _ option: String, _ value: Double, atMost maximum: Double, unit: String = ""
  ) throws(ValidationError) {
    guard value > 0 else {
      throw ValidationError("\(option) must be more than 0\(unit), not \(show(value))")
    }
    try require(option, value, in: 0...maximum, unit: unit)
  }

  /// `3` rather than `3.0`: the user typed a number, not a Swift literal.
  static func show<Value: CustomStringConvertible>(_ value: Value) -> String {
    if let double = value as? Double, double.rounded() == double, abs(double) < 1e15 {
      return String(Int64(double))
    }
    return value.description
  }
}
