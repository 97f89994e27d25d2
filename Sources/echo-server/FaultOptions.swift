import ArgumentParser
import EchoServer
import Faults
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// The options that make the server misbehave on purpose, to test how clients fail: faults for
/// every connection or per listener, and, with `--scenarios`, faults and certificate scenarios
/// chosen by each client through the server name it asks for.
struct FaultOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      """
      Directory of the certificate scenarios' CAs ('make certs' writes certs/scenarios). A TLS \
      client asking for SCENARIO.scenario.localhost gets a certificate wrong in that way \
      (\(Scenario.allCases.map(\.rawValue).joined(separator: ", "))); one asking for \
      LABELS.fault.localhost gets the faults its labels name \
      (delay-200.limit-4096.fault.localhost). Either may carry fault labels in front \
      (delay-100.expired.scenario.localhost). Each name gets a certificate issued for it.
      """, valueName: "dir"))
  var scenarios: String?

  @Option(
    name: .customLong("fault"),
    help: ArgumentHelp(
      """
      A fault for every connection (repeatable; a TLS client's fault name replaces them): \
      delay-MS, jitter-MS, bandwidth-BPS, slice-BYTES[-MS], limit-N[-fin|-rst|-notify], \
      reset-N or reset-MSms, blackhole, stall-N, slow-close-MS, small-records-N, \
      keyupdate-N[-requested], no-close-notify, truncate, handshake-stall-S, \
      handshake-alert-NAME, tickets-N; add -pPERCENT for a share of connections \
      (limit-4096-rst-p25).
      """, valueName: "spec"))
  var faults: [String] = []

  @Option(
    name: .customLong("fault-port"),
    help: ArgumentHelp(
      """
      One more listener, on PORT of each address the others listen on, whose connections get \
      SPEC's faults instead of --fault's (repeatable; PORT 0: any free port).
      """, valueName: "port=spec"))
  var faultPorts: [String] = []

  @Option(
    help: "Server-name suffix under which labels name faults (with --scenarios).")
  var faultSuffix = "fault.localhost"

  @Option(
    help: "Server-name suffix under which a label names a certificate scenario (with --scenarios).")
  var scenarioSuffix = "scenario.localhost"

  /// `--fault`, as one plan.
  func plan() throws(ValidationError) -> FaultPlan {
    try Self.plan(faults, option: "--fault")
  }

  /// `--fault-port` values: each port and its plan.
  func ports() throws(ValidationError) -> [(port: UInt16, faults: FaultPlan)] {
    try faultPorts.map { (value) throws(ValidationError) in
      let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2, let port = UInt16(parts[0]) else {
        throw ValidationError("--fault-port must be PORT=SPEC (4434=delay-200), not '\(value)'")
      }
      return (port, try Self.plan([parts[1]], option: "--fault-port \(parts[0])"))
    }
  }

  /// Whether any listener gives its connections faults.
  var hasListenerFaults: Bool { !faults.isEmpty || !faultPorts.isEmpty }

  /// Every check of these options: `plaintext` refuses what needs TLS.
  func validate(plaintext: Bool) throws(ValidationError) {
    var plans = [("--fault", try plan())]
    plans += try ports().map { ("--fault-port \($0.port)", $0.faults) }
    for (option, plan) in plans where plaintext {
      if let kind = plan.tlsOnly.first {
        throw ValidationError(
          "\(option): \(kind.rawValue) acts on TLS; it does not apply to --plaintext")
      }
      if plan.labels.contains(where: {
        if case .limit(_, .notify) = $0.fault { true } else { false }
      }) {
        throw ValidationError("\(option): limit-N-notify sends close_notify, which is TLS only")
      }
    }
    let ports = try ports().map(\.port)
    if Set(ports.filter { $0 != 0 }).count != ports.filter({ $0 != 0 }).count {
      throw ValidationError("--fault-port names one port twice")
    }
    for (option, suffix) in [
      ("--fault-suffix", faultSuffix), ("--scenario-suffix", scenarioSuffix),
    ] {
      guard Self.isDNSName(suffix) else {
        throw ValidationError("\(option) must be a DNS name (faults.localhost), not '\(suffix)'")
      }
    }
    if faultSuffix.lowercased() == scenarioSuffix.lowercased() {
      throw ValidationError("--fault-suffix and --scenario-suffix must differ")
    }
    if scenarios == nil {
      for (option, changed) in [
        ("--fault-suffix", faultSuffix != "fault.localhost"),
        ("--scenario-suffix", scenarioSuffix != "scenario.localhost"),
      ] where changed {
        throw ValidationError("\(option) has no effect without --scenarios")
      }
    }
    if let directory = scenarios { try Self.checkScenarios(directory) }
  }

  /// Sets `configuration`'s scenario directory, suffixes and whether hellos are looked at.
  func apply(to configuration: inout TLSConfiguration) {
    configuration.scenarioDirectory = scenarios
    configuration.faultSuffix = faultSuffix
    configuration.scenarioSuffix = scenarioSuffix
    configuration.listenerFaults = hasListenerFaults
  }

  /// The start-up line's fields.
  var startFields: [String: String] {
    var fields: [String: String] = [:]
    if !faults.isEmpty { fields["faults"] = (try? plan().spelling) ?? "" }
    if let scenarios { fields["scenarios"] = scenarios }
    return fields
  }

  private static func plan(_ specs: [String], option: String) throws(ValidationError) -> FaultPlan {
    switch FaultPlan.parse(specs) {
    case .success(let plan): return plan
    case .failure(let error): throw ValidationError("\(option): \(error)")
    }
  }

  private static func isDNSName(_ name: String) -> Bool {
    let labels = name.split(separator: ".", omittingEmptySubsequences: false)
    return name.utf8.count <= 200 && labels.count >= 2
      && labels.allSatisfy { label in
        !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
          && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
      }
  }

  /// The directory holds what `make certs` writes there.
  private static func checkScenarios(_ directory: String) throws(ValidationError) {
    var status = stat()
    guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
      throw ValidationError(
        "--scenarios '\(directory)' is not a directory (run 'make certs' to create certs/scenarios)"
      )
    }
    let missing = ScenarioIssuer.files.filter { access("\(directory)/\($0)", F_OK) != 0 }
    guard missing.isEmpty else {
      throw ValidationError(
        "--scenarios '\(directory)' lacks \(missing.joined(separator: ", ")) "
          + "(run 'make certs' to make them)")
    }
  }
}
