import Foundation
import Sockets
import Testing

/// `echo-server` refusing to start: one line a user can act on, a sysexits status, no crash.
@Suite("echo-server start-up errors", .timeLimit(.minutes(1)))
struct ServerErrorTests {
  private func runServer(_ arguments: [String]) async throws -> CommandResult {
    try Locations.requireDevelopmentCertificates()
    return try await runCommand(
      try Locations.executable("echo-server"), ["--host", "127.0.0.1"] + arguments,
      timeoutSeconds: 20)
  }

  @Test("a missing certificate file is named, with the system's reason")
  func missingCertificate() async throws {
    let scratch = try TemporaryDirectory("missing-cert")
    defer { scratch.remove() }
    let missing = scratch.file("missing.crt").path
    let result = try await runServer([
      "--port", "0", "--cert", missing, "--key", Locations.serverKey.path,
    ])

    #expect(result.termination == .exit(66), "EX_NOINPUT expected; stderr: \(result.stderr)")
    #expect(result.stdout.isEmpty, "stdout: \(result.stdoutText)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains(missing), "\(line)")
    #expect(line.contains("No such file or directory"), "\(line)")
  }

  @Test("a key that does not match the certificate is named, with the cause")
  func mismatchedKey() async throws {
    let scratch = try TemporaryDirectory("mismatched-key")
    defer { scratch.remove() }
    let otherKey = try await CertificateFactory(directory: scratch).makeKey("unrelated")
    let result = try await runServer([
      "--port", "0", "--cert", Locations.serverCertificate.path, "--key", otherKey.path,
    ])

    #expect(result.termination == .exit(65), "EX_DATAERR expected; stderr: \(result.stderr)")
    #expect(result.stdout.isEmpty, "stdout: \(result.stdoutText)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains(otherKey.path), "\(line)")
    #expect(line.contains("match"), "\(line)")
  }

  @Test("an unknown option is named in a one-line usage error")
  func unknownOption() async throws {
    let result = try await runServer(["--no-such-option"])

    #expect(result.termination == .exit(64), "EX_USAGE expected; stderr: \(result.stderr)")
    #expect(result.stdout.isEmpty, "stdout: \(result.stdoutText)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains("--no-such-option"), "\(line)")
  }

  @Test("a port already in use is named, with the system's reason")
  func portInUse() async throws {
    let address = try #require(SocketAddress(numericHost: "127.0.0.1", port: 0))
    let listener = try Socket.listening(on: address)
    defer { listener.close() }
    let port = try listener.localAddress().port
    let result = try await runServer(["--port", String(port)])

    #expect(result.termination == .exit(69), "EX_UNAVAILABLE expected; stderr: \(result.stderr)")
    #expect(result.stdout.isEmpty, "stdout: \(result.stdoutText)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains("127.0.0.1:\(port)"), "\(line)")
    #expect(line.contains("Address already in use"), "\(line)")
  }
}
