import Foundation
import Testing

/// The files in deploy/ are accepted by the programs that read them: systemd (the unit) and
/// HAProxy (its configuration), as those programs' own checkers see them.
@Suite("Deployment files", .timeLimit(.minutes(1)))
struct DeploymentTests {
  static let deploy = Locations.repositoryRoot.appendingPathComponent("deploy")

  /// systemd is not installed in CI (a container has no use for it), so this test skips where
  /// systemd-analyze is missing, even under SECUREECHO_REQUIRE_TOOLS.
  @Test(
    "systemd-analyze verify has nothing to say about deploy/secureecho.service",
    .enabled(
      if: Locations.find("systemd-analyze") != nil,
      "systemd-analyze is not installed (it comes with systemd): the unit is not checked"))
  func systemdUnit() async throws {
    let tool = try Locations.tool("systemd-analyze")
    let scratch = try TemporaryDirectory("unit")
    defer { scratch.remove() }
    // verify checks that ExecStart's program exists and is executable: the copy runs the
    // echo-server just built instead of the installed one.
    let unit = try String(
      contentsOf: Self.deploy.appendingPathComponent("secureecho.service"), encoding: .utf8)
    let installed = "\nExecStart=/usr/local/bin/echo-server "
    try #require(unit.contains(installed), "ExecStart does not start with \(installed)")
    let built = try Locations.executable("echo-server").path
    let copy = scratch.file("secureecho.service")
    try unit.replacingOccurrences(of: installed, with: "\nExecStart=\(built) ")
      .write(to: copy, atomically: true, encoding: .utf8)

    // --man=no: Documentation= names man:echo-server(1), which `make install` installs and a
    // build folder does not have.
    let result = try await runCommand(tool, ["verify", "--man=no", copy.path])
    let output = result.stdoutText + result.stderr
    // verify also reports on units it loads besides ours (a container's own, say); only lines
    // about our file count. It exits 0 even for an unknown key or a bad value, which it just
    // ignores with a line naming the file: such lines are failures here.
    let ours = output.split(separator: "\n").filter {
      $0.contains(copy.path) || $0.contains("secureecho.service")
    }
    #expect(result.termination == .exit(0), "systemd-analyze verify: \(output)")
    #expect(ours.isEmpty, "systemd-analyze verify:\n\(ours.joined(separator: "\n"))")
  }

  @Test(
    "haproxy -c accepts deploy/haproxy.cfg, and its comments start the servers it balances",
    .enabled(
      if: Locations.canRun(with: "haproxy"), "haproxy is not installed (apt-get install haproxy)"))
  func haproxyConfiguration() async throws {
    let configuration = Self.deploy.appendingPathComponent("haproxy.cfg")
    let result = try await runCommand(
      try Locations.tool("haproxy"), ["-c", "-f", configuration.path])
    let output = result.stdoutText + result.stderr
    #expect(result.termination == .exit(0), "haproxy -c: \(output)")
    #expect(!output.contains("[WARNING]") && !output.contains("[ALERT]"), "haproxy -c: \(output)")

    // Each backend server has the echo-server command that serves it, in the comments.
    let text = try String(contentsOf: configuration, encoding: .utf8)
    let servers = text.matches(of: /\n\s*server (\w+) ([\d.]+:\d+) send-proxy-v2/)
    #expect(servers.count == 2, "\(text)")
    for server in servers {
      let command =
        "echo-server --listen \(server.2) --proxy-protocol v2 --proxy-from 127.0.0.1/32 "
        + "--instance \(server.1)"
      #expect(text.contains(command), "no '\(command)' in the comments of haproxy.cfg")
    }
  }

  @Test("the unit's own ExecStart line starts a server (its flags exist and agree)")
  func unitCommandLine() async throws {
    let unit = try String(
      contentsOf: Self.deploy.appendingPathComponent("secureecho.service"), encoding: .utf8)
    guard let start = unit.range(of: "\nExecStart=") else {
      throw TestFailure("no ExecStart= in the unit")
    }
    // The continued line, as systemd joins it; then its words without the program.
    var joined = ""
    for part in unit[start.upperBound...].split(separator: "\n") {
      let text = part.trimmingCharacters(in: .whitespaces)
      guard text.hasSuffix("\\") else {
        joined += text
        break
      }
      joined += text.dropLast() + " "
    }
    var arguments = joined.split(separator: " ").dropFirst().map {
      $0.replacingOccurrences(of: "${CREDENTIALS_DIRECTORY}", with: Locations.certificates.path)
        .replacingOccurrences(of: "%H", with: "unit-test")
    }
    // The test's addresses: kernel-chosen ports, so nothing on this machine is in the way.
    let swaps = ["127.0.0.1:4433": "127.0.0.1:0", "127.0.0.1:9464": "127.0.0.1:0"]
    for (from, to) in swaps {
      guard let index = arguments.firstIndex(of: from) else {
        throw TestFailure("the unit's ExecStart has no \(from): \(joined)")
      }
      arguments[index] = to
    }
    try Locations.requireDevelopmentCertificates()
    let listen = try #require(arguments.firstIndex(of: "--listen"))
    let address = arguments[listen + 1]
    arguments.removeSubrange(listen...(listen + 1))
    let server = try await ServerProcess.start(
      .tls, listen: [address], extraArguments: arguments + ["--log-format", "json"])
    defer { _ = server.stop() }
    #expect(
      server.listeningLine.contains("metrics at http://127.0.0.1:"), "\(server.listeningLine)")
    let started = try await server.waitForJSONRecord(until: Deadline(seconds: 10)) {
      $0.message == "started"
    }
    #expect(started?.string("instance") == "unit-test")
  }
}
