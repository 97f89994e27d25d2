import Foundation
import Testing

/// Several listeners in one server: every address named is served, on IPv4 and IPv6 alike,
/// and the listening line names each of them.
@Suite("listeners", .timeLimit(.minutes(1)))
struct ListenerTests {
  /// `127.0.0.1:41234, [::1]:41235` from the listening line, as (host, port) pairs.
  private func addresses(in line: String) throws -> [(host: String, port: UInt16)] {
    let list = try #require(line.firstMatch(of: /listening on (.*) \(/)).1
    return try list.split(separator: ", ").map { item in
      let match = try #require(item.firstMatch(of: /^\[?([^\]]*)\]?:(\d+)$/))
      return (String(match.1), try #require(UInt16(match.2)))
    }
  }

  private func expectEcho(
    _ mode: EchoMode, host: String, port: UInt16, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let context = mode == .tls ? try TLSClient.developmentContext() : nil
    let connection = try connectEcho(mode, host: host, port: port, context: context)
    let payload = Data("to \(host) \(port)\n".utf8)
    try connection.send(payload)
    #expect(
      try connection.receive(exactly: payload.count) == payload, sourceLocation: sourceLocation)
    try connection.close()
  }

  @Test(
    "--listen twice: an IPv4 and an IPv6 loopback listener, both served",
    arguments: EchoMode.allCases)
  func listenTwice(_ mode: EchoMode) async throws {
    let server = try await ServerProcess.start(mode, listen: ["127.0.0.1:0", "[::1]:0"])
    defer { server.stop() }
    let listed = try addresses(in: server.listeningLine)

    #expect(listed.map(\.host) == ["127.0.0.1", "::1"], "\(server.listeningLine)")
    for address in listed { try expectEcho(mode, host: address.host, port: address.port) }
  }

  @Test("--host twice: both served, none dropped")
  func hostTwice() async throws {
    let server = try await ServerProcess.start(
      .tls, listen: [], extraArguments: ["--host", "::1"])
    defer { server.stop() }
    let listed = try addresses(in: server.listeningLine)

    #expect(listed.map(\.host) == ["127.0.0.1", "::1"], "\(server.listeningLine)")
    for address in listed { try expectEcho(.tls, host: address.host, port: address.port) }
  }

  @Test("a name listens on each of its addresses: localhost:0")
  func name() async throws {
    let server = try await ServerProcess.start(.plaintext, listen: ["localhost:0"])
    defer { server.stop() }
    let listed = try addresses(in: server.listeningLine)

    #expect(listed.contains { $0.host == "127.0.0.1" }, "\(server.listeningLine)")
    // Every address of the name shares the port the kernel gave the first one.
    #expect(Set(listed.map(\.port)).count == 1, "\(server.listeningLine)")
    for address in listed { try expectEcho(.plaintext, host: address.host, port: address.port) }
  }

  @Test("an address another listener already has is a one-line error naming it")
  func overlap() async throws {
    let first = try await ServerProcess.start(.plaintext, listen: ["127.0.0.1:0"])
    defer { first.stop() }
    let taken = "127.0.0.1:\(first.port)"
    let result = try await runCommand(
      try Locations.executable("echo-server"),
      ["--plaintext", "--listen", "[::1]:0", "--listen", taken], timeoutSeconds: 20)

    #expect(result.termination == .exit(69), "stderr: \(result.stderr)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains(taken) && line.contains("Address already in use"), "\(line)")
  }
}
