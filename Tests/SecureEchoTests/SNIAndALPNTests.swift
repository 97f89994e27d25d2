import Foundation
import Testing

@Suite("SNI and ALPN", .timeLimit(.minutes(1)))
struct SNIAndALPNTests {
  @Test("each name gets its own certificate; no name and unknown names get the default")
  func serverNames() async throws {
    let scratch = try TemporaryDirectory("sni")
    defer { scratch.remove() }
    let factory = CertificateFactory(directory: scratch)
    let ca = DevelopmentIdentity.ca
    let a = try await factory.makeServerCertificate("a", signedBy: ca, names: ["a.test"])
    let b = try await factory.makeServerCertificate("b", signedBy: ca, names: ["b.test"])
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--sni", "a.test=\(a.certificate.path),\(a.key.path)",
        "--sni", "b.test=\(b.certificate.path),\(b.key.path)",
      ])
    defer { server.stop() }

    for (name, expected) in [
      ("a.test", "CN = a.test"), ("B.TEST", "CN = b.test"), ("c.test", "CN = localhost"),
    ] {
      let result = try await runSClient(
        port: server.port, ["-brief", "-servername", name] + verifyWithDevelopmentCA)
      #expect(result.echoed, "\(name): \(result.output)")
      let peer = result.value(after: "Peer certificate:") ?? ""
      #expect(peer.contains(expected), "\(name) saw \(peer)")
    }
    let none = try await runSClient(port: server.port, ["-brief", "-noservername"])
    #expect(
      none.value(after: "Peer certificate:")?.contains("CN = localhost") == true, "\(none.output)")
    _ = try await server.waitForLogLine(
      containing: "server_name=a.test", until: Deadline(seconds: 10))
    let log = server.stderrText
    #expect(log.contains("server_name=a.test"))
  }

  @Test("ALPN: the server's preference wins; no common protocol gets no_application_protocol")
  func alpn() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--alpn", "echo,http/1.1"])
    defer { server.stop() }
    let echo = try await runSClient(port: server.port, ["-alpn", "echo"])
    #expect(echo.echoed, "\(echo.output)")
    #expect(echo.value(after: "ALPN protocol:") == "echo", "\(echo.output)")

    let both = try await runSClient(port: server.port, ["-alpn", "http/1.1,echo"])
    #expect(both.value(after: "ALPN protocol:") == "echo", "server preference: \(both.output)")

    let unknown = try await runSClient(port: server.port, ["-alpn", "unknown/1"])
    #expect(!unknown.echoed)
    #expect(unknown.output.contains("no application protocol"), "\(unknown.output)")

    _ = try await server.waitForLogLine(containing: "alpn=echo", until: Deadline(seconds: 10))
    let log = server.stderrText
    #expect(log.contains("alpn=echo"))
  }

  @Test("echo-client offers --alpn and shows the result in its summary")
  func clientALPN() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--alpn", "echo"])
    defer { server.stop() }
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      ["--host", "127.0.0.1", "--port", "\(server.port)", "--alpn", "other,echo"],
      input: .bytes(Data("x".utf8)))
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stderr.contains("ALPN echo"), "\(result.stderr)")
  }
}
