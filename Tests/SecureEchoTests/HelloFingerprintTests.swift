import Foundation
import Testing

/// The client's hello as the server saw it, in every TLS connection's close line: JA4 and JA3
/// of what real clients offered, the group, a HelloRetryRequest, and an independent JA4
/// implementation (ja4plus) agreeing on every one.
@Suite("ClientHello fingerprints in the log", .timeLimit(.minutes(2)))
struct HelloFingerprintTests {
  /// Python's ssl with ALPN echo: prints the report line the server sends first, then
  /// checks one echo after it.
  private static let pythonClient = """
    import socket, ssl, sys
    context = ssl.create_default_context(cafile=sys.argv[2])
    context.set_alpn_protocols(["echo"])
    with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            report = b""
            while not report.endswith(b"\\n"):
                report += tls.recv(1)
            tls.sendall(b"x")
            assert tls.recv(1) == b"x"
            sys.stdout.write(report.decode())
    """

  @Test("s_client and Python ssl: the fields match what each offered; ja4plus agrees")
  func realClients() async throws {
    // X25519 and P-256 only: a client whose one key share is P-384 gets a HelloRetryRequest.
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--log-format", "json", "--log-level", "trace", "--groups", "X25519:prime256v1",
        "--report", "json", "--alpn", "echo,h2",
      ])
    defer { server.stop() }
    let port = server.port
    let clients: [[String]] = [
      ["-alpn", "echo,h2", "-servername", "localhost"],
      ["-alpn", "echo,h2", "-servername", "localhost"],
      ["-tls1_2", "-servername", "localhost"],
      ["-groups", "P-384:X25519"],
      ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
    ]
    var reports: [[String: Any]] = []
    for (index, arguments) in clients.enumerated() {
      let output = try await runSClient(port: port, verifyWithDevelopmentCA.dropLast() + arguments)
        .output
      try await waitForCloseLines(index + 1, of: server)
      reports.append(try Self.report(in: output))
    }
    let python = try await runCommand(
      try Locations.tool("python3"),
      ["-c", Self.pythonClient, "\(port)", Locations.caCertificate.path])
    #expect(python.termination == .exit(0), "\(python.stderr)")
    reports.append(try Self.report(in: python.stdoutText))
    try await waitForCloseLines(clients.count + 1, of: server)
    try Self.checkReports(reports)

    let closed = try server.jsonLog().filter { $0.message == "connection closed" }
    let ja4 = closed.map { $0.string("ja4") ?? "" }
    #expect(
      ja4[0] == ja4[1] && ja4[0].hasPrefix("t13d") && ja4[0].dropFirst(8).hasPrefix("eo"), "\(ja4)")
    #expect(ja4[2].hasPrefix("t12d") && ja4[2].dropFirst(8).hasPrefix("00"), "\(ja4[2])")
    #expect(ja4[3].hasPrefix("t13i"), "no SNI to an address: \(ja4[3])")
    #expect(closed[3].fields["hello_retry"] as? Bool == true, "\(closed[3].line)")
    #expect(closed[3].string("group") == "x25519", "\(closed[3].line)")
    #expect(ja4[4].hasPrefix("t11i") && closed[4].string("reason") == "handshake_failed")
    #expect(ja4[5].hasPrefix("t13d") && ja4[5] != ja4[0], "Python is another client: \(ja4[5])")
    for record in closed {
      #expect(record.string("ja3_md5")?.count == 32, "\(record.line)")
    }

    // The same hellos through another implementation of JA4.
    let scratch = try TemporaryDirectory("ja4")
    defer { scratch.remove() }
    let log = scratch.file("log.json")
    try server.stderrText.write(to: log, atomically: true, encoding: .utf8)
    let check = try await runCommand(
      try Locations.tool("python3"),
      [Locations.scripts.appendingPathComponent("ja4_check.py").path, log.path])
    #expect(check.termination == .exit(0), "\(check.stdoutText)\(check.stderr)")
    #expect(check.stdoutText.components(separatedBy: "ja4 agree").count - 1 == closed.count)
  }

  @Test("at info level the close line has the fingerprints but not the hello's bytes")
  func noBytesAtInfo() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    _ = try await runSClient(port: server.port, verifyWithDevelopmentCA)
    try await waitForCloseLines(1, of: server)
    let closed = try #require(try server.jsonLog().first { $0.message == "connection closed" })
    #expect(closed.string("ja4")?.hasPrefix("t13") == true, "\(closed.line)")
    #expect(closed.fields["hello_hex"] == nil, "\(closed.line)")
  }

  /// The report line in a client's output (none, an empty object: a failed handshake).
  private static func report(in output: String) throws -> [String: Any] {
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("{\"instance\"") })
    else { return [:] }
    return try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
  }

  /// Each report says what that client offered and what it got.
  private static func checkReports(_ reports: [[String: Any]]) throws {
    func section(_ index: Int, _ name: String) -> [String: Any] {
      reports[index][name] as? [String: Any] ?? [:]
    }
    let offered = section(0, "client_hello")
    #expect(offered["alpn"] as? [String] == ["echo", "h2"], "\(offered)")
    #expect(offered["server_name"] as? String == "localhost")
    #expect(section(0, "negotiated")["alpn"] as? String == "echo")
    #expect(
      (section(0, "fingerprints")["ja4"] as? String)
        == (section(1, "fingerprints")["ja4"] as? String))
    #expect(section(2, "negotiated")["version"] as? String == "TLSv1.2", "\(reports[2])")
    #expect((section(2, "client_hello")["supported_versions"] as? [String])?.isEmpty == true)
    #expect(section(3, "negotiated")["hello_retry"] as? Bool == true, "\(reports[3])")
    #expect(section(3, "client_hello")["key_share_groups"] as? [String] == ["secp384r1"])
    #expect(section(3, "client_hello")["server_name"] is NSNull, "an address: no SNI")
    #expect(reports[4].isEmpty, "a refused handshake gets no report")
    #expect(section(5, "client_hello")["alpn"] as? [String] == ["echo"], "\(reports[5])")
  }

  @Test("SECUREECHO_NO_HELLO_CAPTURE=1 (for make bench's comparison): no fingerprint, same echo")
  func captureOff() async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--log-format", "json"],
      environment: ["SECUREECHO_NO_HELLO_CAPTURE": "1"])
    defer { server.stop() }
    let result = try await runSClient(port: server.port, verifyWithDevelopmentCA)
    #expect(result.echoed)
    try await waitForCloseLines(1, of: server)
    let closed = try #require(try server.jsonLog().first { $0.message == "connection closed" })
    #expect(closed.fields["ja4"] == nil, "\(closed.line)")
  }

  private func waitForCloseLines(_ count: Int, of server: ServerProcess) async throws {
    let reached = try await Deadline(seconds: 20).poll {
      (try? server.jsonLog().filter { $0.message == "connection closed" }.count) ?? 0 >= count
    }
    try #require(reached, "fewer than \(count) close lines: \(server.stderrText)")
  }
}
