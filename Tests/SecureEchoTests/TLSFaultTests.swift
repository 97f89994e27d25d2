import Foundation
import Sockets
import TLS
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The TLS faults, seen by real clients: record sizes and KeyUpdates in `s_client -msg` and a
/// Python client that reads records one by one, how the stream ends, what happens to the
/// handshake, and how a name that does not parse is refused.
@Suite("faults: records, KeyUpdate, endings, the handshake", .timeLimit(.minutes(3)))
struct TLSFaultTests {
  static func server(_ extra: [String] = []) async throws -> ServerProcess {
    try await ServerProcess.start(
      .tls, extraArguments: ["--scenarios", NetworkFaultTests.scenarios] + extra)
  }

  /// s_client options that ask for `faults` by name and verify the certificate issued for it.
  static func asking(for faults: String) -> [String] {
    let host = "\(faults).fault.localhost"
    return verifyWithDevelopmentCA + ["-servername", host, "-verify_hostname", host]
  }

  /// Runs s_client with `-msg` into a file, and returns the protocol messages it showed
  /// (`-brief`: its session dumps could otherwise run into the echoed line).
  static func messages(
    port: UInt16, _ arguments: [String], send line: String? = nil
  ) async throws -> (messages: String, result: SClientResult) {
    let scratch = try TemporaryDirectory("msg")
    defer { scratch.remove() }
    let file = scratch.file("msg")
    let result =
      if let line {
        try await runSClient(
          port: port, arguments + ["-brief", "-msg", "-msgfile", file.path], send: line)
      } else {
        try await runSClient(port: port, arguments + ["-brief", "-msg", "-msgfile", file.path])
      }
    return (String(decoding: try Data(contentsOf: file), as: UTF8.self), result)
  }

  @Test("small-records: no record carries more than the size, in the handshake or after")
  func smallRecords() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let payload = String(repeating: "r", count: 5000)
    let small = try await ConformanceTests.records(
      port: server.port, [payload], serverName: "small-records-512.fault.localhost")
    #expect(small.reply == payload)
    #expect(small.records.allSatisfy { $0 <= 512 }, "\(small.records)")
    #expect(small.records.count >= 10)
    // On the wire a record is its plaintext plus at most 256 bytes (RFC 8446, 5.2); the
    // certificate chain alone is more than two such records.
    #expect(small.handshakeRecords.allSatisfy { $0 <= 512 + 256 }, "\(small.handshakeRecords)")
    let ordinary = try await ConformanceTests.records(port: server.port, [payload])
    #expect(ordinary.records == [5000], "the same server, without the fault")
    // As s_client -msg shows them: the length in each record header from the server. TLS 1.3
    // adds the content type and the AEAD's 16-byte tag, and OpenSSL pads nothing.
    let seen = try await Self.messages(
      port: server.port, Self.asking(for: "small-records-512"),
      send: String(repeating: "m", count: 3000))
    #expect(seen.result.echoed, "\(seen.result.output)")
    let lines = seen.messages.split(separator: "\n")
    let lengths = zip(lines, lines.dropFirst()).compactMap { header, bytes -> Int? in
      guard header.hasPrefix("<<<") && header.contains("RecordHeader") else { return nil }
      let fields = bytes.split(separator: " ")
      guard fields.count == 5 else { return nil }
      return Int(fields[3] + fields[4], radix: 16)
    }
    #expect(lengths.count > 10, "\(seen.messages)")
    #expect(lengths.allSatisfy { $0 <= 512 + 17 }, "\(lengths)")
  }

  @Test("keyupdate: a KeyUpdate at every N bytes, requested or not")
  func keyUpdate() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    // 3,000 bytes and a newline: KeyUpdates before bytes 1,001, 2,001 and 3,001. (Not 'k':
    // s_client reads a line starting with it as its own KeyUpdate command.)
    let line = String(repeating: "z", count: 3000)
    let plain = try await Self.messages(
      port: server.port, Self.asking(for: "keyupdate-1000"), send: line)
    #expect(plain.result.echoed, "\(plain.result.output)")
    let received = plain.messages.split(separator: "\n").filter {
      $0.hasPrefix("<<<") && $0.hasSuffix("KeyUpdate")
    }
    #expect(received.count == 3, "\(plain.messages)")
    let answered = plain.messages.split(separator: "\n").filter {
      $0.hasPrefix(">>>") && $0.hasSuffix("KeyUpdate")
    }
    #expect(answered.isEmpty, "not requested: the client keeps its keys")
    let requested = try await Self.messages(
      port: server.port, Self.asking(for: "keyupdate-1000-requested"), send: line)
    #expect(requested.result.echoed)
    #expect(
      requested.messages.split(separator: "\n").contains {
        $0.hasPrefix(">>>") && $0.hasSuffix("KeyUpdate")
      }, "the client updates its own keys when asked: \(requested.messages)")
  }

  @Test("no-close-notify: the server ends with a bare FIN, and clients say so")
  func noCloseNotify() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let context = try TLSClient.developmentContext()
      let answering = try TLSClient(
        port: port, context: context, serverName: "no-close-notify.fault.localhost")
      try answering.send(Data("hi\n".utf8))
      _ = try answering.receive(exactly: 3)
      #expect(try answering.closeGracefully() == false, "our close_notify got a bare FIN")
      let limited = try TLSClient(
        port: port, context: context, serverName: "limit-100.no-close-notify.fault.localhost")
      let payload = try Payload.random(count: 1000)
      try limited.send(payload)
      let ended = try limited.readToEnd()
      #expect(ended.data == payload.prefix(100))
      #expect(ended.end == .unclean)
    }
    let client = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--port", "\(port)", "--servername",
        "no-close-notify.fault.localhost",
      ],
      input: .bytes(Data("hello\n".utf8)))
    #expect(client.stdout == Data("hello\n".utf8))
    #expect(client.stderr.contains("closed without close_notify"), "\(client.stderr)")
  }

  @Test("truncate: the echo's first record arrives cut in the middle, then the end")
  func truncate() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let client = try TLSClient(
        port: port, context: try TLSClient.developmentContext(),
        serverName: "truncate.fault.localhost")
      try client.send(Data("cut me\n".utf8))
      let ended = try client.readToEnd()
      #expect(ended.data.isEmpty && ended.end == .unclean, "\(ended.end)")
    }
    let seen = try await Self.messages(port: port, Self.asking(for: "limit-10.truncate"))
    // The last thing s_client saw is a record header with no whole record after it.
    let lines = seen.messages.split(separator: "\n").filter { $0.hasPrefix("<<<") }
    #expect(lines.last?.contains("RecordHeader") == true, "\(seen.messages)")
    #expect(seen.result.output.contains("unexpected eof while reading"), "\(seen.result.output)")
    let log = try await server.waitForLines(containing: "reason=fault", count: 2)
    #expect(log.allSatisfy { $0.contains("detail=truncate") }, "\(log)")
  }

  @Test("handshake-stall: no ServerHello within the stall, then the end")
  func handshakeStall() async throws {
    let server = try await Self.server(["--log-format", "json"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      var hello = HelloBuilder()
      hello.serverName = "handshake-stall-2.fault.localhost"
      let message = hello.bytes()
      let record = [0x16, 0x03, 0x01, UInt8(message.count >> 8), UInt8(message.count & 0xff)]
      let socket = try connectTCP(port: port)
      let start = ContinuousClock.now
      try socket.send(Data(record + message))
      let ended = try #require(try socket.awaitEnd(withinMilliseconds: 10_000))
      #expect(ended.data.isEmpty, "not a byte of a ServerHello")
      #expect(ended.end == .eof)
      #expect(milliseconds(since: start) >= 2000)
    }
    let closed = try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
      $0.message == "connection closed"
    }
    #expect(closed?.string("reason") == "fault")
    #expect(closed?.string("detail") == "handshake-stall-2")
    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("handshakes_failed") == 0, "an intended end is no failure")
    #expect(statistics.integer("faults_applied_handshake_stall") == 1)
  }

  @Test("handshake-alert: the handshake fails with the alert asked for")
  func handshakeAlert() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    for (label, words) in [
      ("handshake-alert-access-denied", "alert access denied"),
      ("handshake-alert-40", "alert handshake failure"),
    ] {
      let result = try await runSClient(port: server.port, Self.asking(for: label))
      #expect(!result.echoed)
      #expect(result.output.contains(words), "\(result.output)")
    }
    let log = try await server.waitForLines(containing: "reason=fault", count: 2)
    // Two loops: the lines may come in either order.
    #expect(log.contains { $0.contains("detail=handshake-alert-access-denied") }, "\(log)")
    #expect(log.contains { $0.contains("detail=handshake-alert-handshake-failure") }, "\(log)")
  }

  @Test("tickets: as many session tickets as asked", arguments: [(3, 3), (0, 0)])
  func tickets(_ count: Int, _ expected: Int) async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let seen = try await Self.messages(port: server.port, Self.asking(for: "tickets-\(count)"))
    #expect(seen.result.echoed, "\(seen.result.output)")
    let tickets = seen.messages.split(separator: "\n").filter {
      $0.hasPrefix("<<<") && $0.hasSuffix("NewSessionTicket")
    }
    #expect(tickets.count == expected, "\(seen.messages)")
  }

  @Test(
    "a fault name that does not parse is refused with unrecognized_name, and the log says why",
    arguments: [
      ("delay-60001", "from 0 to 60000"), ("explode", "no such fault"),
      ("delay-5.delay-6", "a second delay"), ("jitter-5", "give delay-MS too"),
    ])
  func refusedNames(_ labels: String, _ why: String) async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let result = try await runSClient(port: server.port, Self.asking(for: labels))
    #expect(!result.echoed)
    #expect(result.output.contains("unrecognized name"), "\(result.output)")
    let log = try await server.waitForLines(containing: "reason=fault_refused")
    #expect(log[0].contains(why), "\(log)")
  }

  @Test("echo-client shows what was applied; the counters and the report count it")
  func appliedAndCounted() async throws {
    let server = try await Self.server(["--log-format", "json"])
    defer { _ = server.stop() }
    let client = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--port", "\(server.port)", "--servername",
        "delay-20.small-records-1024.fault.localhost", "--report",
      ])
    #expect(client.termination == .exit(0), "\(client.stderr)")
    #expect(
      client.stderr.contains("server applied faults delay-20.small-records-1024"),
      "\(client.stderr)")
    #expect(client.stdoutText.contains(#""faults": "delay-20.small-records-1024""#))
    let statistics = try await server.settledStatistics {
      $0.integer("faults_applied_delay") == 1
    }
    #expect(statistics.integer("faults_applied_delay") == 1, "\(statistics.line)")
    #expect(statistics.integer("faults_applied_small_records") == 1)
    #expect(statistics.integer("faults_applied_limit") == nil)
  }

  @Test("--fault for every connection, --fault-port for one listener, a name replaces them")
  func listenerFaults() async throws {
    let server = try await Self.server(["--fault", "limit-5", "--fault-port", "0=delay-300"])
    defer { _ = server.stop() }
    let port = server.port
    let delayed = try #require(
      UInt16(server.listeningLine.firstMatch(of: /faults delay-300 on [^ ]*:(\d+)/)?.1 ?? ""))
    try await runBlocking {
      let context = try TLSClient.developmentContext()
      let limited = try TLSClient(port: port, context: context)
      try limited.send(Data("0123456789\n".utf8))
      let ended = try limited.readToEnd()
      #expect(ended.data == Data("01234".utf8) && ended.end == .closeNotify)
      let start = ContinuousClock.now
      let slow = try TLSClient(port: delayed, context: context)
      try slow.send(Data("late\n".utf8))
      #expect(try slow.receive(exactly: 5) == Data("late\n".utf8))
      #expect(milliseconds(since: start) >= 300)
      // `fault.localhost` names no faults: none, whatever the listener gives.
      let clean = try TLSClient(port: port, context: context, serverName: "fault.localhost")
      let payload = try Payload.random(count: 20_000)
      try clean.send(payload)
      #expect(try clean.receive(exactly: payload.count) == payload)
      #expect(try clean.closeGracefully())
    }
  }

  @Test("a share: -p50 gives some connections the fault and others not")
  func share() async throws {
    let server = try await ServerProcess.start(
      .plaintext, extraArguments: ["--fault", "limit-1-p50"])
    defer { _ = server.stop() }
    let port = server.port
    let lengths = try await runBlocking {
      try (0..<40).map { _ in
        let socket = try connectTCP(port: port)
        try socket.send(Data("xy".utf8))
        try socket.shutdownOutput()
        return try socket.receiveUntilClosed().data.count
      }
    }
    // Each connection draws on its own: 40 draws all alike would be a 1 in 2^39 chance.
    #expect(lengths.contains(1) && lengths.contains(2), "\(lengths)")
    #expect(lengths.allSatisfy { $0 == 1 || $0 == 2 })
  }
}
