import Foundation
import Sockets
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `echo-server --udp`: every datagram back whole, and nothing that would let the server be
/// used against a third party (forged sources, reflector ports, floods).
@Suite("UDP echo", .timeLimit(.minutes(3)))
struct UDPEchoTests {
  static func server(_ extra: [String] = [], listen: [String] = ["127.0.0.1:0"]) async throws
    -> ServerProcess
  {
    try await ServerProcess.start(
      .plaintext, listen: listen, extraArguments: ["--udp", "--log-format", "json"] + extra)
  }

  @Test("1, 1,472 and 65,507 bytes come back exact, over IPv4 and IPv6")
  func exactEcho() async throws {
    let server = try await Self.server(listen: ["127.0.0.1:0", "[::1]:0"])
    defer { _ = server.stop() }
    #expect(server.listeningLine.contains("(UDP, echo"), "\(server.listeningLine)")
    let ports = listeningPorts(server.listeningLine)
    try #require(ports.count == 2, "\(server.listeningLine)")
    try await runBlocking {
      for (host, port) in [("127.0.0.1", ports[0]), ("::1", ports[1])] {
        let client = try connectUDP(host: host, port: port)
        for size in [1, 1472, Socket.maximumDatagram] {
          let datagram = try Payload.random(count: size)
          try client.sendDatagram(datagram)
          let echo = try client.receiveDatagram(withinMilliseconds: 5000)
          #expect(echo == datagram, "\(host): \(size) bytes came back as \(echo?.count ?? 0)")
        }
      }
    }
  }

  @Test("no reply larger than its request, nor different: 300 datagrams of random sizes")
  func repliesMatchRequests() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let client = try connectUDP(port: port)
      for _ in 0..<300 {
        let datagram = try Payload.random(count: Int.random(in: 1...2000))
        try client.sendDatagram(datagram)
        let echo = try #require(try client.receiveDatagram(withinMilliseconds: 5000))
        #expect(echo.count <= datagram.count)
        #expect(echo == datagram)
      }
    }
    let statistics = try await server.settledStatistics { $0.integer("udp_echoed") == 300 }
    #expect(statistics.integer("udp_received") == 300, "\(statistics.line)")
    #expect(statistics.integer("udp_bytes_in") == statistics.integer("udp_bytes_out"))
  }

  @Test("forged sources are dropped: port 0, the server's own address, reflector ports")
  func forgedSources() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      try sendForgedDatagram(to: port, fromPort: 0, payload: Data("from port 0".utf8))
      try sendForgedDatagram(to: port, fromPort: port, payload: Data("from myself".utf8))
      // A reflector's port, really bound: an echo would bounce off it for ever.
      let reflector = try Self.reflectorClient(to: port)
      try reflector.sendDatagram(Data("from a reflector's port".utf8))
      #expect(try reflector.receiveDatagram(withinMilliseconds: 500) == nil)
      // And an ordinary client is served.
      let client = try connectUDP(port: port)
      try client.sendDatagram(Data("ordinary".utf8))
      #expect(try client.receiveDatagram(withinMilliseconds: 5000) == Data("ordinary".utf8))
    }
    // The echo can reach the client before its loop counts it: settle on every datagram's
    // outcome, not on its arrival.
    let statistics = try await server.settledStatistics {
      $0.integer("udp_received") == 4 && $0.integer("udp_echoed") == 1
    }
    #expect(statistics.integer("udp_dropped_port_zero") == 1, "\(statistics.line)")
    #expect(statistics.integer("udp_dropped_own_port") == 1)
    #expect(statistics.integer("udp_dropped_reflector_port") == 1)
    #expect(statistics.integer("udp_echoed") == 1)
  }

  /// A client on the first free port of 127.0.0.1 among the reflectors' (memcached, SSDP, NTP).
  private static func reflectorClient(to port: UInt16) throws -> Socket {
    for source in [11_211, 1900, 123] as [UInt16] {
      if let socket = try? connectUDP(port: port, source: "127.0.0.1", sourcePort: source) {
        return socket
      }
    }
    throw TestFailure("ports 11211, 1900 and 123 of 127.0.0.1 are all taken")
  }

  @Test("a flood from one source is held to its limit, while another source is served")
  func sourceLimit() async throws {
    let server = try await Self.server(["--udp-source-limit", "50,10000000"])
    defer { _ = server.stop() }
    let port = server.port
    let (echoed, elapsed) = try await runBlocking {
      let flood = try connectUDP(port: port, source: "127.0.0.1")
      let start = ContinuousClock.now
      var echoed = 0
      for index in 0..<2000 {
        try flood.sendDatagram(Data("flood \(index)".utf8))
        while (try flood.receiveDatagram(withinMilliseconds: 0)) != nil { echoed += 1 }
      }
      echoed += try flood.drainDatagrams().count
      return (echoed, milliseconds(since: start))
    }
    // A second's worth at first, then 50 a second; plus one for rounding.
    #expect(echoed >= 50, "the flood got \(echoed) echoes")
    #expect(echoed <= 50 + 50 * elapsed / 1000 + 1, "\(echoed) echoes in \(elapsed) ms")
    try await runBlocking {
      let other = try connectUDP(port: port, source: "127.0.0.2")
      for index in 0..<10 {
        let datagram = Data("other \(index)".utf8)
        try other.sendDatagram(datagram)
        #expect(try other.receiveDatagram(withinMilliseconds: 5000) == datagram)
      }
    }
    let statistics = try await server.requestStatistics()
    #expect((statistics.integer("udp_dropped_source_rate") ?? 0) > 0, "\(statistics.line)")
  }

  @Test("all sources together are held to the global limit")
  func globalLimit() async throws {
    let server = try await Self.server([
      "--udp-global-limit", "40,10000000", "--udp-source-limit", "100000,100000000",
    ])
    defer { _ = server.stop() }
    let port = server.port
    let (echoed, elapsed) = try await runBlocking {
      let sources = try ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map {
        try connectUDP(port: port, source: $0)
      }
      let start = ContinuousClock.now
      var echoed = 0
      for index in 0..<1500 {
        let socket = sources[index % sources.count]
        try socket.sendDatagram(Data("all \(index)".utf8))
        while (try socket.receiveDatagram(withinMilliseconds: 0)) != nil { echoed += 1 }
      }
      for socket in sources { echoed += try socket.drainDatagrams().count }
      return (echoed, milliseconds(since: start))
    }
    #expect(echoed >= 40)
    #expect(echoed <= 40 + 40 * elapsed / 1000 + 1, "\(echoed) echoes in \(elapsed) ms")
    let statistics = try await server.requestStatistics()
    #expect((statistics.integer("udp_dropped_global_rate") ?? 0) > 0, "\(statistics.line)")
  }

  @Test("a burst that arrives while the server cannot read waits in its socket, and is echoed")
  func burstWhileStopped() async throws {
    let server = try await Self.server([
      "--udp-global-limit", "100000,1000000000", "--udp-source-limit", "100000,1000000000",
    ])
    defer { _ = server.stop() }
    let port = server.port
    // The server asks for 4 MiB; the kernel grants twice the lesser of that and rmem_max (the
    // buffer counts its own overhead too): room for 1,000 datagrams of 1,472 bytes, where a
    // socket's default buffer held 92. Where rmem_max allows less, the burst is what fits.
    let maximum = try String(contentsOfFile: "/proc/sys/net/core/rmem_max", encoding: .utf8)
    let granted =
      2 * min(4 << 20, Int(maximum.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
    let count = min(1000, granted / 8192)
    try #require(count > 0, "net.core.rmem_max: \(maximum)")
    let pid = server.pid
    let burst = try (0..<count).map { try Payload.distinct(index: $0, count: 1472) }
    defer { server.child.send(SIGCONT) }
    let echoes = try await runBlocking {
      let client = try connectUDP(port: port)
      try client.setOption(SOL_SOCKET, SO_RCVBUF, 4 << 20, "SO_RCVBUF")
      // Stopped, the server reads nothing: the whole burst is queued before its first read.
      kill(pid, SIGSTOP)
      for datagram in burst { try client.sendDatagram(datagram) }
      kill(pid, SIGCONT)
      let deadline = Deadline(seconds: 20)
      var echoes: [Data] = []
      while echoes.count < count && !deadline.hasPassed {
        let next = try client.receiveDatagram(withinMilliseconds: deadline.remainingMilliseconds)
        if let next { echoes.append(next) }
      }
      return echoes
    }
    #expect(echoes.count == count, "\(echoes.count) of \(count) echoed")
    #expect(Set(echoes).isSubset(of: Set(burst)), "echoes that were not sent")
  }

  @Test("a datagram longer than 65,507 bytes (IPv6 allows it) is not echoed cut")
  func truncated() async throws {
    let server = try await Self.server(listen: ["[::1]:0"])
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let client = try connectUDP(host: "::1", port: port)
      try client.sendDatagram(try Payload.random(count: 65_527))
      #expect(try client.receiveDatagram(withinMilliseconds: 500) == nil)
    }
    let statistics = try await server.settledStatistics {
      $0.integer("udp_dropped_truncated") == 1
    }
    #expect(statistics.integer("udp_dropped_truncated") == 1, "\(statistics.line)")
  }

  @Test("the counters are logged every few seconds while they change, not per datagram")
  func periodicLine() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let port = server.port
    try await runBlocking {
      let client = try connectUDP(port: port)
      for index in 0..<20 {
        try client.sendDatagram(Data("\(index)".utf8))
        _ = try client.receiveDatagram(withinMilliseconds: 5000)
      }
    }
    let line = try await server.waitForJSONRecord(until: Deadline(seconds: 30)) {
      $0.message == "datagrams"
    }
    #expect(line?.integer("udp_echoed") == 20, "\(server.stderrText)")
    #expect(try server.jsonLog().filter { $0.message == "datagrams" }.count == 1)
    #expect(!server.logLines.contains { $0.contains("connection closed") })
  }

  @Test("echo-client --udp: a byte-exact pipe in datagrams, and a clear word when no one listens")
  func echoClient() async throws {
    let server = try await Self.server()
    defer { _ = server.stop() }
    let input = try Payload.random(count: 100_000)
    let client = try Locations.executable("echo-client")
    let result = try await runCommand(
      client,
      ["--udp", "--host", "127.0.0.1", "--port", "\(server.port)", "--datagram-size", "1472"],
      input: .bytes(input))
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdout == input)
    #expect(result.stderr.contains("68 datagrams sent, 68 echoed, 0 lost"), "\(result.stderr)")
    // A port nobody listens on: the ICMP answer makes the first receive fail.
    let refused = try await runCommand(
      client, ["--udp", "--host", "127.0.0.1", "--port", "\(try Self.unusedUDPPort())"],
      input: .bytes(Data("hello\n".utf8)))
    #expect(refused.termination != .exit(0))
    #expect(refused.stderr.contains("nothing listens on that UDP port"), "\(refused.stderr)")
  }

  @Test("a UDP port another server has is refused; with --reuse-port a second one joins it")
  func portTaken() async throws {
    let first = try await Self.server()
    defer { _ = first.stop() }
    let taken = "127.0.0.1:\(first.port)"
    let second = try await runCommand(
      try Locations.executable("echo-server"), ["--udp", "--listen", taken], timeoutSeconds: 20)
    #expect(second.termination == .exit(69), "\(second.stderr)")
    let line = Diagnostics.expectSingleLine(second.stderr, from: "echo-server")
    #expect(line.contains(taken) && line.contains("Address already in use"), "\(line)")
    // With --reuse-port the second one joins (the kernel spreads clients over both).
    let sharing = try await ServerProcess.start(
      .plaintext, listen: [taken], extraArguments: ["--udp", "--reuse-port"])
    defer { _ = sharing.stop() }
    #expect(sharing.port == first.port)
  }

  /// A UDP port of 127.0.0.1 with no socket on it (the kernel's pick, then released).
  static func unusedUDPPort() throws -> UInt16 {
    let probe = try connectUDP(port: 9)
    defer { probe.close() }
    return try probe.localAddress().port
  }
}
