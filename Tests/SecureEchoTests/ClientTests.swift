import Foundation
import Testing

/// `echo-client` as a user runs it: pipe mode, interactive mode, and certificate checks.
@Suite("echo-client", .timeLimit(.minutes(1)))
struct ClientTests {
  @Test("pipe mode echoes every byte value exactly", arguments: EchoMode.allCases)
  func pipeMode(mode: EchoMode) async throws {
    let server = try await ServerProcess.start(mode)
    defer { server.stop() }
    let payload = Payload.everyByteValue(repeats: 24)
    var arguments = ["--host", "127.0.0.1", "--port", String(server.port)]
    if mode == .plaintext { arguments.append("--plaintext") }
    if mode == .tls { arguments += ["--cafile", Locations.caCertificate.path] }

    let result = try await runCommand(
      try Locations.executable("echo-client"), arguments, input: .bytes(payload))
    #expect(result.termination == .exit(0), "stderr: \(result.stderr)")
    expectSameBytes(result.stdout, payload, "echo-client \(mode) stdout")
    Diagnostics.expectNoCrash(result.stderr)
    if mode == .tls {
      let summary = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
      #expect(summary.contains("connected to 127.0.0.1:\(server.port)"), "\(summary)")
      #expect(summary.contains("TLSv1."), "\(summary)")
      #expect(summary.contains("CN=localhost"), "\(summary)")
      #expect(summary.contains("(verified)"), "\(summary)")
    }
  }

  @Test("interactive mode prompts and prints each reply")
  func interactive() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--interactive", "--host", "127.0.0.1", "--port", String(server.port),
        "--cafile", Locations.caCertificate.path,
      ],
      input: .bytes(Data("hello\nworld\n\n".utf8)))
    #expect(result.termination == .exit(0), "stderr: \(result.stderr)")
    let output = result.stdoutText
    let hello = try #require(output.range(of: ":>hello\n"), "stdout: \(output)")
    let world = output.range(of: ">world\n", range: hello.upperBound..<output.endIndex)
    #expect(world != nil, "stdout: \(output)")
  }

  @Test("refuses a server whose certificate another CA signed")
  func untrustedCertificate() async throws {
    let scratch = try TemporaryDirectory("other-ca")
    defer { scratch.remove() }
    let factory = CertificateFactory(directory: scratch)
    let otherCA = try await factory.makeCA("Other Test CA")
    let identity = try await factory.makeServerCertificate(
      "other-server", signedBy: otherCA, names: ["localhost", "127.0.0.1", "::1"])
    let server = try await ServerProcess.start(
      .tls, certificate: identity.certificate, key: identity.key)
    defer { server.stop() }

    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--port", String(server.port),
        "--cafile", Locations.caCertificate.path,
      ],
      input: .bytes(Data("must not be echoed\n".utf8)))
    expectVerificationFailure(result)
  }

  @Test("refuses a server certificate that does not name the host asked for")
  func wrongServerName() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--port", String(server.port),
        "--cafile", Locations.caCertificate.path, "--servername", "wrong.example",
      ],
      input: .bytes(Data("must not be echoed\n".utf8)))
    expectVerificationFailure(result)
  }

  @Test("--insecure connects to a server it cannot verify, and echoes")
  func insecure() async throws {
    let scratch = try TemporaryDirectory("insecure")
    defer { scratch.remove() }
    let factory = CertificateFactory(directory: scratch)
    let otherCA = try await factory.makeCA("Other Test CA")
    let identity = try await factory.makeServerCertificate(
      "other-server", signedBy: otherCA, names: ["localhost", "127.0.0.1"])
    let server = try await ServerProcess.start(
      .tls, certificate: identity.certificate, key: identity.key)
    defer { server.stop() }

    let payload = Payload.everyByteValue(repeats: 2)
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--port", String(server.port),
        "--cafile", Locations.caCertificate.path, "--insecure",
      ],
      input: .bytes(payload))
    #expect(result.termination == .exit(0), "stderr: \(result.stderr)")
    expectSameBytes(result.stdout, payload, "echo with --insecure")
  }

  /// A refused server: a non-zero exit, nothing echoed, and one line saying it was the
  /// certificate.
  private func expectVerificationFailure(
    _ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(!result.termination.bySignal, "\(result.termination)", sourceLocation: sourceLocation)
    #expect(
      result.termination.status != 0, "exit 0; stderr: \(result.stderr)",
      sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, "stdout: \(result.stdoutText)", sourceLocation: sourceLocation)
    let line = Diagnostics.expectSingleLine(
      result.stderr, from: "echo-client", sourceLocation: sourceLocation)
    #expect(
      line.lowercased().contains("certificate"), "stderr: \(line)", sourceLocation: sourceLocation)
  }
}
