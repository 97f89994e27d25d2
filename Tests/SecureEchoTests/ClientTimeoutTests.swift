import Foundation
import Sockets
import Testing

/// `echo-client` and `echo-client bench` against servers that do not answer: bounded in time,
/// one clear line, a non-zero exit.
@Suite("Client timeouts and failed runs", .timeLimit(.minutes(1)))
struct ClientTimeoutTests {
  /// A listener nobody accepts on: the kernel completes TCP handshakes into its backlog, and
  /// nothing ever answers a ClientHello.
  private static func silentServer(backlog: Int32 = 16) throws -> (Socket, UInt16) {
    let listener = try Socket.listening(
      on: SocketAddress(numericHost: "127.0.0.1", port: 0)!, backlog: backlog)
    return (listener, try listener.localAddress().port)
  }

  private static func client(_ arguments: [String], port: UInt16) async throws -> CommandResult {
    try await runCommand(
      try Locations.executable("echo-client"),
      arguments + ["--host", "127.0.0.1", "--port", "\(port)"], input: .bytes(Data("x".utf8)),
      timeoutSeconds: 20)
  }

  @Test("echo-client gives up on a handshake nobody answers after --handshake-timeout")
  func handshakeTimeout() async throws {
    let (listener, port) = try Self.silentServer()
    defer { listener.close() }
    // Bounded by runCommand's own deadline: a client that hangs fails the test there.
    let result = try await Self.client(["--handshake-timeout", "1"], port: port)
    #expect(result.termination == .exit(69), "\(result.termination) \(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
    #expect(line.contains("no answer within 1 s (--handshake-timeout)"), "\(line)")
  }

  @Test("echo-client gives up on a connection nobody accepts after --connect-timeout")
  func connectTimeout() async throws {
    // A backlog of 0 holds one connection; the next SYNs are dropped, so connect hangs.
    let (listener, port) = try Self.silentServer(backlog: 0)
    defer { listener.close() }
    let filler = try Socket.connect(
      to: [SocketAddress(numericHost: "127.0.0.1", port: port)!], timeoutMilliseconds: 5000)
    defer { filler.close() }
    let result = try await Self.client(["--plaintext", "--connect-timeout", "1"], port: port)
    #expect(result.termination == .exit(69), "\(result.termination) \(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
    #expect(line.contains("no answer within 1 s") && line.contains("--connect-timeout"), "\(line)")
  }

  private static func bench(_ arguments: [String], port: UInt16) async throws -> CommandResult {
    try await runCommand(
      try Locations.executable("echo-client"),
      ["bench"] + arguments + ["--host", "127.0.0.1", "--port", "\(port)"], timeoutSeconds: 20)
  }

  @Test("bench handshakes against a silent server: no handshake completed, a non-zero exit")
  func benchHandshakesSilent() async throws {
    let (listener, port) = try Self.silentServer()
    defer { listener.close() }
    let result = try await Self.bench(
      ["handshakes", "--connections", "4", "--duration", "1"], port: port)
    #expect(result.termination == .exit(69), "\(result.termination) \(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
    #expect(line.contains("no handshake completed in 1.0 s"), "\(line)")
    #expect(line.contains("4 connections were still waiting"), "\(line)")
  }

  @Test("bench latency against a silent server ends at the handshake timeout, one line")
  func benchLatencySilent() async throws {
    let (listener, port) = try Self.silentServer()
    defer { listener.close() }
    let result = try await Self.bench(
      ["latency", "--connections", "5", "--duration", "1", "--handshake-timeout", "1"],
      port: port)
    #expect(result.termination == .exit(69), "\(result.termination) \(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
    #expect(line.contains("TLS handshake: no answer within 1 s"), "\(line)")
    #expect(line.contains("(and 4 more errors)"), "\(line)")
    #expect(result.stdout.isEmpty, "a table for a run that measured nothing: \(result.stdoutText)")
  }

  @Test("bench latency against a server that accepts and never echoes: no round trip, non-zero")
  func benchLatencyNoEcho() async throws {
    let (listener, port) = try Self.silentServer()
    defer { listener.close() }
    let result = try await Self.bench(
      ["latency", "--plaintext", "--connections", "3", "--duration", "1"], port: port)
    #expect(result.termination == .exit(69), "\(result.termination) \(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
    #expect(line.contains("no round trip completed in 1.0 s"), "\(line)")
  }

  @Test("bench against a closed port: the refusal in one line, not one per connection; exit 69")
  func benchRefused() async throws {
    let (listener, port) = try Self.silentServer()
    listener.close()
    let result = try await Self.bench(
      [
        "handshakes", "--connections", "20", "--threads", "4", "--duration", "60", "--json",
      ], port: port)
    #expect(result.termination == .exit(69), "\(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-client")
    #expect(line.contains("Connection refused"), "\(line)")
    let json = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
    #expect((json?["errors"] as? Int ?? 0) <= 20, "\(result.stdoutText)")
  }
}
