import Foundation
import Sockets
import TLS
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The network faults, each measured from the client's side with bounds that only a broken
/// server can miss however slow the machine is (an echo is never early; a rate is never
/// exceeded). TLS clients choose them by server name (`<labels>.fault.localhost`); plaintext
/// ones get a server's `--fault`.
@Suite("faults: delay, bandwidth, slices, limits, resets, stalls", .timeLimit(.minutes(3)))
struct NetworkFaultTests {
  static let scenarios = Locations.certificates.appendingPathComponent("scenarios").path

  /// A TLS server taking fault names, or a plaintext one with `faults` for every connection.
  static func server(_ mode: EchoMode, _ faults: [String] = []) async throws -> ServerProcess {
    let options =
      mode == .tls
      ? ["--scenarios", scenarios] : faults.flatMap { ["--fault", $0] }
    return try await ServerProcess.start(mode, extraArguments: options)
  }

  /// A connection with `faults`: by name over TLS (the server was started without them).
  static func connect(
    _ mode: EchoMode, _ port: UInt16, _ faults: String
  ) throws -> any EchoConnection {
    switch mode {
    case .plaintext: return try connectTCP(port: port)
    case .tls:
      return try TLSClient(
        port: port, context: try TLSClient.developmentContext(),
        serverName: "\(faults).fault.localhost")
    }
  }

  static func transport(_ connection: any EchoConnection) throws -> Transport {
    if let socket = connection as? Socket { return .plain(socket) }
    if let client = connection as? TLSClient { return .tls(client.stream) }
    throw TestFailure("not a connection")
  }

  @Test("delay: no echo before the delay, and every byte in order", arguments: EchoMode.allCases)
  func delay(_ mode: EchoMode) async throws {
    let server = try await Self.server(mode, ["delay-300.jitter-100"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let connection = try Self.connect(mode, port, "delay-300.jitter-100")
      let start = ContinuousClock.now
      try connection.send(Data("first\n".utf8))
      #expect(try connection.receive(exactly: 6) == Data("first\n".utf8))
      let waited = milliseconds(since: start)
      // Jitter moves a write by up to 100 ms either way: never earlier than 200.
      #expect(waited >= 200, "the first echo came after \(waited) ms")
      // Many small writes, each timed on its own: they come back in order.
      var lines = Data()
      for index in 0..<40 {
        let line = Data("line \(index)\n".utf8)
        try connection.send(line)
        lines.append(line)
      }
      #expect(try connection.receive(exactly: lines.count) == lines)
      try connection.close()
    }
    let log = try await server.waitForLines(containing: "connection closed")
    #expect(log[0].contains("faults=delay-300.jitter-100"), "\(log)")
  }

  @Test("bandwidth: never more than rate × T plus one burst", arguments: EchoMode.allCases)
  func bandwidth(_ mode: EchoMode) async throws {
    let rate = 40_000
    let server = try await Self.server(mode, ["bandwidth-\(rate)"])
    defer { _ = server.stop() }
    let port = server.port
    let payload = try Payload.random(count: 100_000)
    try await runBlocking {
      // From before the connection: the server's bucket starts later, so this bound holds.
      let start = ContinuousClock.now
      let connection = try Self.connect(mode, port, "bandwidth-\(rate)")
      let (reply, samples) = try exchangeNoting(
        try Self.transport(connection), payload, expecting: payload.count, start: start)
      #expect(reply == payload)
      let burst = 16_384
      // Both clocks count whole milliseconds: the server's may credit one more than passed,
      // this one's may count one less.
      for sample in samples {
        #expect(
          sample.total <= rate * (sample.milliseconds + 2) / 1000 + burst,
          "\(sample.total) bytes after \(sample.milliseconds) ms")
      }
      let total = samples.last?.milliseconds ?? 0
      #expect(total >= (payload.count - burst) * 1000 / rate, "all of it in \(total) ms")
      try connection.close()
    }
  }

  @Test("limit: exactly N bytes, then the end it names")
  func limitOverTLS() async throws {
    let server = try await Self.server(.tls)
    defer { _ = server.stop() }
    let cases: [(String, TLSEnd)] = [
      ("limit-4096", .closeNotify), ("limit-4096-notify", .closeNotify),
      ("limit-4096-fin", .unclean), ("limit-4096-rst", .reset),
    ]
    let port = server.port
    try await runBlocking {
      for (faults, end) in cases {
        let client = try TLSClient(
          port: port, context: try TLSClient.developmentContext(),
          serverName: "\(faults).fault.localhost")
        let payload = try Payload.random(count: 10_000)
        try client.send(payload)
        let ended = try client.readToEnd()
        #expect(ended.data == payload.prefix(4096), "\(faults): \(ended.data.count) bytes")
        #expect(ended.end == end, "\(faults)")
        client.stream.socket.close()
      }
    }
    let log = try await server.waitForLines(containing: "reason=fault", count: cases.count)
    #expect(log.allSatisfy { $0.contains("bytes_out=4096") }, "\(log)")
  }

  @Test("limit in plaintext: N bytes, then FIN, or RST")
  func limitInPlaintext() async throws {
    let server = try await ServerProcess.start(
      .plaintext, extraArguments: ["--fault", "limit-1000", "--fault-port", "0=limit-1000-rst"])
    defer { _ = server.stop() }
    let port = server.port
    let faultPort = try #require(
      UInt16(server.listeningLine.firstMatch(of: /faults limit-1000-rst on [^ ]*:(\d+)/)?.1 ?? ""))
    try await runBlocking {
      for (port, end) in [(port, ConnectionEnd.eof), (faultPort, .reset)] {
        let socket = try connectTCP(port: port)
        let payload = try Payload.random(count: 5000)
        try socket.send(payload)
        let ended = try socket.receiveUntilClosed()
        #expect(ended.end == end)
        // A reset may drop what had not been read yet; never more than the limit comes.
        #expect(payload.prefix(ended.data.count) == ended.data)
        if end == .eof { #expect(ended.data.count == 1000) }
        #expect(ended.data.count <= 1000)
      }
    }
  }

  @Test("reset: RST after N bytes, or after a time", arguments: EchoMode.allCases)
  func reset(_ mode: EchoMode) async throws {
    let server = try await Self.server(mode, ["reset-400ms"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let start = ContinuousClock.now
      let connection = try Self.connect(mode, port, "reset-400ms")
      try connection.send(Data("echoed before the reset\n".utf8))
      _ = try connection.receive(exactly: 24)
      let transport = try Self.transport(connection)
      var buffer = [UInt8](repeating: 0, count: 64)
      do {
        _ = try buffer.withUnsafeMutableBytes { try transport.receive(into: $0) }
        Issue.record("the connection was not reset")
      } catch let error as TransportError {
        #expect(error.reason.contains("reset"), "\(error)")
      }
      #expect(milliseconds(since: start) >= 400)
    }
    if mode == .tls {
      try await runBlocking {
        let client = try TLSClient(
          port: port, context: try TLSClient.developmentContext(),
          serverName: "reset-3000.fault.localhost")
        try client.send(try Payload.random(count: 8000))
        let ended = try client.readToEnd()
        #expect(ended.end == .reset)
        #expect(ended.data.count <= 3000)
      }
    }
  }

  @Test("slice: the echo in chunks, a gap after each", arguments: EchoMode.allCases)
  func slice(_ mode: EchoMode) async throws {
    let server = try await Self.server(mode, ["slice-100-40"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let connection = try Self.connect(mode, port, "slice-100-40")
      let payload = try Payload.random(count: 1000)
      let start = ContinuousClock.now
      try connection.send(payload)
      #expect(try connection.receive(exactly: payload.count) == payload)
      // Ten chunks, nine gaps.
      #expect(milliseconds(since: start) >= 9 * 40)
      try connection.close()
    }
  }

  @Test(
    "stall: N bytes, then nothing either way, the connection open", arguments: EchoMode.allCases)
  func stall(_ mode: EchoMode) async throws {
    let server = try await Self.server(mode, ["stall-1000"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let connection = try Self.connect(mode, port, "stall-1000")
      let payload = try Payload.random(count: 50_000)
      try connection.send(payload)
      #expect(try connection.receive(exactly: 1000) == payload.prefix(1000))
      let socket = try Self.transport(connection).socket
      #expect(try staysQuiet(Self.transport(connection), forMilliseconds: 600), "no bytes, no end")
      socket.close()
    }
  }

  @Test(
    "blackhole: everything read, nothing answered, not even the end", arguments: EchoMode.allCases)
  func blackhole(_ mode: EchoMode) async throws {
    let server = try await Self.server(mode, ["blackhole"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let connection = try Self.connect(mode, port, "blackhole")
      try connection.send(try Payload.random(count: 20_000))
      let transport = try Self.transport(connection)
      #expect(try staysQuiet(transport, forMilliseconds: 500))
      switch transport {
      case .plain(let socket):
        try socket.shutdownOutput()
        let ended = try socket.receiveUntilClosed()
        #expect(ended.data.isEmpty && ended.end == .eof)
      case .tls:
        // Our close_notify gets no close_notify back: the server just closes.
        #expect(try (connection as! TLSClient).closeGracefully() == false)
      }
    }
    let log = try await server.waitForLines(containing: "connection closed")
    #expect(log[0].contains("bytes_in=20000") && log[0].contains("bytes_out=0"), "\(log)")
  }

  @Test("slow-close: the server's end comes no sooner than asked", arguments: EchoMode.allCases)
  func slowClose(_ mode: EchoMode) async throws {
    let server = try await Self.server(mode, ["slow-close-500"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let connection = try Self.connect(mode, port, "slow-close-500")
      try connection.send(Data("bye\n".utf8))
      _ = try connection.receive(exactly: 4)
      let start = ContinuousClock.now
      switch try Self.transport(connection) {
      case .plain(let socket):
        try socket.shutdownOutput()
        #expect(try socket.receiveUntilClosed().end == .eof)
      case .tls:
        #expect(try (connection as! TLSClient).closeGracefully(), "close_notify, late")
      }
      #expect(milliseconds(since: start) >= 500)
    }
  }

  @Test("faults together: a delay with a rate, more held than the bound, nothing stuck")
  func delayWithBandwidth() async throws {
    let server = try await Self.server(.plaintext, ["delay-200", "bandwidth-1000000"])
    defer { _ = server.stop() }
    let port = server.port
    let payload = try Payload.random(count: 400_000)
    try await runBlocking {
      let start = ContinuousClock.now
      let socket = try connectTCP(port: port)
      let (reply, _) = try exchangeNoting(
        .plain(socket), payload, expecting: payload.count, start: start)
      #expect(reply == payload)
    }
  }

  @Test("a limit or a timed reset still ends a connection the client already closed its side of")
  func endingsWhileClosing() async throws {
    let server = try await ServerProcess.start(
      .plaintext,
      extraArguments: [
        "--fault", "delay-300", "--fault", "limit-100-rst", "--fault-port",
        "0=reset-800ms.slow-close-5000", "--fault-port", "0=bandwidth-1000.limit-100",
      ])
    defer { _ = server.stop() }
    let ports = server.listeningLine.matches(of: /faults [^ ]* on [^ ]*:(\d+)/).compactMap {
      UInt16($0.1)
    }
    try #require(ports.count == 2, "\(server.listeningLine)")
    let port = server.port
    try await runBlocking {
      // The limit comes due only once the delayed echo goes out, after the client's end.
      let limited = try connectTCP(port: port)
      try limited.send(try Payload.random(count: 1000))
      try limited.shutdownOutput()
      let cut = try limited.receiveUntilClosed()
      #expect(cut.data.count <= 100 && cut.end == .reset, "\(cut.data.count) bytes, \(cut.end)")
      // The reset's time comes while the slow close holds the end back.
      let start = ContinuousClock.now
      let held = try connectTCP(port: ports[0])
      try held.send(Data("x".utf8))
      try held.shutdownOutput()
      let reset = try held.receiveUntilClosed()
      #expect(reset.end == .reset)
      #expect(milliseconds(since: start) >= 800)
      // A limit whose end meets a throttled read: both sides close, and that is the end.
      let throttled = try connectTCP(port: ports[1])
      try throttled.send(try Payload.random(count: 300))
      let ended = try throttled.receiveUntilClosed()
      #expect(ended.data.count == 100 && ended.end == .eof)
      throttled.close()
    }
    let log = try await server.waitForLines(containing: "connection closed", count: 3)
    #expect(log.allSatisfy { $0.contains("reason=fault") }, "\(log)")
  }
}
