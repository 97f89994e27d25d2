import Foundation
import Sockets
import Testing

/// What echo-client tells a user whose first try went wrong, and how pipe mode ends against
/// servers that are not echo-server.
@Suite("echo-client messages and endings", .timeLimit(.minutes(2)))
struct ClientMessageTests {
  private func client(
    _ arguments: [String], port: UInt16, input: String = "hello\n",
    environment: [String: String] = [:]
  ) async throws -> CommandResult {
    try await runCommand(
      try Locations.executable("echo-client"),
      ["--host", "127.0.0.1", "--port", "\(port)"] + arguments, input: .bytes(Data(input.utf8)),
      timeoutSeconds: 30, environment: environment)
  }

  @Test("TLS to a plaintext server: asks whether the server is in plaintext mode")
  func tlsToPlaintext() async throws {
    let server = try await ServerProcess.start(.plaintext)
    defer { server.stop() }
    let result = try await client([], port: server.port)

    #expect(result.termination == .exit(69), "\(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
    #expect(
      line.contains("is the server in plaintext mode? then connect with --plaintext"), "\(line)")
  }

  @Test(
    "plaintext to a TLS server: says the server speaks TLS",
    arguments: [
      ("hi\n", "it speaks TLS (leave out --plaintext)"),
      ("hello, TLS server\n", "leave out --plaintext"),
    ])
  func plaintextToTLS(_ input: String, _ hint: String) async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    // Three bytes are less than a record header: the server waits for more, and answers with an
    // alert only when the client, done waiting for its echo, ends its side.
    let result = try await client(
      ["--plaintext", "--reply-timeout", "0.5"], port: server.port, input: input)

    #expect(result.termination != .exit(0), "\(result.stderr)")
    #expect(result.stderr.contains(hint), "\(result.stderr)")
  }

  @Test("no client certificate against --verify-client required: says to pass --cert and --key")
  func missingClientCertificate() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: ["--client-ca", Locations.caCertificate.path, "--verify-client", "required"])
    defer { server.stop() }
    let result = try await client([], port: server.port)

    #expect(result.termination == .exit(69), "\(result.stderr)")
    #expect(result.stderr.contains("pass --cert and --key"), "\(result.stderr)")
  }

  @Test("an untrusted or misnamed server certificate: what to pass instead")
  func verificationHints() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    // Outside the checkout there is no certs/ca.crt: the system's trust store does not know
    // the development CA.
    let scratch = try TemporaryDirectory("elsewhere")
    defer { scratch.remove() }
    let untrusted = try await runCommand(
      try Locations.executable("echo-client"), ["--host", "127.0.0.1", "--port", "\(server.port)"],
      input: .bytes(Data("x".utf8)), currentDirectory: scratch.url)
    #expect(untrusted.termination == .exit(69), "\(untrusted.stderr)")
    #expect(untrusted.stderr.contains("pass --cafile"), "\(untrusted.stderr)")

    let misnamed = try await client(["--servername", "a.test"], port: server.port)
    #expect(misnamed.termination == .exit(69), "\(misnamed.stderr)")
    #expect(misnamed.stderr.contains("checked against 'a.test'"), "\(misnamed.stderr)")
  }

  @Test("nothing listening: the refusal says which ports echo-server uses")
  func refusedHint() async throws {
    let closed = try Socket.tcp(.ipv4)
    defer { closed.close() }
    try bindWithoutListening(closed)
    let result = try await client([], port: try closed.localAddress().port)
    #expect(result.termination == .exit(69), "\(result.stderr)")
    #expect(result.stderr.contains("is the server running on that port?"), "\(result.stderr)")
  }

  @Test("an echo client against a sink server: says to pass --mode sink")
  func sinkHint() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--mode", "sink"])
    defer { server.stop() }
    let result = try await client([], port: server.port)
    #expect(result.termination == .exit(74), "\(result.stderr)")
    #expect(result.stderr.contains("pass --mode sink"), "\(result.stderr)")
  }

  @Test("bench over TLS against a plaintext server: the same hint as pipe mode")
  func benchHint() async throws {
    let server = try await ServerProcess.start(.plaintext)
    defer { server.stop() }
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "bench", "latency", "--connections", "2", "--duration", "1", "--host", "127.0.0.1",
        "--port", "\(server.port)",
      ])
    #expect(result.termination != .exit(0))
    #expect(result.stderr.contains("is the server in plaintext mode?"), "\(result.stderr)")
  }

  @Test("--insecure says only that verification was skipped")
  func insecure() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let result = try await client(["--insecure"], port: server.port)

    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdoutText == "hello\n")
    #expect(result.stderr.contains("(not verified: --insecure)"), "\(result.stderr)")
    #expect(!result.stderr.contains("unable to get"), "\(result.stderr)")
  }

  @Test("--sess-out against a server that issues no ticket: exit 1 with the reason, no file")
  func sessionOutWithoutTicket() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--no-tickets"])
    defer { server.stop() }
    let scratch = try TemporaryDirectory("sess-out")
    defer { scratch.remove() }
    let file = scratch.file("s.pem")
    let result = try await client(["--sess-out", file.path], port: server.port)

    #expect(result.termination == .exit(1), "\(result.stderr)")
    #expect(result.stdoutText == "hello\n")
    #expect(result.stderr.contains("no session ticket"), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: file.path))
  }

  @Test("an unusable SSLKEYLOGFILE is a warning naming the variable; the echo goes on")
  func unusableKeyLogVariable() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let result = try await client(
      [], port: server.port, environment: ["SSLKEYLOGFILE": "/nonexistent-dir/keys.log"])

    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdoutText == "hello\n")
    #expect(
      result.stderr.contains("warning: SSLKEYLOGFILE='/nonexistent-dir/keys.log'"),
      "\(result.stderr)")
  }

  @Test(
    "a complete echo and then no close_notify: a warning, exit 0; the client's close waited for the echo",
    arguments: [TLSConfigurationVersion.tls12, .tls13])
  func completeEchoWithoutCloseNotify(_ version: TLSConfigurationVersion) async throws {
    let server = try ScriptedTLSServer(maximumVersion: version.value)
    let payload = String(repeating: "x", count: 40_000)
    async let outcome = server.serveOnce(expect: payload.utf8.count, echo: payload.utf8.count)
    let result = try await client([], port: server.port, input: payload)

    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == Data(payload.utf8))
    // Closed, or reset when our close_notify reached it unread: both after the whole echo.
    #expect(
      result.stderr.contains("warning: the server closed without close_notify")
        || result.stderr.contains("warning: the server reset the connection"), "\(result.stderr)")
    #expect(try await !outcome.clientClosedEarly, "close_notify was sent before the echo was back")
  }

  @Test("reverse mode: an unterminated last line comes back once the client ends its side")
  func reverseWithoutLastNewline() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--mode", "reverse"])
    defer { server.stop() }
    // The server holds "ghi" until our close_notify; waiting for it first would only end at
    // --reply-timeout, and the command's own time limit is far below that.
    let result = try await client(
      ["--mode", "reverse", "--reply-timeout", "3600"], port: server.port, input: "abc\ndefghi")

    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdoutText == "cba\nihgfed")
  }

  @Test("plaintext input that starts like a TLS alert is echoed, not taken for one")
  func alertLookingInput() async throws {
    let server = try await ServerProcess.start(.plaintext)
    defer { server.stop() }
    let input = "\u{15}\u{03}\u{03}\u{00}\u{02}\u{02}\u{32} and more"
    let result = try await client(["--plaintext"], port: server.port, input: input)

    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == Data(input.utf8))
  }

  @Test("part of the echo and then no close_notify: an error naming the counts, exit 74")
  func truncatedEchoWithoutCloseNotify() async throws {
    let server = try ScriptedTLSServer()
    async let outcome = server.serveOnce(expect: 6, echo: 3, watchMilliseconds: 0)
    let result = try await client(["--reply-timeout", "5"], port: server.port)
    _ = try await outcome

    #expect(result.termination == .exit(74), "\(result.stderr)")
    #expect(result.stdoutText == "hel")
    #expect(result.stderr.contains("6 bytes sent, 3 "), "\(result.stderr)")
  }
}

/// TLS versions as test arguments (the TLS module's enum is not CustomTestStringConvertible).
enum TLSConfigurationVersion: String, Sendable, CustomTestStringConvertible {
  case tls12 = "TLS 1.2"
  case tls13 = "TLS 1.3"

  var testDescription: String { rawValue }
}
