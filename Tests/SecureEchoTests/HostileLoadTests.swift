import Foundation
import Sockets
import TLS
import Testing

/// Clients that try to wear the server down: many that never finish a handshake, one that
/// sends without reading, and thousands that vanish mid-way. The server must keep serving
/// others, bound what each costs, and give every descriptor back.
///
/// Serialized: each test loads the machine on its own, and they must not add up on two cores.
@Suite("Server under hostile load", .serialized, .timeLimit(.minutes(2)))
struct HostileLoadTests {
  @Test(
    "stalled handshakes (300 silent, 300 half ClientHellos): others served, all closed on timeout",
    arguments: EchoMode.allCases)
  func stalledHandshakes(mode: EchoMode) async throws {
    // The half ClientHellos only mean something to a TLS server; to a plaintext one they are
    // data, so it gets the silent clients alone.
    let (silentCount, halfHelloCount) = (300, mode == .tls ? 300 : 0)
    try raiseDescriptorLimit(toAtLeast: silentCount + halfHelloCount + 100)
    // The client served while the others stall must finish its handshake within the timeout;
    // a sanitized server needs longer to get to it.
    let server = try await ServerProcess.start(
      mode, extraArguments: ["--handshake-timeout", "\(Sanitizer.scaled(1, reduced: 4))"])
    defer { server.stop() }
    let port = server.port
    let context = mode == .tls ? try TLSClient.developmentContext() : nil
    let baseline = try await server.settledDescriptorCount {
      try echoOnce(mode, port: port, context: context)
    }

    let held = try await runBlocking {
      var sockets: [Socket] = []
      for _ in 0..<silentCount { sockets.append(try connectTCP(port: port)) }
      for _ in 0..<halfHelloCount {
        let socket = try connectTCP(port: port)
        try socket.send(try HostileBytes.partialClientHello())
        sockets.append(socket)
      }
      // Connected after all of them, so the server must serve it while it holds them.
      try echoOnce(mode, port: port, context: context, payload: Payload.everyByteValue())
      return Handoff(sockets)
    }
    defer { for socket in held.value { socket.close() } }

    let settled = try await server.descriptorCountAfterSettling(to: baseline)
    #expect(settled == baseline, "descriptors before: \(baseline), after the timeout: \(settled)")
    let ends = try await runBlocking {
      // Every socket should be closed by now; the bound is only for a server that left some.
      let deadline = Deadline(seconds: 10)
      return try held.value.map { socket in
        try socket.awaitEnd(withinMilliseconds: deadline.remainingMilliseconds)?.end
      }
    }
    let stillOpen = ends.filter { $0 == nil }.count
    #expect(stillOpen == 0, "\(stillOpen) of \(ends.count) held clients were never closed")
    // The log writer is a thread of its own: the last close lines may come a moment after
    // the descriptors were closed.
    let timeouts = try await server.waitForLines(
      containing: "reason=handshake_timeout", count: silentCount + halfHelloCount
    ).count
    #expect(
      timeouts == silentCount + halfHelloCount,
      "closes logged as handshake_timeout: \(timeouts)")
    #expect(server.isRunning, "the server died: \(server.stderrText)")
  }

  @Test(
    "a client that sends without ever reading is held back: bounded memory, others served",
    arguments: EchoMode.allCases)
  func nonReadingClient(mode: EchoMode) async throws {
    let server = try await ServerProcess.start(mode)
    defer { server.stop() }
    let (port, pid) = (server.port, server.pid)
    let context = mode == .tls ? try TLSClient.developmentContext() : nil
    let baseline = try await server.settledDescriptorCount {
      try echoOnce(mode, port: port, context: context)
    }
    let memoryBefore = try server.residentMemoryBytes()
    let limit = 256 << 20

    let (pushed, memoryAfter) = try await runBlocking {
      let hog = try connectStream(mode, port: port, context: context)
      let pushed = try pushWithoutReading(hog, limit: limit, stall: .seconds(2))
      let memoryStalled = try ServerProcess.residentMemoryBytes(pid: pid)
      // Served while the hog is stuck, with its bytes still in the server's buffers.
      try echoOnce(mode, port: port, context: context, payload: Payload.everyByteValue())
      let memoryAfter = max(memoryStalled, try ServerProcess.residentMemoryBytes(pid: pid))
      try hog.socket.setResetOnClose()
      hog.socket.close()
      return (pushed, memoryAfter)
    }

    let growth = memoryAfter - memoryBefore
    print(
      "non-reading \(mode) client: pushed \(pushed.bytes) bytes (\(pushed.bytes >> 10) KiB) "
        + "before the server stopped taking more; server VmRSS \(memoryBefore >> 10) KiB -> "
        + "\(memoryAfter >> 10) KiB, growth \(growth >> 10) KiB")
    #expect(pushed.stalled, "the server took all \(limit) bytes from a client that never reads")
    // More than the server's own 64 KiB read buffer: the bytes went through the echo path
    // before the backpressure stopped them.
    #expect(pushed.bytes > 256 << 10, "only \(pushed.bytes) bytes got in")
    #expect(growth < 32 << 20, "VmRSS grew by \(growth >> 10) KiB")
    #expect(server.isRunning, "the server died: \(server.stderrText)")

    let settled = try await server.descriptorCountAfterSettling(to: baseline)
    #expect(settled == baseline, "descriptors before: \(baseline), after the reset: \(settled)")
  }

  @Test("1,000 resets mid-stream and 1,000 bad ClientHellos: the server serves on, without leaks")
  func churn() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--log-format", "json"])
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())
    let baseline = try await server.settledDescriptorCount {
      try echoOnce(.tls, port: port, context: context)
    }
    let data = try Payload.random(count: 16 * 1024)
    let garbage = try (0..<8).map { _ in try Payload.random(count: 517) }
    let truncated = try HostileBytes.partialClientHello()

    try await runBlocking {
      for index in 0..<1000 {
        // Handshake, some data, and an RST instead of close_notify: half of them before the
        // server's echo has come back, half after part of it.
        let client = try TLSClient(port: port, context: context)
        try client.send(data)
        if index.isMultiple(of: 2) { _ = try client.receive(exactly: 1024) }
        try client.stream.socket.setResetOnClose()
        client.stream.socket.close()

        // Not TLS at all, then a close; or the first part of a ClientHello, then a close or a
        // reset.
        let socket = try connectTCP(port: port)
        if index.isMultiple(of: 2) {
          try socket.send(garbage[index / 2 % garbage.count])
        } else {
          try socket.send(truncated)
          if index % 4 == 1 { try socket.setResetOnClose() }
        }
        socket.close()
      }
      // Accepted after every connection before it (the accept queue is FIFO).
      try echoOnce(.tls, port: port, context: context, payload: Payload.everyByteValue())
    }
    #expect(server.isRunning, "the server died: \(server.stderrText)")

    let settled = try await server.descriptorCountAfterSettling(to: baseline)
    #expect(settled == baseline, "descriptors before: \(baseline), after: \(settled)")
    let statistics = try await server.requestStatistics()
    let accepted = try #require(statistics.integer("accepted"), "\(statistics.line)")
    #expect(accepted == 2002, "\(statistics.line)")
    #expect(statistics.integer("active") == 0, "\(statistics.line)")
    #expect(statistics.integer("closed_error") == 0, "\(statistics.line)")
    // Every connection accepted was closed exactly once, for one reason.
    let closed = statistics.fields.keys.filter { $0.hasPrefix("closed_") }
      .compactMap { statistics.integer($0) }.reduce(0, +)
    #expect(closed == accepted, "\(statistics.line)")
    Diagnostics.expectNoCrash(server.stderrText)
  }
}
