import Foundation
import Sockets
import StreamServices
import TLS
import Testing

/// `--mode`: each service, as users drive it, with `openssl s_client`, `echo-client` and
/// `nc`. (`record` is in ConformanceTests: it needs a view of TLS records.)
@Suite("Service modes", .timeLimit(.minutes(1)))
struct ServiceModeTests {
  static let ncAvailable = Locations.canRun(with: "nc")

  private static func start(_ transport: EchoMode, _ mode: String, _ more: [String] = [])
    async throws -> ServerProcess
  {
    let server = try await ServerProcess.start(
      transport, extraArguments: ["--mode", mode, "--log-format", "json"] + more)
    #expect(server.listeningLine.contains(", \(mode), "), "\(server.listeningLine)")
    return server
  }

  /// `nc -N`: sends `input`, ends its side, prints what comes back until the server closes.
  private static func nc(port: UInt16, _ input: Data) async throws -> CommandResult {
    let result = try await runCommand(
      try Locations.tool("nc"), ["-N", "127.0.0.1", "\(port)"], input: .bytes(input))
    #expect(result.termination == .exit(0), "nc: \(result.stderr)")
    return result
  }

  private static func echoClient(
    port: UInt16, mode: String, _ input: Data, plaintext: Bool = false
  ) async throws -> CommandResult {
    var arguments = ["--host", "127.0.0.1", "--port", "\(port)", "--mode", mode]
    if plaintext { arguments.append("--plaintext") }
    return try await runCommand(
      try Locations.executable("echo-client"), arguments, input: .bytes(input))
  }

  /// The server's close line for the one connection of the test.
  private static func closeRecord(_ server: ServerProcess) async throws -> LogRecord {
    let record = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    return try #require(record, "no close line: \(server.stderrText)")
  }

  @Test("reverse: s_client gets each line back reversed")
  func reverseTLS() async throws {
    let server = try await Self.start(.tls, "reverse")
    defer { server.stop() }
    let result = try await runSClient(
      port: server.port, verifyWithDevelopmentCA, send: "héllo, world", expect: "dlrow ,olléh")
    #expect(result.echoed, "\(result.output)")
  }

  @Test("record: s_client's line (one record) comes back")
  func recordTLS() async throws {
    let server = try await Self.start(.tls, "record")
    defer { server.stop() }
    let result = try await runSClient(port: server.port, verifyWithDevelopmentCA)
    #expect(result.echoed, "\(result.output)")
    #expect(try await Self.closeRecord(server).string("mode") == "record")
  }

  @Test("chargen: s_client shows the RFC 864 lines")
  func chargenSClient() async throws {
    let server = try await Self.start(.tls, "chargen")
    defer { server.stop() }
    let stdin = Pipe()
    let output = Pipe()
    // -quiet: only the data on stdout. The stream never ends, so read a few lines, then stop.
    let client = try ChildProcess(
      try Locations.openssl(),
      ["s_client", "-connect", "127.0.0.1:\(server.port)", "-quiet"] + verifyWithDevelopmentCA,
      stdin: stdin, stdout: output)
    defer { client.stop(graceSeconds: 1) }
    var reader = PipeReader(output)
    _ = try await reader.read(until: Deadline(seconds: 20)) { $0.utf8.count >= 20 * 74 }
    // By bytes: "\r\n" is one Character in Swift, so a String would not split at "\n".
    let lines = reader.text.utf8.split(separator: 10).prefix(20).map { Array($0) }
    let expected = (0..<20).map { index in
      Array(ChargenPattern.bytes[(index * 74)..<(index * 74 + 73)])
    }
    #expect(lines == expected, "the first lines differ from RFC 864's")
  }

  @Test(
    "reverse in plaintext with nc, lines and the last unterminated one", .enabled(if: ncAvailable))
  func reversePlaintext() async throws {
    let server = try await Self.start(.plaintext, "reverse")
    defer { server.stop() }
    let result = try await Self.nc(port: server.port, Data("abc\r\nhello\nend".utf8))
    #expect(result.stdoutText == "cba\r\nolleh\ndne")
    #expect(try await Self.closeRecord(server).string("mode") == "reverse")
  }

  @Test("discard: nothing comes back; the bytes are counted", arguments: EchoMode.allCases)
  func discard(transport: EchoMode) async throws {
    let server = try await Self.start(transport, "discard")
    defer { server.stop() }
    let input = Data(repeating: 0x41, count: 100_000)
    let result: CommandResult
    if transport == .plaintext && Self.ncAvailable {
      result = try await Self.nc(port: server.port, input)
    } else {
      result = try await Self.echoClient(
        port: server.port, mode: "discard", input, plaintext: transport == .plaintext)
      #expect(result.termination == .exit(0), "\(result.stderr)")
    }
    #expect(result.stdout.isEmpty)
    let record = try await Self.closeRecord(server)
    #expect(record.integer("bytes_in") == 100_000, "\(record.line)")
    #expect(record.integer("bytes_out") == 0, "\(record.line)")
    #expect(record.string("mode") == "discard" && record.string("reason") == "client_closed")
  }

  @Test(
    "chargen: the RFC 864 pattern, line after line, until the client closes",
    arguments: EchoMode.allCases)
  func chargen(transport: EchoMode) async throws {
    let server = try await Self.start(transport, "chargen")
    defer { server.stop() }
    let port = server.port
    let context = transport == .tls ? try TLSClient.developmentContext() : nil
    let count = 3 * ChargenPattern.period + 123
    let (received, answered) = try await runBlocking {
      let connection = try connectStream(transport, port: port, context: context)
      defer { connection.close() }
      var received = Data()
      var buffer = [UInt8](repeating: 0, count: 16 * 1024)
      while received.count < count {
        let n = try buffer.withUnsafeMutableBytes { try connection.receive(into: $0) }
        guard n > 0 else { throw TestFailure("the server closed after \(received.count) bytes") }
        received.append(contentsOf: buffer[0..<n])
      }
      // End our side while the server is mid-write (its socket is full), and read on to its
      // end: it must finish the record it started, then close cleanly.
      _ = try connection.closeOutput()
      while try buffer.withUnsafeMutableBytes({ try connection.receive(into: $0) }) > 0 {}
      return (received.prefix(count), true)
    }
    let expected = (0..<count).map { ChargenPattern.bytes[$0 % ChargenPattern.period] }
    expectSameBytes(Data(received), Data(expected), "chargen")
    #expect(answered)
    let record = try await Self.closeRecord(server)
    #expect(record.string("mode") == "chargen", "\(record.line)")
    #expect(record.string("reason") == "client_closed", "\(record.line)")
  }

  @Test(
    "source --bytes: exactly that many pattern bytes, then a clean close",
    arguments: EchoMode.allCases)
  func source(transport: EchoMode) async throws {
    let server = try await Self.start(transport, "source", ["--bytes", "200000"])
    defer { server.stop() }
    let result: CommandResult
    if transport == .plaintext && Self.ncAvailable {
      result = try await Self.nc(port: server.port, Data())
    } else {
      result = try await Self.echoClient(
        port: server.port, mode: "source", Data(), plaintext: transport == .plaintext)
      #expect(result.termination == .exit(0), "\(result.stderr)")
    }
    let expected = (0..<200_000).map { SourcePattern.bytes[$0 % SourcePattern.period] }
    expectSameBytes(result.stdout, Data(expected), "source")
    let record = try await Self.closeRecord(server)
    #expect(record.string("reason") == "completed", "\(record.line)")
    #expect(record.integer("bytes_out") == 200_000, "\(record.line)")
  }

  @Test(
    "sink: one line at the end with the count; echo-client checks it", arguments: EchoMode.allCases)
  func sink(transport: EchoMode) async throws {
    let server = try await Self.start(transport, "sink")
    defer { server.stop() }
    let input = try Payload.random(count: 3 << 20)
    let result = try await Self.echoClient(
      port: server.port, mode: "sink", input, plaintext: transport == .plaintext)
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let report = try #require(SinkReport(line: result.stdoutText), "\(result.stdoutText)")
    #expect(report.bytes == 3 << 20)
    let record = try await Self.closeRecord(server)
    #expect(record.string("reason") == "completed", "\(record.line)")
    #expect(record.integer("bytes_in") == 3 << 20, "\(record.line)")
  }

  @Test("sink in plaintext with nc -N", .enabled(if: ncAvailable))
  func sinkPlaintextNC() async throws {
    let server = try await Self.start(.plaintext, "sink")
    defer { server.stop() }
    let result = try await Self.nc(port: server.port, Data(repeating: 7, count: 12345))
    #expect(SinkReport(line: result.stdoutText)?.bytes == 12345, "\(result.stdoutText)")
  }

  @Test("echo-client --mode sink fails when the count does not match what it sent")
  func sinkMismatchIsCaught() async throws {
    // An echo server answers with the bytes, not a report.
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let result = try await Self.echoClient(port: server.port, mode: "sink", Data("abc".utf8))
    #expect(result.termination == .exit(74), "\(result.stderr)")
    #expect(result.stderr.contains("no sink report"), "\(result.stderr)")
  }

  @Test(
    "bench throughput --mode source and --mode sink measure one way, every byte checked",
    arguments: ["source", "sink"])
  func benchOneWay(mode: String) async throws {
    let server = try await Self.start(.tls, mode)
    defer { server.stop() }
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "bench", "throughput", "--mode", mode, "--host", "127.0.0.1", "--port", "\(server.port)",
        "--connections", "4", "--duration", "1", "--json",
      ])
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let json = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    #expect(json["errors"] as? Int == 0, "\(json)")
    let bytes = json["bytes"] as? Int ?? 0
    #expect(bytes > 0, "\(json)")
    if mode == "sink" {
      // Each connection's report was checked against what it sent; a write the deadline cut
      // short was finished after it, so the server counted at least the bytes measured.
      #expect((json["reported_bytes"] as? Int ?? 0) >= bytes, "the server's counts: \(json)")
    }
  }
}
