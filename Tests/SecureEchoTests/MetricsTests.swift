import Foundation
import Sockets
import TLS
import Testing

/// `--metrics`: the scrape a Prometheus server makes, judged by the reference client library's
/// parser, and the limits that keep a bad scraper from costing the server anything.
@Suite("metrics", .timeLimit(.minutes(3)))
struct MetricsTests {
  /// What an HTTP exchange with the metrics listener gave back.
  struct Response {
    var status: Int
    var headers: [String: String]
    var body: Data
  }

  @Test("a scrape parses as Prometheus text, with the exact content type, and counts right")
  func scrape() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--metrics", "127.0.0.1:0", "--proxy-protocol", "v2", "--proxy-from", "192.0.2.0/24",
      ])
    defer { _ = server.stop() }
    let port = try metricsPort(server)
    let connections = 5
    let context = try TLSClient.developmentContext()
    let payload = Data("count me\n".utf8)
    for _ in 0..<connections {
      let exchange = try exchangeOverTLS(port: server.port, context: context, payload: payload)
      #expect(exchange.reply == payload)
    }
    // The close of the last connection may still be on its way through its loop.
    let allClosed = "secureecho_connections_closed_total{reason=\"client_closed\"} \(connections)\n"
    _ = try await Deadline(seconds: 20).poll {
      String(decoding: try get("/metrics", port: port).body, as: UTF8.self).contains(allClosed)
    }
    let response = try get("/metrics", port: port)
    #expect(response.status == 200)
    #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
    #expect(Int(response.headers["content-length"] ?? "") == response.body.count)
    let samples = try await parse(response.body)
    #expect(
      samples["secureecho_connections_closed_total{reason=client_closed}"] == Double(connections))
    #expect(samples["secureecho_connections_accepted_total"] == Double(connections))
    #expect(samples["secureecho_connections_active"] == 0)
    #expect(samples["secureecho_handshakes_completed_total"] == Double(connections))
    #expect(samples["secureecho_handshake_duration_seconds_count"] == Double(connections))
    #expect(samples["secureecho_handshake_duration_seconds_bucket{le=+Inf}"] == Double(connections))
    #expect(samples["secureecho_received_bytes_total"] == Double(connections * payload.count))
    #expect(samples["secureecho_sent_bytes_total"] == Double(connections * payload.count))
    #expect(
      samples["secureecho_proxy_headers_total{result=untrusted_direct}"] == Double(connections))
    #expect(samples["secureecho_handshakes_failed_total{reason=handshake_failed}"] == 0)
    #expect(samples["secureecho_log_lines_dropped_total"] == 0)
    let version = try await runCommand(try Locations.executable("echo-server"), ["--version"])
    let label =
      "openssl=\(TLSContext.libraryVersion),version=\(version.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))"
    #expect(samples["secureecho_build_info{\(label)}"] == 1)
    let started = samples["process_start_time_seconds"] ?? 0
    #expect(abs(started - Date().timeIntervalSince1970) < 3600)
    // No label carries anything a client chose.
    #expect(!samples.keys.contains { $0.contains("127.0.0.1") || $0.contains("localhost") })
  }

  @Test("--udp: datagrams received, echoed and dropped by why, with their bytes")
  func datagrams() async throws {
    let server = try await ServerProcess.start(
      .plaintext, listen: ["127.0.0.1:0"], extraArguments: ["--udp", "--metrics", "127.0.0.1:0"])
    defer { _ = server.stop() }
    let port = try metricsPort(server)
    let udpPort = server.port
    let payload = Data("count me".utf8)
    try await runBlocking {
      let client = try connectUDP(port: udpPort)
      for _ in 0..<3 {
        try client.sendDatagram(payload)
        #expect(try client.receiveDatagram(withinMilliseconds: 5000) == payload)
      }
      try sendForgedDatagram(to: udpPort, fromPort: 0, payload: payload)
    }
    _ = try await Deadline(seconds: 20).poll {
      String(decoding: try get("/metrics", port: port).body, as: UTF8.self).contains(
        "secureecho_udp_datagrams_received_total 4\n")
    }
    let samples = try await parse(try get("/metrics", port: port).body)
    #expect(samples["secureecho_udp_datagrams_echoed_total"] == 3)
    #expect(samples["secureecho_udp_received_bytes_total"] == Double(4 * payload.count))
    #expect(samples["secureecho_udp_sent_bytes_total"] == Double(3 * payload.count))
    #expect(samples["secureecho_udp_datagrams_dropped_total{reason=port_zero}"] == 1)
    #expect(samples["secureecho_udp_datagrams_dropped_total{reason=source_rate}"] == 0)
  }

  @Test("--dtls: ClientHellos answered with a cookie, and datagrams dropped, are counted")
  func dtlsAdmission() async throws {
    let server = try await DTLSEchoTests.server(["--metrics", "127.0.0.1:0"])
    defer { _ = server.stop() }
    let port = try metricsPort(server)
    let dtlsPort = server.port
    let hello = try await DTLSEchoTests.clientHello()
    let verifyRequest = try await runBlocking {
      let client = try connectUDP(port: dtlsPort)
      try client.sendDatagram(Data("not a ClientHello".utf8))
      try client.sendDatagram(hello)
      return try client.receiveDatagram(withinMilliseconds: 5000)
    }
    #expect(verifyRequest != nil, "the ClientHello was answered")
    _ = try await Deadline(seconds: 20).poll {
      let body = String(decoding: try get("/metrics", port: port).body, as: UTF8.self)
      return body.contains("secureecho_dtls_cookies_sent_total 1\n")
        && body.contains("secureecho_dtls_datagrams_dropped_total 1\n")
    }
    let samples = try await parse(try get("/metrics", port: port).body)
    #expect(samples["secureecho_dtls_cookies_sent_total"] == 1)
    #expect(samples["secureecho_dtls_datagrams_dropped_total"] == 1)
    #expect(samples["secureecho_connections_accepted_total"] == 0, "no state before the cookie")
    #expect(samples["secureecho_udp_datagrams_received_total"] == nil, "UDP's families: --udp's")
  }

  @Test("HEAD has the headers and no body; other paths 404, other methods 405")
  func otherRequests() async throws {
    let server = try await ServerProcess.start(.plaintext, extraArguments: ["--metrics", "0"])
    defer { _ = server.stop() }
    let port = try metricsPort(server)
    let head = try exchange(Data("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8), port: port)
    #expect(head.status == 200)
    #expect(head.body.isEmpty)
    #expect((Int(head.headers["content-length"] ?? "") ?? 0) > 0)
    #expect(try get("/", port: port).status == 404)
    #expect(try get("/metrics?name[]=x", port: port).status == 200)
    let post = try exchange(
      Data("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8), port: port)
    #expect(post.status == 405)
    #expect(post.headers["allow"] == "GET, HEAD")
    #expect(try exchange(Data("nonsense\r\n\r\n".utf8), port: port).status == 400)
  }

  @Test("a 1 MiB request and a silent scraper are cut off; the server goes on")
  func limits() async throws {
    let server = try await ServerProcess.start(
      .plaintext, extraArguments: ["--metrics", "127.0.0.1:0", "--handshake-timeout", "1"])
    defer { _ = server.stop() }
    let port = try metricsPort(server)
    // A huge head: answered 431 after the first 8 KiB, then reset over the rest.
    let huge = try connectTCP(port: port)
    let request =
      Data("GET /metrics HTTP/1.1\r\nX-Filler: ".utf8) + Data(repeating: 0x61, count: 1 << 20)
    try? huge.send(request)
    let (answer, end) = try huge.receiveUntilClosed()
    // Either the 431 arrives first, or the reset over the unread rest overtakes it; a server
    // that read it all would close with a plain FIN and nothing said.
    let refused = String(decoding: answer.prefix(12), as: UTF8.self) == "HTTP/1.1 431"
    #expect(refused || (answer.isEmpty && end == .reset), "\(answer.count) bytes, \(end)")
    huge.close()
    // Silence: closed at the handshake timeout, without an answer.
    let silent = try connectTCP(port: port)
    #expect(try silent.receiveUntilClosed().data.isEmpty)
    silent.close()
    #expect(try get("/metrics", port: port).status == 200)
    // Echo service untouched.
    let echo = try connectTCP(port: server.port)
    try echo.send(Data("still here\n".utf8))
    #expect(try echo.receive(exactly: 11) == Data("still here\n".utf8))
    echo.close()
  }

  // MARK: Helpers

  private func metricsPort(_ server: ServerProcess) throws -> UInt16 {
    guard
      let match = server.listeningLine.firstMatch(of: /metrics at http:\/\/[^ ]*:(\d+)\/metrics/),
      let port = UInt16(match.1)
    else { throw TestFailure("no metrics address in: \(server.listeningLine)") }
    return port
  }

  private func get(_ path: String, port: UInt16) throws -> Response {
    try exchange(
      Data("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n".utf8), port: port
    )
  }

  /// Sends `request`, reads until the server closes, splits the answer.
  private func exchange(_ request: Data, port: UInt16) throws -> Response {
    let socket = try connectTCP(port: port)
    defer { socket.close() }
    try socket.send(request)
    let (data, _) = try socket.receiveUntilClosed()
    guard let split = data.range(of: Data("\r\n\r\n".utf8)) else {
      throw TestFailure("no complete response head: \(String(decoding: data, as: UTF8.self))")
    }
    let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(
      separatedBy: "\r\n")
    guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else {
      throw TestFailure("no status line: \(lines.first ?? "")")
    }
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
        in: .whitespaces)
    }
    return Response(status: status, headers: headers, body: data[split.upperBound...])
  }

  /// Every sample, by `name{label=value,...}`, as prometheus_client parses the body.
  private func parse(_ body: Data) async throws -> [String: Double] {
    let result = try await runCommand(
      try Locations.tool("python3"),
      [Locations.scripts.appendingPathComponent("prometheus_check.py").path], input: .bytes(body))
    guard result.termination == .exit(0),
      let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any],
      let samples = object["samples"] as? [String: Double]
    else {
      throw TestFailure("prometheus_client could not parse the scrape: \(result.stderr)")
    }
    return samples
  }

}
