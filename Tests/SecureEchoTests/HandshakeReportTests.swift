import Foundation
import Testing

/// `--report` and the `report.` server name: the client gets its handshake report first, then
/// the service as usual; without either, not a byte of it.
@Suite("Handshake report", .timeLimit(.minutes(2)))
struct HandshakeReportTests {
  /// Connects with Python's ssl (ALPN echo), reads the report (its first line, or the text
  /// block up to its blank end), then checks one echo after it. Prints the report.
  private static let pythonClient = """
    import socket, ssl, sys
    port, cafile, name, lines = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["echo"])
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            data = b""
            while data.count(b"\\n") < lines:
                chunk = tls.recv(65536)
                if not chunk:
                    sys.exit("closed before the report")
                data += chunk
            report = data
            tls.sendall(b"after the report\\n")
            echo = b""
            while not echo.endswith(b"after the report\\n"):
                echo += tls.recv(100)
            sys.stdout.write(report.decode())
    """

  private func report(port: UInt16, serverName: String = "localhost", lines: Int = 1) async throws
    -> String
  {
    let result = try await runCommand(
      try Locations.tool("python3"),
      ["-c", Self.pythonClient, "\(port)", Locations.caCertificate.path, serverName, "\(lines)"])
    try #require(result.termination == .exit(0), "\(result.stderr)")
    return result.stdoutText
  }

  @Test("--report json: one JSON line with what the client offered and what was negotiated")
  func json() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--report", "json", "--instance", "test-1", "--log-format", "json", "--alpn", "echo",
      ])
    defer { server.stop() }
    let line = try await report(port: server.port)
    let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
    let object = try #require(parsed as? [String: Any], "\(line)")
    let negotiated = try #require(object["negotiated"] as? [String: Any])
    let prints = try #require(object["fingerprints"] as? [String: Any])
    let hello = try #require(object["client_hello"] as? [String: Any])

    #expect(object["instance"] as? String == "test-1")
    #expect(
      negotiated["version"] as? String == "TLSv1.3" && negotiated["alpn"] as? String == "echo")
    #expect(negotiated["server_name"] as? String == "localhost")
    #expect(negotiated["hello_retry"] as? Bool == false && negotiated["resumed"] as? Bool == false)
    #expect((negotiated["signature"] as? String)?.hasPrefix("ECDSA+") == true, "\(negotiated)")
    #expect(
      hello["alpn"] as? [String] == ["echo"] && hello["server_name"] as? String == "localhost")
    #expect((hello["cipher_suites"] as? [String])?.contains("TLS_AES_128_GCM_SHA256") == true)
    #expect((hello["extensions"] as? [String])?.first == "server_name", "\(hello)")
    let ja4 = try #require(prints["ja4"] as? String)
    #expect(ja4.hasPrefix("t13d") && ja4.dropFirst(8).hasPrefix("eo"), "\(ja4)")

    // The close line names the same client, and the instance, as the report.
    let closed = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    #expect(closed?.string("ja4") == ja4, "\(closed?.line ?? "")")
    #expect(closed?.string("instance") == "test-1")
  }

  @Test("--report text: a readable block")
  func text() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--report", "text"])
    defer { server.stop() }
    let block = try await report(port: server.port, lines: 40)
    #expect(block.hasPrefix("SecureEcho handshake report\n"), "\(block)")
    #expect(block.contains("  negotiated:\n    version: TLSv1.3\n"), "\(block)")
    #expect(block.contains("    ja4: t13d"), "\(block)")
  }

  @Test("report off: a client asking for report.localhost gets it, verified; others get none")
  func byServerName() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let asked = try await runSClient(
      port: server.port, verifyWithDevelopmentCA + ["-servername", "report.localhost"],
      expect: nil)
    #expect(asked.output.contains(#""fingerprints":{"ja4":"t13d"#), "\(asked.output)")
    #expect(asked.echoed, "no echo after the report: \(asked.output)")

    let plain = try await runSClient(
      port: server.port, verifyWithDevelopmentCA + ["-servername", "localhost"])
    #expect(plain.echoed && !plain.output.contains("fingerprints"), "\(plain.output)")
  }

  @Test("echo-client --report prints it readably; --report-json as the server sent it")
  func client() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let arguments = [
      "--host", "127.0.0.1", "--servername", "localhost", "--port", "\(server.port)",
    ]
    let readable = try await runCommand(
      try Locations.executable("echo-client"), arguments + ["--report"])
    #expect(readable.termination == .exit(0), "\(readable.stderr)")
    #expect(readable.stdoutText.contains("\n    \"ja4\": \"t13d"), "\(readable.stdoutText)")
    #expect(readable.stdoutText.contains("\"server_name\": \"report.localhost\""))

    let raw = try await runCommand(
      try Locations.executable("echo-client"), arguments + ["--report-json"])
    #expect(raw.termination == .exit(0), "\(raw.stderr)")
    let object = try JSONSerialization.jsonObject(with: raw.stdout) as? [String: Any]
    #expect(object?["fingerprints"] != nil, "\(raw.stdoutText)")
  }

  @Test("with a client certificate, the report names it and its verification")
  func clientCertificate() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--client-ca", Locations.caCertificate.path, "--verify-client", "optional",
      ])
    defer { server.stop() }
    let client = DevelopmentIdentity.client
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--servername", "localhost", "--port", "\(server.port)",
        "--cert", client.certificate.path, "--key", client.key.path, "--report-json",
      ])
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
    let negotiated = object?["negotiated"] as? [String: Any]
    let certificate = negotiated?["client_certificate"] as? [String: Any]
    #expect(
      (certificate?["subject"] as? String)?.contains("CN=secureecho-client") == true,
      "\(result.stdoutText)")
    #expect(certificate?["verify"] as? String == "ok", "\(result.stdoutText)")
    #expect((certificate?["serial"] as? String)?.isEmpty == false)
  }
}
