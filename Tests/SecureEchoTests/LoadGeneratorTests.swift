import Foundation
import Sockets
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `echo-client bench` runs briefly against the real server in every mode (small counts, no
/// timing assertions: only that it measured something and every byte verified), and reports a
/// corrupted echo as an error rather than as throughput.
@Suite("Load generator", .timeLimit(.minutes(1)))
struct LoadGeneratorTests {
  private static func bench(
    _ arguments: [String], port: UInt16, plaintext: Bool = false, seconds: Int = 1
  ) async throws -> (result: CommandResult, json: [String: Any]) {
    var command =
      ["bench"] + arguments + [
        "--host", "127.0.0.1", "--port", "\(port)", "--duration", "\(seconds)", "--json",
      ]
    if plaintext { command.append("--plaintext") }
    let result = try await runCommand(try Locations.executable("echo-client"), command)
    let object = try? JSONSerialization.jsonObject(with: result.stdout)
    let json = try #require(
      object as? [String: Any], "no JSON: \(result.stdoutText) \(result.stderr)")
    return (result, json)
  }

  @Test(
    "every mode measures something and verifies every byte",
    arguments: [
      (["throughput", "--connections", "4", "--size", "4096"], "bytes"),
      (["latency", "--connections", "4", "--size", "64", "--threads", "2"], "round_trips"),
      (["handshakes", "--connections", "2"], "handshakes"),
      (["hold", "--connections", "20"], "round_trips"),
    ])
  func modes(arguments: [String], measured: String) async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let (result, json) = try await Self.bench(arguments, port: server.port)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(json["errors"] as? Int == 0, "\(json)")
    #expect((json[measured] as? Int ?? 0) > 0, "nothing measured: \(json)")
    if arguments[0] == "hold" { #expect(json["held"] as? Int == 20, "\(json)") }
    #expect(json["target"] as? String == "127.0.0.1:\(server.port)", "\(json)")
    #expect(json["transport"] as? String == "tls" && json["service"] as? String == "echo")
    #expect((json["tls_version"] as? String)?.hasPrefix("TLSv1.") == true, "\(json)")
    #expect((json["cipher"] as? String)?.isEmpty == false, "\(json)")
    #expect((json["opened"] as? Int ?? 0) >= (arguments[0] == "handshakes" ? 1 : 4), "\(json)")
    #expect((json["errors_by_kind"] as? [String: Any])?.isEmpty == true, "\(json)")
  }

  @Test("plaintext handshakes time the TCP connect; errors are counted by kind")
  func plaintextHandshakesAndErrorKinds() async throws {
    let server = try await ServerProcess.start(.plaintext)
    let (result, json) = try await Self.bench(
      ["handshakes", "--connections", "2"], port: server.port, plaintext: true)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let latency = try #require(json["latency_us"] as? [String: Int], "\(json)")
    #expect((latency["max"] ?? 0) > 0 && (latency["p50"] ?? 0) > 0, "\(json)")
    #expect(json["tls_version"] is NSNull && json["transport"] as? String == "plaintext")
    server.stop()

    // A port this test holds without listening: refused, and no other test can be given it.
    let closed = try Socket.tcp(.ipv4)
    defer { closed.close() }
    try bindWithoutListening(closed)
    let (refused, failed) = try await Self.bench(
      ["latency", "--connections", "2"], port: try closed.localAddress().port, plaintext: true)
    #expect(refused.termination != .exit(0))
    #expect((failed["errors_by_kind"] as? [String: Int])?["refused"] ?? 0 >= 1, "\(failed)")
  }

  @Test("handshakes --resume resumes with tickets")
  func resumedHandshakes() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let (result, json) = try await Self.bench(
      ["handshakes", "--connections", "2", "--resume"], port: server.port)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let handshakes = json["handshakes"] as? Int ?? 0
    let resumed = json["resumed"] as? Int ?? 0
    #expect(resumed > 0 && resumed <= handshakes, "\(json)")
  }

  @Test("plaintext throughput, and the server echoed exactly what the bench counted")
  func plaintextThroughput() async throws {
    let server = try await ServerProcess.start(
      .plaintext, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    let (result, json) = try await Self.bench(
      ["throughput", "--connections", "3"], port: server.port, plaintext: true)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect((json["bytes"] as? Int ?? 0) > 0)
    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("bytes_in") == statistics.integer("bytes_out"), "\(statistics.line)")
  }

  /// Sanitizers keep freed memory in quarantine on purpose, so RSS says nothing under them.
  static let underSanitizer = Sanitizer.isActive

  @Test(
    "closed connections give their memory back at once, not when a timer comes due",
    .enabled(if: !underSanitizer, "RSS is meaningless under a sanitizer"))
  func memoryAfterChurn() async throws {
    let server = try await ServerProcess.start(.tls, threads: 1)
    defer { server.stop() }
    // The first run warms the heap up; the second must not add to it: with default timeouts
    // a closed connection's timers are still pending for minutes.
    let (first, _) = try await Self.bench(["handshakes", "--connections", "8"], port: server.port)
    #expect(first.termination == .exit(0), "\(first.stderr)")
    let warm = try server.residentMemoryBytes()
    // Runs until 500 connections have come and gone, however long the machine takes.
    var handshakes = 0
    for _ in 0..<30 where handshakes < 500 {
      let (run, json) = try await Self.bench(
        ["handshakes", "--connections", "8"], port: server.port)
      #expect(run.termination == .exit(0), "\(run.stderr)")
      handshakes += json["handshakes"] as? Int ?? 0
    }
    let growth = try server.residentMemoryBytes() - warm
    #expect(handshakes >= 500, "only \(handshakes) handshakes")
    // At ~30 KiB per connection kept, even a slow run of 500 handshakes would add 15 MiB.
    #expect(growth < 8 << 20, "RSS grew by \(growth) bytes over \(handshakes) closed connections")
  }

  @Test("a server that flips one byte is caught: an error, a non-zero exit, no throughput for it")
  func corruptedEcho() async throws {
    let corruptAt = 5000
    let listener = try Socket.listening(on: SocketAddress(numericHost: "127.0.0.1", port: 0)!)
    let port = try listener.localAddress().port
    let server = Handoff(listener)
    let serving = Task.detached {
      try await runBlocking { try Self.serveFlippingOneByte(on: server.value, at: corruptAt) }
    }
    defer { serving.cancel() }

    // Ten seconds: the flipping server is a thread of this busy test process, which a loaded
    // machine (the whole suite at once, on two cores) may not run for seconds, and a run that
    // ends before it echoes anything proves nothing.
    let (result, json) = try await Self.bench(
      ["throughput", "--connections", "1", "--size", "1024"], port: port, plaintext: true,
      seconds: 10)
    #expect(result.termination != .exit(0))
    #expect(
      result.stderr.contains("echo mismatch on connection 0 at byte \(corruptAt)"),
      "\(result.stderr)")
    #expect((json["errors"] as? Int ?? 0) >= 1, "\(json)")
    #expect((json["bytes"] as? Int ?? Int.max) <= corruptAt, "counted the corrupted echo: \(json)")
    listener.close()
  }

  /// Echoes one connection, with the byte at stream offset `position` changed.
  private static func serveFlippingOneByte(on listener: Socket, at position: Int) throws {
    try listener.setNonBlocking(false)
    try listener.waitUntil(writable: false, timeoutMilliseconds: 20_000)
    guard case .processed(let (client, _)) = try Socket.accept(listener: listener.descriptor) else {
      throw TestFailure("no connection to the corrupting server")
    }
    try client.setNonBlocking(false)
    var offset = 0
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
      try client.waitUntil(writable: false, timeoutMilliseconds: 10_000)
      let read = try buffer.withUnsafeMutableBytes { try client.read(into: $0) }
      guard case .processed(let count) = read, count > 0 else { return }
      if (offset..<(offset + count)).contains(position) { buffer[position - offset] ^= 0x01 }
      offset += count
      try buffer.withUnsafeBytes {
        try client.writeAll(UnsafeRawBufferPointer(rebasing: $0[..<count]))
      }
    }
  }
}
