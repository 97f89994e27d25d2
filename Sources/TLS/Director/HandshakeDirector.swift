import Faults

/// Decides, in each ClientHello, what a connection is given: the faults of its server name
/// (labels in front of `faultSuffix`) or of its listener (`--fault`, `--fault-port`), and the
/// certificate scenario of its name (`<scenario>.scenario.localhost`). A name under a suffix
/// that does not parse is refused. Without an issuer (no `--scenarios`), names mean nothing
/// special and only the listener's faults apply.
public final class HandshakeDirector: Sendable {
  let issuer: ScenarioIssuer?
  public let faultSuffix: String
  public let scenarioSuffix: String

  public init(issuer: ScenarioIssuer?, faultSuffix: String, scenarioSuffix: String) {
    self.issuer = issuer
    self.faultSuffix = faultSuffix
    self.scenarioSuffix = scenarioSuffix
  }

  /// `defaults`: the faults of the listener the connection came in on.
  func decide(serverName: String?, defaults: FaultPlan) -> HandshakeDecision {
    var decision = HandshakeDecision()
    var plan = defaults
    if let issuer, let serverName {
      // `report.NAME` asks for NAME's faults and the handshake report; the certificate is
      // issued for the whole name, which is what the client checks.
      let name =
        serverName.lowercased().hasPrefix(TLSContext.reportPrefix)
        ? String(serverName.dropFirst(TLSContext.reportPrefix.count)) : serverName
      let request = FaultRequest.parse(
        serverName: name, faultSuffix: faultSuffix, scenarioSuffix: scenarioSuffix)
      var scenario: Scenario?
      switch request {
      case .ordinary: break
      case .invalid(let error):
        decision.refusal = .name(error)
        return decision
      case .faults(let named): plan = named
      case .scenario(let named, let faults):
        scenario = named
        plan = faults
      }
      if request != .ordinary {
        decision.scenario = scenario
        do {
          decision.identity = try issuer.identity(for: scenario, serverName: serverName)
        } catch {
          decision.refusal = .issue(error)
          return decision
        }
      }
    }
    decision.faults = plan.chosen { Int.random(in: 0..<100) }
    return decision
  }
}

/// What one connection was given, decided once in its first ClientHello.
public struct HandshakeDecision: Sendable {
  /// Why the handshake is refused instead.
  public enum Refusal: Sendable {
    /// A name under a fault or scenario suffix that does not parse: told with an alert
    /// (unrecognized_name), and the reason logged.
    case name(FaultSpecError)
    /// The certificate for the name could not be issued (internal_error).
    case issue(TLSError)

    public var description: String {
      switch self {
      case .name(let error): error.description
      case .issue(let error): error.description
      }
    }
  }

  /// The faults it gets, each label's share drawn, in the order of `Fault.Kind`.
  public internal(set) var faults: [Fault] = []
  public internal(set) var scenario: Scenario?
  public internal(set) var refusal: Refusal?
  /// The certificate issued for its name (a fault name or a scenario), or nil for the
  /// context's own.
  var identity: IssuedIdentity?

  /// The faults that act on a connection of this version: over TLS 1.2, not those only TLS
  /// 1.3 has, which are then neither announced nor counted.
  public func faults(tls13: Bool) -> [Fault] {
    tls13 ? faults : faults.filter { !$0.kind.needsTLS13 }
  }

  /// The fault of `kind`, if this connection got one.
  public func fault(_ kind: Fault.Kind) -> Fault? { faults.first { $0.kind == kind } }

  /// What a client that asks (echo-client) is told in the handshake:
  /// `scenario=expired;faults=delay-100`, or nil when nothing was applied.
  func announcement(tls13: Bool) -> String? {
    let applied = faults(tls13: tls13)
    let spelling =
      applied.isEmpty ? nil : applied.map { FaultLabel($0).spelling }.joined(separator: ".")
    let parts = [scenario.map { "scenario=\($0.rawValue)" }, spelling.map { "faults=\($0)" }]
      .compactMap { $0 }
    return parts.isEmpty ? nil : parts.joined(separator: ";")
  }
}
