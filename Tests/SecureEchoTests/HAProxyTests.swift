import Foundation
import Sockets
import TLS
import Testing

/// A real HAProxy on loopback, configured by the shipped `deploy/haproxy.cfg` (addresses
/// swapped for the test's), in front of two echo-server instances with `send-proxy-v2 check`.
@Suite("HAProxy in front", .timeLimit(.minutes(3)))
struct HAProxyTests {
  @Test(
    "TLS passes through HAProxy, instances alternate, each logs the real client; checks are quiet",
    .enabled(if: Locations.canRun(with: "haproxy")))
  func throughHAProxy() async throws {
    let arguments = [
      "--proxy-protocol", "v2", "--proxy-from", "127.0.0.1/32", "--log-format", "json",
      "--log-level", "debug",
    ]
    let e1 = try await ServerProcess.start(.tls, extraArguments: arguments + ["--instance", "e1"])
    defer { _ = e1.stop() }
    let e2 = try await ServerProcess.start(.tls, extraArguments: arguments + ["--instance", "e2"])
    defer { _ = e2.stop() }

    // HAProxy listens on a socket the test made on a port the kernel chose, inherited as its
    // stdin (`bind fd@0`), so the test knows the port without guessing a free one.
    guard let loopback = SocketAddress(numericHost: "127.0.0.1", port: 0) else { return }
    let frontend = try Socket.listening(on: loopback, backlog: 64)
    defer { frontend.close() }
    let port = try frontend.localAddress().port
    let scratch = try TemporaryDirectory("haproxy")
    defer { scratch.remove() }
    let configuration = try testConfiguration(e1: e1.port, e2: e2.port)
    let configurationFile = scratch.file("haproxy.cfg")
    try configuration.write(to: configurationFile, atomically: true, encoding: .utf8)
    let log = scratch.file("haproxy.log")
    try Data().write(to: log)
    let logHandle = try FileHandle(forWritingTo: log)
    defer { try? logHandle.close() }
    let haproxy = try ChildProcess(
      try Locations.tool("haproxy"), ["-f", configurationFile.path, "-db"],
      stdin: FileHandle(fileDescriptor: frontend.descriptor, closeOnDealloc: false),
      stdout: logHandle, stderr: logHandle)
    defer { haproxy.stop() }

    // Ready once each instance has seen a health check.
    let checked = try await Deadline(seconds: 30).poll {
      try [e1, e2].allSatisfy { server in
        try server.jsonLog().contains { $0.string("reason") == "health_check" }
      }
    }
    let haproxyLog = { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    #expect(checked, "no health checks reached both instances; HAProxy said: \(haproxyLog())")

    // Two with s_client (verifying the backend's certificate through HAProxy), two with our
    // client, whose own address the test knows.
    for _ in 0..<2 {
      let result = try await runSClient(
        port: port, verifyWithDevelopmentCA + ["-servername", "localhost"])
      #expect(result.echoed, "\(result.output)")
      #expect(result.value(after: "Verify return code:") == "0 (ok)")
    }
    let context = try TLSClient.developmentContext()
    var clientAddresses: [String] = []
    for index in 0..<2 {
      let socket = try connectTCP(port: port)
      clientAddresses.append(try socket.localAddress().description)
      let client = try TLSClient(over: socket, context: context)
      let payload = Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
      try client.send(payload)
      #expect(try client.receive(exactly: payload.count) == payload)
      #expect(try client.closeGracefully())
    }

    let served = { (server: ServerProcess) in
      try server.jsonLog().filter {
        $0.message == "connection closed" && $0.string("reason") != "health_check"
      }
    }
    _ = try await Deadline(seconds: 20).poll { try served(e1).count + served(e2).count == 4 }
    let (first, second) = (try served(e1), try served(e2))
    // Round robin: two each, and the last two (one after the other) on different instances.
    #expect(first.count == 2 && second.count == 2, "e1 \(first.count), e2 \(second.count)")
    let owner = { (address: String) in
      first.contains { $0.string("peer") == address }
        ? "e1" : second.contains { $0.string("peer") == address } ? "e2" : "none"
    }
    #expect(Set(clientAddresses.map(owner)) == ["e1", "e2"], "\(clientAddresses)")
    for record in first + second {
      #expect(record.string("reason") == "client_closed")
      #expect(record.string("proxy") == "v2")
      // The client's own address and port, not HAProxy's connection to the backend.
      let peer = record.string("peer") ?? ""
      #expect(peer.hasPrefix("127.0.0.1:") && peer != record.string("via"))
    }

    for server in [e1, e2] {
      let statistics = try await server.requestStatistics()
      #expect((statistics.integer("closed_health_check") ?? 0) > 0)
      #expect((statistics.integer("proxy_local") ?? 0) > 0)
      #expect(statistics.integer("handshakes_failed") == 0)
      let complaints = try server.jsonLog().filter {
        ["warning", "error"].contains($0.string("level"))
      }
      #expect(complaints.isEmpty, "\(complaints.map(\.line))")
    }
  }

  /// `deploy/haproxy.cfg` with the test's addresses and a short check interval. Each swap must
  /// find its text, so that the test follows the shipped file rather than drift from it.
  private func testConfiguration(e1: UInt16, e2: UInt16) throws -> String {
    let shipped = Locations.repositoryRoot.appendingPathComponent("deploy/haproxy.cfg")
    var text = try String(contentsOf: shipped, encoding: .utf8)
    let swaps = [
      ("bind 127.0.0.1:8443", "bind fd@0"), ("127.0.0.1:4434", "127.0.0.1:\(e1)"),
      ("127.0.0.1:4435", "127.0.0.1:\(e2)"), ("inter 2s", "inter 200ms"),
    ]
    for (from, to) in swaps {
      guard text.contains(from) else { throw TestFailure("deploy/haproxy.cfg has no '\(from)'") }
      text = text.replacingOccurrences(of: from, with: to)
    }
    return text
  }
}
