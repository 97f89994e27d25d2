import Foundation
import Sockets
import TLS
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What an operator does to a running server: stop it gracefully (SIGTERM) and replace its
/// certificate (SIGHUP), without failing the clients it is serving.
@Suite("Signals to a serving server", .timeLimit(.minutes(1)))
struct ServerSignalTests {
  @Test("SIGTERM while 20 clients stream: no new connections, open ones finish, exit 0")
  func drainOnSIGTERM() async throws {
    // Every client must finish within the drain, while the rest of the suite loads the two
    // cores (a run found 10 seconds too short for 20 clients served one after the other in the
    // suite's first, busiest half minute); a longer drain costs nothing when they do.
    let drainSeconds = 40
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--drain-timeout", String(drainSeconds), "--log-format", "json"])
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())
    let chunks = try (0..<20).map { index in
      try (0..<4).map { try Payload.distinct(index: index * 4 + $0, count: 16 * 1024) }
    }

    // Each client has had its first chunk echoed and has two more in flight when the signal
    // comes (the fourth goes after it); one more client has connected and never started.
    let (clients, idle) = try await runBlocking {
      let clients = try chunks.map { chunks in
        let client = try TLSClient(port: port, context: context)
        try client.send(chunks[0])
        guard try client.receive(exactly: chunks[0].count) == chunks[0] else {
          throw TestFailure("wrong echo before the signal")
        }
        return client
      }
      for (client, chunks) in zip(clients, chunks) {
        try client.send(chunks[1])
        try client.send(chunks[2])
      }
      return (Handoff(clients), Handoff(try connectTCP(port: port)))
    }
    defer {
      for client in clients.value { client.stream.socket.close() }
      idle.value.close()
    }

    server.child.send(SIGTERM)
    let refused = try await Deadline(seconds: 20).poll { try connectionIsRefused(port: port) }
    #expect(refused, "new connections were still accepted after SIGTERM")

    let (replies, idleEnd) = try await Self.withServerLog(server) {
      try await runBlocking {
        // A connection that never started has nothing to finish: it is closed at once.
        let idleEnd = try idle.value.awaitEnd(withinMilliseconds: Int32(drainSeconds * 1000))?.end
        let replies = try zip(clients.value, chunks).enumerated().map { index, pair in
          let (client, chunks) = pair
          do {
            // Sent before the signal, then after it: open connections go on being served.
            var reply = try client.receive(exactly: chunks[1].count + chunks[2].count)
            try client.send(chunks[3])
            reply += try client.receive(exactly: chunks[3].count)
            return (reply, try client.closeGracefully())
          } catch {
            throw TestFailure("client \(index): \(error)")
          }
        }
        return (replies, idleEnd)
      }
    }
    #expect(idleEnd != nil, "a client that never started kept its connection during the drain")
    for (index, ((reply, answered), chunks)) in zip(replies, chunks).enumerated() {
      expectSameBytes(reply, chunks[1...].reduce(Data(), +), "client \(index) after SIGTERM")
      #expect(answered, "client \(index): no close_notify in answer to ours")
    }

    let termination = try await server.waitForExit(until: Deadline(seconds: drainSeconds + 10))
    #expect(termination == .exit(0), "stderr: \(server.stderrText)")
    let stopped = try server.jsonLog().first { $0.message == "stopped" }
    #expect(stopped != nil, "no stopped line: \(server.stderrText)")
    if let stopped {
      #expect(stopped.integer("active") == 0, "\(stopped.line)")
      #expect(stopped.integer("handshakes_ok") == 20, "\(stopped.line)")
      #expect(stopped.integer("closed_client_closed") == 20, "\(stopped.line)")
      let echoed = 20 * 4 * 16 * 1024
      #expect(stopped.integer("bytes_in") == echoed, "\(stopped.line)")
      #expect(stopped.integer("bytes_out") == echoed, "\(stopped.line)")
    }
    Diagnostics.expectNoCrash(server.stderrText)
  }

  @Test("SIGHUP reloads the certificate for new clients; a bad file keeps the one in service")
  func reloadOnSIGHUP() async throws {
    let scratch = try TemporaryDirectory("reload")
    defer { scratch.remove() }
    try Locations.requireDevelopmentCertificates()
    let (certificate, key) = (scratch.file("served.crt"), scratch.file("served.key"))
    try FileManager.default.copyItem(at: Locations.serverCertificate, to: certificate)
    try FileManager.default.copyItem(at: Locations.serverKey, to: key)
    // Signed by the development CA, so the same client context verifies both; told apart by CN.
    let developmentCA = Identity(
      certificate: Locations.caCertificate,
      key: Locations.certificates.appendingPathComponent("ca.key"))
    let reloaded = try await CertificateFactory(directory: scratch).makeServerCertificate(
      "reloaded", signedBy: developmentCA, names: ["reloaded.test", "localhost", "127.0.0.1"])

    let server = try await ServerProcess.start(.tls, certificate: certificate, key: key)
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())

    let first = try await runBlocking {
      let client = try TLSClient(port: port, context: context)
      try Self.expectEcho(on: client, "before the reload")
      return Handoff(client)
    }
    defer { first.value.stream.socket.close() }
    #expect(first.value.stream.peerCertificateSubject?.contains("CN=localhost") == true)

    try Data(contentsOf: reloaded.certificate).write(to: certificate, options: .atomic)
    try Data(contentsOf: reloaded.key).write(to: key, options: .atomic)
    server.child.send(SIGHUP)
    let didReload = try await server.waitForLogLine(
      containing: "certificate reloaded", until: Deadline(seconds: 20))
    #expect(didReload, "stderr: \(server.stderrText)")

    let afterReload = try await runBlocking {
      try Self.newClientSubject(port: port, context: context)
    }
    #expect(afterReload.contains("CN=reloaded.test"), "new client saw: \(afterReload)")
    try await runBlocking { try Self.expectEcho(on: first.value, "after the reload") }

    try Data("not a certificate\n".utf8).write(to: certificate, options: .atomic)
    server.child.send(SIGHUP)
    let didFail = try await server.waitForLogLine(
      containing: "certificate reload failed", until: Deadline(seconds: 20))
    #expect(didFail, "stderr: \(server.stderrText)")
    #expect(server.isRunning)

    let afterFailure = try await runBlocking {
      try Self.newClientSubject(port: port, context: context)
    }
    #expect(afterFailure.contains("CN=reloaded.test"), "new client saw: \(afterFailure)")
    try await runBlocking { try Self.expectEcho(on: first.value, "after the failed reload") }
    Diagnostics.expectNoCrash(server.stderrText)
  }

  /// The subject of the certificate a new client verifies (as `localhost`), after an echo.
  private static func newClientSubject(port: UInt16, context: TLSContext) throws -> String {
    let client = try TLSClient(port: port, context: context)
    try expectEcho(on: client, "new client")
    let subject = client.stream.peerCertificateSubject ?? "no certificate"
    _ = try client.closeGracefully()
    return subject
  }

  private static func expectEcho(on client: TLSClient, _ when: String) throws {
    let payload = Data("echo \(when)\n".utf8)
    try client.send(payload)
    guard try client.receive(exactly: payload.count) == payload else {
      throw TestFailure("wrong echo \(when)")
    }
  }

  /// `body`'s error, with the server's log (its close lines say why: a drain deadline, an
  /// error).
  private static func withServerLog<T>(
    _ server: ServerProcess, _ body: () async throws -> T
  ) async throws -> T {
    do { return try await body() } catch {
      throw TestFailure("\(error); server: \(server.stderrText)")
    }
  }
}
