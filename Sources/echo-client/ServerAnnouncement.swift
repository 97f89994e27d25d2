/// What a SecureEcho server said it applied to the connection (faults, a certificate scenario),
/// as its handshake told it (`scenario=expired;faults=delay-100`), for the summary line and for
/// the error of a handshake the scenario made fail.
struct ServerAnnouncement {
  var scenario: String?
  var faults: String?

  init?(_ text: String?) {
    guard let text else { return nil }
    for field in text.split(separator: ";") {
      let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2 else { continue }
      switch parts[0] {
      case "scenario": scenario = parts[1]
      case "faults": faults = parts[1]
      default: continue
      }
    }
    guard scenario != nil || faults != nil else { return nil }
  }

  /// `server applied scenario expired and faults delay-100`.
  var summary: String {
    let parts = [scenario.map { "scenario \($0)" }, faults.map { "faults \($0)" }].compactMap { $0 }
    return "server applied " + parts.joined(separator: " and ")
  }
}
