import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What a supervisor (systemd, a shell script) relies on: one announcement line, and a clean
/// exit on the usual stop signals.
@Suite("echo-server lifecycle", .timeLimit(.minutes(1)))
struct ServerLifecycleTests {
  @Test(
    "announces itself in one line and exits 0 on a stop signal",
    arguments: [(EchoMode.tls, SIGTERM), (.plaintext, SIGINT)])
  func stopSignal(mode: EchoMode, signal: Int32) async throws {
    let server = try await ServerProcess.start(mode, threads: 3)
    defer { server.stop() }
    let expected =
      /echo-server: listening on 127\.0\.0\.1:(\d+) \((TLS|plaintext), echo, 3 threads\)/
    let match = try #require(
      server.listeningLine.wholeMatch(of: expected), "\(server.listeningLine)")
    #expect(match.2 == mode.label)

    // A connected client must not keep the server from stopping.
    let client = try connectTCP(port: server.port)
    defer { client.close() }

    server.child.send(signal)
    let termination = try await server.waitForExit(until: Deadline(seconds: 20))
    #expect(termination == .exit(0), "stderr: \(server.stderrText)")
    let (_, laterStdout) = server.stop()
    #expect(laterStdout.isEmpty, "more than one line on stdout: \(laterStdout)")
    Diagnostics.expectNoCrash(server.stderrText)
  }
}
