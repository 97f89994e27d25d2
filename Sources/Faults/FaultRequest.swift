/// What a client's server name asks for: nothing special, faults (labels in front of
/// `fault.localhost`), or a certificate scenario (`<scenario>.scenario.localhost`, with fault
/// labels in front of it if any). The suffixes are the server's to choose; names compare without
/// regard to case, as DNS names do.
public enum FaultRequest: Sendable, Equatable {
  case ordinary
  case faults(FaultPlan)
  case scenario(Scenario, FaultPlan)
  /// A name under one of the suffixes that does not parse: refused with an alert and a log line.
  case invalid(FaultSpecError)

  public static func parse(
    serverName: String, faultSuffix: String = "fault.localhost",
    scenarioSuffix: String = "scenario.localhost"
  ) -> FaultRequest {
    let name = serverName.lowercased()
    let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
    if let labels = Self.labels(of: trimmed, under: faultSuffix.lowercased()) {
      switch FaultPlan.parse(labels) {
      case .success(let plan): return .faults(plan)
      case .failure(let error): return .invalid(error)
      }
    }
    if let labels = Self.labels(of: trimmed, under: scenarioSuffix.lowercased()) {
      guard let name = labels.last, let scenario = Scenario(rawValue: name) else {
        let known = Scenario.allCases.map(\.rawValue).joined(separator: ", ")
        return .invalid(
          .init(
            labels.last ?? serverName,
            "no such certificate scenario before '\(scenarioSuffix)' (known: \(known))"))
      }
      switch FaultPlan.parse(Array(labels.dropLast())) {
      case .success(let plan): return .scenario(scenario, plan)
      case .failure(let error): return .invalid(error)
      }
    }
    return .ordinary
  }

  /// The labels in front of `suffix`, or nil when the name is not under it. The suffix alone
  /// has none.
  private static func labels(of name: String, under suffix: String) -> [String]? {
    if name == suffix { return [] }
    guard name.hasSuffix("." + suffix) else { return nil }
    return name.dropLast(suffix.count + 1).split(
      separator: ".", omittingEmptySubsequences: false
    ).map(String.init)
  }
}
