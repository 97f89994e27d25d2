import Foundation
import Sockets
import TLS
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Several instances behind one port, and behind a real HAProxy sending PROXY v2 with its
/// health checks on.
@Suite("behind a load balancer", .timeLimit(.minutes(3)))
struct BalancerTests {
  @Test("two processes with --reuse-port share one port, and both get connections")
  func reusePort() async throws {
    let first = try await ServerProcess.start(
      .plaintext, listen: ["127.0.0.1:0"],
      extraArguments: ["--reuse-port", "--instance", "first", "--log-format", "json"])
    defer { _ = first.stop() }
    let port = first.port
    let second = try await ServerProcess.start(
      .plaintext, listen: ["127.0.0.1:\(port)"],
      extraArguments: ["--reuse-port", "--instance", "second", "--log-format", "json"])
    defer { _ = second.stop() }
    // Without the option, the port is taken.
    let refused = try await runCommand(
      try Locations.executable("echo-server"), ["--plaintext", "--listen", "127.0.0.1:\(port)"],
      timeoutSeconds: 20)
    #expect(refused.termination != .exit(0))
    #expect(refused.stderr.contains("Address already in use"), "\(refused.stderr)")

    // The kernel spreads connections by a hash of the client's port: with 40, both get some
    // unless the hash is broken (a chance of 2 in 2^40).
    for index in 0..<40 {
      let socket = try connectTCP(port: port)
      let line = Data("connection \(index)\n".utf8)
      try socket.send(line)
      #expect(try socket.receive(exactly: line.count) == line)
      socket.close()
    }
    var counts = (0, 0)
    _ = try await Deadline(seconds: 20).poll {
      counts = (
        try first.jsonLog().filter { $0.message == "connection closed" }.count,
        try second.jsonLog().filter { $0.message == "connection closed" }.count
      )
      return counts.0 + counts.1 == 40
    }
    #expect(counts.0 + counts.1 == 40)
    #expect(counts.0 > 0 && counts.1 > 0, "first \(counts.0), second \(counts.1)")
    #expect(try first.jsonLog().allSatisfy { $0.string("instance") == "first" })
    #expect(try second.jsonLog().allSatisfy { $0.string("instance") == "second" })
  }
}
