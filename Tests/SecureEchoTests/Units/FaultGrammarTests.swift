import Faults
import Testing

/// The fault grammar on its own: every spelling the server will accept, and every way of getting
/// one wrong, each refused with the label and the reason.
@Suite("Fault labels and server names")
struct FaultGrammarTests {
  @Test(
    "each kind, as written and as spelled back",
    arguments: [
      ("delay-200", Fault.delay(milliseconds: 200), "delay-200"),
      ("bandwidth-65536", .bandwidth(bytesPerSecond: 65536), "bandwidth-65536"),
      ("slice-512", .slice(bytes: 512, gapMilliseconds: 10), "slice-512-10"),
      ("slice-1-0", .slice(bytes: 1, gapMilliseconds: 0), "slice-1-0"),
      ("limit-4096", .limit(bytes: 4096, close: .normal), "limit-4096"),
      ("limit-0-rst", .limit(bytes: 0, close: .rst), "limit-0-rst"),
      ("limit-10-notify", .limit(bytes: 10, close: .notify), "limit-10-notify"),
      ("reset-4096", .reset(.afterBytes(4096)), "reset-4096"),
      ("reset-500ms", .reset(.afterMilliseconds(500)), "reset-500ms"),
      ("blackhole", .blackhole, "blackhole"),
      ("stall-0", .stall(afterBytes: 0), "stall-0"),
      ("slow-close-250", .slowClose(milliseconds: 250), "slow-close-250"),
      ("small-records-512", .smallRecords(bytes: 512), "small-records-512"),
      ("keyupdate-1024", .keyUpdate(everyBytes: 1024, requested: false), "keyupdate-1024"),
      (
        "keyupdate-1-requested", .keyUpdate(everyBytes: 1, requested: true),
        "keyupdate-1-requested"
      ),
      ("no-close-notify", .noCloseNotify, "no-close-notify"),
      ("truncate", .truncate, "truncate"),
      ("handshake-stall-5", .handshakeStall(seconds: 5), "handshake-stall-5"),
      ("handshake-alert-unknown-ca", .handshakeAlert(.unknownCA), "handshake-alert-unknown-ca"),
      (
        "handshake-alert-112", .handshakeAlert(.unrecognizedName),
        "handshake-alert-unrecognized-name"
      ),
      ("tickets-0", .tickets(count: 0), "tickets-0"),
      ("Delay-7", .delay(milliseconds: 7), "delay-7"),
    ] as [(String, Fault, String)])
  func labels(_ text: String, _ fault: Fault, _ spelling: String) throws {
    let label = try FaultLabel.parse(text).get()
    #expect(label.fault == fault)
    #expect(label.percent == 100)
    #expect(label.spelling == spelling)
    #expect(try FaultLabel.parse(spelling).get() == label, "the spelling reads back as itself")
  }

  @Test("a share of connections: -pN, 1 to 100")
  func shares() throws {
    let label = try FaultLabel.parse("limit-4096-rst-p25").get()
    #expect(label == FaultLabel(.limit(bytes: 4096, close: .rst), percent: 25))
    #expect(label.spelling == "limit-4096-rst-p25")
    #expect(try FaultLabel.parse("blackhole-p100").get().spelling == "blackhole")
    let plan = try FaultPlan.parse(["delay-10-p50", "truncate"]).get()
    var draws = [10, 90].makeIterator()
    #expect(plan.chosen { draws.next()! } == [.delay(milliseconds: 10), .truncate])
    #expect(plan.chosen { 50 } == [.truncate])
  }

  @Test(
    "what is refused, and why",
    arguments: [
      ("", "empty"), ("explode", "no such fault"), ("delay", "takes one number"),
      ("delay-", "single hyphens"), ("delay--5", "single hyphens"), ("-delay-5", "single hyphens"),
      ("delay-60001", "from 0 to 60000"), ("delay-007", "not '007'"),
      ("delay-+5", "single hyphens"),
      ("delay-5-6", "takes one number"), ("delay_5", "only letters"), ("délai-5", "only letters"),
      ("limit-10-later", "fin, rst or notify"), ("limit-10-normal", "fin, rst or notify"),
      ("limit-99999999999999999999", "the byte count"), ("reset-5s", "not '5s'"),
      ("reset-99999999ms", "the time in milliseconds"), ("blackhole-1", "takes no parameter"),
      ("small-records-511", "from 512 to 16384"), ("small-records-16385", "from 512 to 16384"),
      ("keyupdate-0", "from 1 to"), ("keyupdate-10-asked", "optionally 'requested'"),
      ("handshake-stall-0", "from 1 to 60"), ("handshake-alert-nope", "no such alert 'nope'"),
      ("handshake-alert-41", "no such alert '41'"), ("tickets-11", "from 0 to 10"),
      ("truncate-p0", "from 1 to 100"), ("truncate-p101", "from 1 to 100"),
      ("slice-0", "chunk size"), ("slice-8-10001", "the gap"),
      (String(repeating: "a", count: 64), "63 bytes"),
    ])
  func refusals(_ text: String, _ reason: String) {
    switch FaultLabel.parse(text) {
    case .success(let label): Issue.record("'\(text)' parsed as \(label.spelling)")
    case .failure(let error):
      #expect(error.reason.contains(reason), "'\(text)': \(error.reason)")
      #expect(error.description.hasPrefix("fault '\(text)'"))
    }
  }

  @Test(
    "plans: one of each kind, no contradictions, sorted",
    arguments: [
      (["delay-5", "delay-6"], "a second delay (after 'delay-5')"),
      (["limit-1.limit-2-rst"], "a second limit"),
      (["jitter-5"], "give delay-MS too"), (["delay-5", "jitter-6"], "more than the delay"),
      (["blackhole", "stall-10"], "not together"), (["truncate.no-close-notify"], "not together"),
      (["handshake-stall-1", "handshake-alert-40"], "not together"),
      (["limit-5-notify", "no-close-notify"], "not together"),
    ] as [([String], String)])
  func plans(_ specs: [String], _ reason: String) {
    switch FaultPlan.parse(specs) {
    case .success(let plan): Issue.record("\(specs) parsed as \(plan.spelling)")
    case .failure(let error): #expect(error.reason.contains(reason), "\(specs): \(error.reason)")
    }
  }

  @Test("a plan keeps the kinds' order, and says which need TLS")
  func planOrder() throws {
    let plan = try FaultPlan.parse(["small-records-1024.limit-100", "delay-50", "jitter-10"]).get()
    #expect(plan.spelling == "delay-50.jitter-10.limit-100.small-records-1024")
    #expect(plan.tlsOnly == [.smallRecords])
    #expect(Fault.Kind.smallRecords.counterName == "small_records")
    #expect(try FaultPlan.parse([]).get() == .none)
  }

  @Test("server names: faults, scenarios with faults, ordinary names, mistakes")
  func serverNames() throws {
    let limit = try FaultPlan.parse(["limit-4096"]).get()
    #expect(FaultRequest.parse(serverName: "limit-4096.fault.localhost") == .faults(limit))
    #expect(FaultRequest.parse(serverName: "LIMIT-4096.Fault.Localhost.") == .faults(limit))
    #expect(FaultRequest.parse(serverName: "fault.localhost") == .faults(.none))
    let delayed = try FaultPlan.parse(["delay-200", "small-records-512"]).get()
    #expect(
      FaultRequest.parse(serverName: "delay-200.small-records-512.fault.localhost")
        == .faults(delayed))
    let slow = try FaultPlan.parse(["delay-100"]).get()
    #expect(
      FaultRequest.parse(serverName: "delay-100.expired.scenario.localhost")
        == .scenario(.expired, slow))
    #expect(
      FaultRequest.parse(serverName: "expired.scenario.localhost") == .scenario(.expired, .none))
    #expect(FaultRequest.parse(serverName: "localhost") == .ordinary)
    #expect(FaultRequest.parse(serverName: "notfault.localhost") == .ordinary)
    #expect(
      FaultRequest.parse(serverName: "limit-4096.fault.example", faultSuffix: "fault.example")
        == .faults(limit))
    for bad in [
      "limit-x.fault.localhost", "a..fault.localhost", "scenario.localhost",
      "delay-5.bogus.scenario.localhost",
    ] {
      guard case .invalid(let error) = FaultRequest.parse(serverName: bad) else {
        Issue.record("'\(bad)' was not refused")
        continue
      }
      #expect(!error.reason.isEmpty)
    }
  }
}
