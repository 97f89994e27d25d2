import Foundation
import ProxyProtocol
import Sockets
import TLS
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `--proxy-protocol` against test clients that speak as a balancer would: the header's address
/// stands for the peer, the bytes after the header reach TLS or the echo untouched, and a bad
/// header costs only its own connection.
@Suite("PROXY protocol", .timeLimit(.minutes(3)))
struct ProxyProtocolTests {
  static let payload = Data("through the balancer \(UUID().uuidString)\n".utf8)

  @Test("v1 TCP4, TCP6 and UNKNOWN: the header's source is the peer, the balancer is 'via'")
  func versionOne() async throws {
    let server = try await ServerProcess.start(
      .plaintext,
      extraArguments: [
        "--proxy-protocol", "v1", "--proxy-from", "127.0.0.1", "--log-format", "json",
      ])
    defer { _ = server.stop() }
    let headers = [
      ProxyHeaderBuilder.v1(
        source: "192.0.2.1", destination: "192.0.2.2", sourcePort: 4000, destinationPort: 443),
      ProxyHeaderBuilder.v1(
        source: "2001:db8:0:0::1", destination: "2001:db8::2", sourcePort: 4001,
        destinationPort: 443),
      ProxyHeaderBuilder.v1Unknown("ffff:f...f:ffff ffff:f...f:ffff 65535 65535"),
    ]
    var balancers: [String] = []
    for header in headers {
      let socket = try connectTCP(port: server.port)
      balancers.append(try socket.localAddress().description)
      // Header and data in one write: the server must take the header and no byte more.
      try socket.send(Data(header) + Self.payload)
      #expect(try socket.receive(exactly: Self.payload.count) == Self.payload)
      socket.close()
    }
    let closed = try await closeRecords(server, count: 3)
    let byBalancer = Dictionary(uniqueKeysWithValues: closed.map { ($0.string("via") ?? "", $0) })
    #expect(byBalancer[balancers[0]]?.string("peer") == "192.0.2.1:4000")
    #expect(byBalancer[balancers[0]]?.string("proxy_destination") == "192.0.2.2:443")
    // The address comes out in canonical form, whatever spelling the balancer used.
    #expect(byBalancer[balancers[1]]?.string("peer") == "[2001:db8::1]:4001")
    // UNKNOWN: nothing about the client, so the balancer stays the peer.
    #expect(byBalancer[balancers[2]]?.string("peer") == balancers[2])
    for record in closed {
      #expect(record.string("proxy") == "v1")
      #expect(record.string("reason") == "client_closed")
    }
    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("proxy_v1") == 2)
    #expect(statistics.integer("proxy_unknown") == 1)
  }

  @Test("v2 over TLS, with TLVs, in the ClientHello's segment: the report and log show them")
  func versionTwoOverTLS() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--proxy-protocol", "any", "--proxy-from", "127.0.0.0/8", "--report", "json",
        "--log-format", "json",
      ])
    defer { _ = server.stop() }
    let uniqueID: [UInt8] = Array(0..<20)
    let header = ProxyHeaderBuilder.v2(
      source: ("192.0.2.7", 5555), destination: ("192.0.2.8", 443),
      tlvs: [(0x01, Array("h2".utf8)), (0x02, Array("echo.example".utf8)), (0x05, uniqueID)],
      crc32c: true)
    let context = try TLSClient.developmentContext()
    let socket = try connectTCP(port: server.port)
    let balancer = try socket.localAddress().description
    try sendHeld(header, on: socket)
    let client = try TLSClient(over: socket, context: context)
    let report = try readReportLine(client)
    #expect(report["peer"] as? String == "192.0.2.7:5555")
    let proxy = report["proxy"] as? [String: Any]
    #expect(proxy?["via"] as? String == balancer)
    #expect(proxy?["proxy_alpn"] as? String == "h2")
    #expect(proxy?["proxy_authority"] as? String == "echo.example")
    #expect(
      proxy?["proxy_unique_id"] as? String == uniqueID.map { String(format: "%02x", $0) }.joined())
    #expect(proxy?["proxy_crc32c"] as? String == "ok")
    try client.send(Self.payload)
    #expect(try client.receive(exactly: Self.payload.count) == Self.payload)
    #expect(try client.closeGracefully())

    // TCP6, no TLVs, the header on its own before the handshake.
    let second = try connectTCP(port: server.port)
    try second.send(
      Data(ProxyHeaderBuilder.v2(source: ("2001:db8::7", 6666), destination: ("2001:db8::8", 443))))
    let client6 = try TLSClient(over: second, context: context)
    #expect(try readReportLine(client6)["peer"] as? String == "[2001:db8::7]:6666")
    #expect(try client6.closeGracefully())

    let closed = try await closeRecords(server, count: 2)
    #expect(
      Set(closed.compactMap { $0.string("peer") }) == ["192.0.2.7:5555", "[2001:db8::7]:6666"])
    #expect(
      closed.allSatisfy { $0.string("proxy") == "v2" && $0.string("reason") == "client_closed" })
  }

  @Test("a v2 LOCAL header is a health check: counted, logged at debug only, never an error")
  func localIsAHealthCheck() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--proxy-protocol", "v2", "--proxy-from", "127.0.0.1", "--log-format", "json",
      ])
    defer { _ = server.stop() }
    let local = ProxyHeaderBuilder.v2(command: .local)
    // HAProxy's check: LOCAL, then RST. Then one that ends with FIN, and a TCP check that sends
    // nothing at all.
    for reset in [true, false] {
      let socket = try connectTCP(port: server.port)
      try socket.send(Data(local))
      if reset { try socket.setResetOnClose() }
      socket.close()
    }
    try connectTCP(port: server.port).close()
    // LOCAL before a real handshake: served, as the balancer itself.
    let socket = try connectTCP(port: server.port)
    let balancer = try socket.localAddress().description
    try socket.send(Data(local))
    let client = try TLSClient(over: socket, context: try TLSClient.developmentContext())
    try client.send(Self.payload)
    #expect(try client.receive(exactly: Self.payload.count) == Self.payload)
    #expect(try client.closeGracefully())

    let closed = try await closeRecords(server, count: 1)
    #expect(closed.first?.string("peer") == balancer)
    #expect(closed.first?.string("proxy_command") == "local")
    // The checks may be on the other loop, and not closed yet.
    let statistics = try await server.settledStatistics {
      $0.integer("accepted") == 4 && $0.integer("active") == 0
    }
    #expect(statistics.integer("closed_health_check") == 3)
    #expect(statistics.integer("proxy_local") == 3)
    #expect(statistics.integer("proxy_empty") == 1)
    #expect(statistics.integer("handshakes_failed") == 0)
    #expect(statistics.integer("handshakes_ok") == 1)
    // At info, the health checks left no line at all.
    let lines = try server.jsonLog().filter { $0.message == "connection closed" }
    #expect(lines.count == 1, "\(lines.map(\.line))")
    #expect(try server.jsonLog().allSatisfy { !["error", "warning"].contains($0.string("level")) })
  }

  @Test("plaintext: LOCAL then RST, and a v1 check naming the balancer itself, are health checks")
  func plaintextHealthChecks() async throws {
    let server = try await ServerProcess.start(
      .plaintext,
      extraArguments: [
        "--proxy-protocol", "any", "--proxy-from", "127.0.0.1", "--log-format", "json",
      ])
    defer { _ = server.stop() }
    let local = try connectTCP(port: server.port)
    try local.send(Data(ProxyHeaderBuilder.v2(command: .local)))
    try local.setResetOnClose()
    local.close()
    // HAProxy's `send-proxy check`: a v1 line with the check connection's own two addresses.
    let own = try connectTCP(port: server.port)
    let address = try own.localAddress()
    try own.send(
      Data(
        ProxyHeaderBuilder.v1(
          source: address.host, destination: "127.0.0.1", sourcePort: address.port,
          destinationPort: server.port)))
    try own.setResetOnClose()
    own.close()
    let statistics = try await server.settledStatistics {
      $0.integer("accepted") == 2 && $0.integer("active") == 0
    }
    #expect(statistics.integer("closed_health_check") == 2, "\(statistics.line)")
    #expect(statistics.integer("closed_reset") == 0)
    #expect(try server.jsonLog().filter { $0.message == "connection closed" }.isEmpty)
  }

  @Test("a connection stopped inside its header at shutdown still counts as truncated")
  func shutdownInsideHeader() async throws {
    // A handshake timeout longer than the test, so that only the shutdown can end it.
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--proxy-protocol", "v2", "--proxy-from", "127.0.0.1", "--log-format", "json",
        "--handshake-timeout", "120",
      ])
    defer { _ = server.stop() }
    let socket = try connectTCP(port: server.port)
    defer { socket.close() }
    try socket.send(Data(ProxyHeaderBuilder.v2(command: .local).prefix(10)))
    // In the header stage once the server has counted it as accepted (and still open).
    _ = try await server.settledStatistics { $0.integer("accepted") == 1 }
    server.child.send(SIGTERM)
    #expect(try await server.waitForExit(until: Deadline(seconds: 20)) == .exit(0))
    let stopped = try server.jsonLog().first { $0.message == "stopped" }
    #expect(stopped?.integer("proxy_truncated") == 1, "\(stopped?.line ?? server.stderrText)")
    #expect(stopped?.integer("closed_shutdown") == 1, "\(stopped?.line ?? "")")
  }

  @Test("malformed, truncated and slow headers close only their connection, with a reason")
  func badHeaders() async throws {
    let server = try await ServerProcess.start(
      .plaintext,
      extraArguments: [
        "--proxy-protocol", "any", "--proxy-from", "127.0.0.1", "--log-format", "json",
        "--handshake-timeout", "1",
      ])
    defer { _ = server.stop() }
    var wrongVersion = ProxyHeaderBuilder.v2(
      source: ("192.0.2.1", 1), destination: ("192.0.2.2", 2))
    wrongVersion[12] = 0x31
    var shortAddresses = ProxyHeaderBuilder.v2(
      source: ("192.0.2.1", 1), destination: ("192.0.2.2", 2))
    shortAddresses[15] = 4
    var badChecksum = ProxyHeaderBuilder.v2(
      source: ("192.0.2.1", 1), destination: ("192.0.2.2", 2), crc32c: true)
    badChecksum[badChecksum.count - 1] ^= 0xff
    let malformed: [(String, [UInt8])] = [
      ("a ClientHello instead of a header", [0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]),
      ("TCP4 with IPv6 addresses", Array("PROXY TCP4 ::1 ::1 1 2\r\n".utf8)),
      (
        "no CRLF within 107 bytes", Array(("PROXY TCP4 " + String(repeating: "1", count: 120)).utf8)
      ),
      ("version 3", wrongVersion),
      ("4 address bytes for TCP4", shortAddresses),
      ("a wrong CRC32C", badChecksum),
    ]
    for (what, bytes) in malformed {
      let socket = try connectTCP(port: server.port)
      try socket.send(Data(bytes) + Self.payload)
      let (data, _) = try socket.receiveUntilClosed()
      #expect(data.isEmpty, "\(what): the server answered \(data.count) bytes")
      socket.close()
    }
    // Cut short: half a header, then FIN; half a header, then silence past the timeout.
    let half = Array(
      ProxyHeaderBuilder.v2(source: ("192.0.2.1", 1), destination: ("192.0.2.2", 2)).prefix(20))
    let ended = try connectTCP(port: server.port)
    try ended.send(Data(half))
    try ended.shutdownOutput()
    #expect(try ended.receiveUntilClosed().data.isEmpty)
    let silent = try connectTCP(port: server.port)
    try silent.send(Data(half))
    #expect(try silent.receiveUntilClosed().data.isEmpty)
    ended.close()
    silent.close()

    // The server is unharmed.
    let good = try connectTCP(port: server.port)
    try good.send(Data(ProxyHeaderBuilder.v1Unknown()) + Self.payload)
    #expect(try good.receive(exactly: Self.payload.count) == Self.payload)
    good.close()

    let closed = try await closeRecords(server, count: malformed.count + 3)
    let invalid = closed.filter { $0.string("reason") == "proxy_header_invalid" }
    #expect(invalid.count == malformed.count + 1)
    #expect(invalid.allSatisfy { ($0.string("detail") ?? "").contains("PROXY") })
    #expect(
      invalid.contains { ($0.string("detail") ?? "").contains("20 bytes into a PROXY header") })
    let timedOut = closed.first { $0.string("reason") == "handshake_timeout" }
    #expect(
      timedOut?.string("detail")?.contains("no complete PROXY header in time (20 bytes") == true)
    let statistics = try await server.requestStatistics()
    #expect(statistics.integer("proxy_invalid") == malformed.count)
    #expect(statistics.integer("proxy_truncated") == 2)
    #expect(statistics.integer("proxy_unknown") == 1)
    #expect(statistics.integer("active") == 0)
  }

  @Test("a header split into many segments is read whole, and the data after it is exact")
  func splitHeader() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--proxy-protocol", "any", "--proxy-from", "127.0.0.1", "--log-format", "json",
      ])
    defer { _ = server.stop() }
    let context = try TLSClient.developmentContext()
    let headers = [
      ProxyHeaderBuilder.v1(
        source: "198.51.100.9", destination: "198.51.100.10", sourcePort: 65535,
        destinationPort: 443),
      ProxyHeaderBuilder.v2(
        source: ("198.51.100.11", 1), destination: ("198.51.100.12", 443),
        tlvs: [(0x02, Array("split.example".utf8)), (0x04, [0, 0, 0])], crc32c: true),
    ]
    for header in headers {
      let socket = try connectTCP(port: server.port)
      try socket.setNoDelay()
      for byte in header {
        try socket.send(Data([byte]))
        // Pacing, not waiting: apart in time, the bytes leave as segments of their own, and
        // the server mostly reads them apart (the unit tests feed it exactly one at a time).
        usleep(3000)
      }
      let client = try TLSClient(over: socket, context: context)
      try client.send(Self.payload)
      #expect(try client.receive(exactly: Self.payload.count) == Self.payload)
      #expect(try client.closeGracefully())
    }
    let closed = try await closeRecords(server, count: 2)
    #expect(
      Set(closed.compactMap { $0.string("peer") }) == ["198.51.100.9:65535", "198.51.100.11:1"])
  }

  @Test("a source outside --proxy-from is served as itself, or refused with --proxy-required")
  func untrustedSources() async throws {
    let lenient = try await ServerProcess.start(
      .plaintext,
      extraArguments: [
        "--proxy-protocol", "v1", "--proxy-from", "192.0.2.0/24", "--log-format", "json",
      ])
    defer { _ = lenient.stop() }
    // Not a balancer: a header from it is only data, echoed like any other.
    let header = Data(
      ProxyHeaderBuilder.v1(
        source: "192.0.2.1", destination: "192.0.2.2", sourcePort: 1, destinationPort: 2))
    let socket = try connectTCP(port: lenient.port)
    let own = try socket.localAddress().description
    try socket.send(header + Self.payload)
    #expect(try socket.receive(exactly: header.count + Self.payload.count) == header + Self.payload)
    socket.close()
    #expect(try await closeRecords(lenient, count: 1).first?.string("peer") == own)
    #expect(try await lenient.requestStatistics().integer("proxy_untrusted_direct") == 1)

    let strict = try await ServerProcess.start(
      .plaintext,
      extraArguments: [
        "--proxy-protocol", "v1", "--proxy-from", "192.0.2.0/24", "--proxy-from", "2001:db8::/32",
        "--proxy-required", "--log-format", "json",
      ])
    defer { _ = strict.stop() }
    let refused = try connectTCP(port: strict.port)
    try? refused.send(header + Self.payload)
    #expect(try refused.receiveUntilClosed().data.isEmpty)
    refused.close()
    let line = try await strict.waitForJSONRecord(until: Deadline(seconds: 10)) {
      $0.message == "connection refused"
    }
    #expect(line?.string("reason") == "refused_untrusted")
    let statistics = try await strict.requestStatistics()
    #expect(statistics.integer("closed_refused_untrusted") == 1)
    #expect(statistics.integer("proxy_untrusted_refused") == 1)
  }

  // MARK: Helpers

  /// The `connection closed` records, once there are `count` of them.
  private func closeRecords(_ server: ServerProcess, count: Int) async throws -> [LogRecord] {
    var records: [LogRecord] = []
    _ = try await Deadline(seconds: 20).poll {
      records = try server.jsonLog().filter { $0.message == "connection closed" }
      return records.count >= count
    }
    guard records.count >= count else {
      throw TestFailure("\(records.count) of \(count) close lines: \(server.stderrText)")
    }
    return records
  }

  /// Sends `bytes` with MSG_MORE: the kernel holds them for the next write (the ClientHello),
  /// and both leave in one segment, as from a balancer that forwards them together.
  private func sendHeld(_ bytes: [UInt8], on socket: Socket) throws {
    let sent = bytes.withUnsafeBytes {
      Glibc.send(socket.descriptor, $0.baseAddress, $0.count, Int32(MSG_MORE | MSG_NOSIGNAL))
    }
    guard sent == bytes.count else { throw TestFailure("send with MSG_MORE: \(sent)") }
  }

  /// The JSON handshake report: the first line the server sends.
  private func readReportLine(_ client: TLSClient) throws -> [String: Any] {
    var line = Data()
    while line.last != UInt8(ascii: "\n") { line += try client.receive(exactly: 1) }
    guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
      throw TestFailure("the report is not a JSON object: \(String(decoding: line, as: UTF8.self))")
    }
    return object
  }
}
