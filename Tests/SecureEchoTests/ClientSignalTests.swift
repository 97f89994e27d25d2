import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// How echo-client ends when it is told to.
@Suite("echo-client and signals", .timeLimit(.minutes(1)))
struct ClientSignalTests {
  @Test("started with SIGTERM blocked, as a harness's thread may leave it, it still ends on one")
  func inheritedMaskIsCleared() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    // Python blocks SIGTERM and SIGINT, then becomes echo-client (same PID, same mask): what
    // a process started from a Swift concurrency thread, or many daemons' workers, gets.
    let script = """
      import os, signal, sys
      signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
      os.execv(sys.argv[1], sys.argv[1:])
      """
    let input = Pipe()  // held open: the client waits for more to send
    let client = try ChildProcess(
      try Locations.tool("python3"),
      [
        "-c", script, try Locations.executable("echo-client").path, "--host", "127.0.0.1",
        "--port", "\(server.port)", "--cafile", Locations.caCertificate.path,
      ], stdin: input)
    defer {
      client.stop()
      try? input.fileHandleForWriting.close()
    }
    // Connected, so the exec happened and the mask was in force when it did.
    let connected = try await server.settledStatistics { $0.integer("handshakes_ok") == 1 }
    try #require(connected.integer("handshakes_ok") == 1, "\(connected.line)")
    client.send(SIGTERM)
    let termination = try await client.waitForExit(until: Deadline(seconds: 10))
    #expect(termination == Termination(status: SIGTERM, bySignal: true))
  }
}
