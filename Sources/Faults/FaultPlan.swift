/// The faults one connection may get: every `--fault`, or the fault labels of the server name it
/// asked for. At most one of each kind, and none that contradict each other, so that what a
/// client asked for is what it gets, or it is told why not.
public struct FaultPlan: Sendable, Equatable {
  /// In the order of `Fault.Kind`, whatever order they were written in.
  public let labels: [FaultLabel]

  public static let none = FaultPlan(labels: [])

  private init(labels: [FaultLabel]) { self.labels = labels }

  public var isEmpty: Bool { labels.isEmpty }

  /// Reads the labels of a server name or of `--fault` options (each may hold several labels
  /// separated by dots, as in a server name).
  public static func parse(_ specs: [String]) -> Result<FaultPlan, FaultSpecError> {
    var labels: [FaultLabel] = []
    for spec in specs {
      for text in spec.split(separator: ".", omittingEmptySubsequences: false) {
        switch FaultLabel.parse(String(text)) {
        case .success(let label):
          if let earlier = labels.first(where: { $0.fault.kind == label.fault.kind }) {
            return .failure(
              .init(
                String(text),
                "a second \(label.fault.kind.rawValue) (after '\(earlier.spelling)'): one of each "
                  + "kind per connection"))
          }
          labels.append(label)
        case .failure(let error): return .failure(error)
        }
      }
    }
    let plan = FaultPlan(labels: labels.sorted { $0.fault.kind < $1.fault.kind })
    if let error = plan.contradiction() { return .failure(error) }
    return .success(plan)
  }

  /// The kinds that need TLS, for a plaintext server to refuse.
  public var tlsOnly: [Fault.Kind] { labels.map(\.fault.kind).filter(\.needsTLS) }

  /// The faults one connection gets: each label with its share (`-p25`) is drawn with `draw`,
  /// which returns a number from 0 to 99.
  public func chosen(_ draw: () -> Int) -> [Fault] {
    labels.compactMap { $0.percent == 100 || draw() < $0.percent ? $0.fault : nil }
  }

  /// The canonical spelling, labels joined by dots: `delay-200.limit-4096-rst`.
  public var spelling: String { labels.map(\.spelling).joined(separator: ".") }

  private func has(_ kind: Fault.Kind) -> FaultLabel? {
    labels.first { $0.fault.kind == kind }
  }

  /// Pairs that cannot both happen to one connection.
  private func contradiction() -> FaultSpecError? {
    let exclusive: [(Fault.Kind, Fault.Kind, String)] = [
      (.blackhole, .stall, "a blackhole never answers; a stall answers, then stops"),
      (.noCloseNotify, .truncate, "both say how a TLS connection ends"),
      (.handshakeStall, .handshakeAlert, "both end the handshake"),
      (.blackhole, .limit, "a blackhole echoes nothing to count"),
    ]
    for (first, second, why) in exclusive {
      if let a = has(first), let b = has(second) {
        return .init("\(a.spelling).\(b.spelling)", "not together: \(why)")
      }
    }
    if let jitter = has(.jitter) {
      guard case .jitter(let spread) = jitter.fault, case .delay(let base)? = has(.delay)?.fault
      else {
        return .init(jitter.spelling, "jitter varies a delay: give delay-MS too")
      }
      if spread > base {
        return .init(
          jitter.spelling, "more than the delay (\(base) ms): a write cannot go before its bytes")
      }
    }
    if case .limit(_, .notify)? = has(.limit)?.fault, has(.noCloseNotify) != nil {
      return .init("limit-N-notify.no-close-notify", "not together: both say how it ends")
    }
    return nil
  }
}
