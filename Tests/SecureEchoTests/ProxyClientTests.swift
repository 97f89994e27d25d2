import Foundation
import Testing

/// `echo-client --proxy-header` against the real server with `--proxy-protocol`: the client is
/// its own balancer, so the header must carry the connection's true addresses (the server's
/// `peer`, from the header, equals `via`, the socket's), and nothing after it may change.
@Suite("echo-client as its own balancer", .timeLimit(.minutes(2)))
struct ProxyClientTests {
  struct SessionCase: Sendable, CustomTestStringConvertible {
    var mode: EchoMode
    var version: String
    var interactive = false

    var testDescription: String {
      "\(mode) \(version)\(interactive ? " interactive" : "")"
    }
  }

  @Test(
    "a session sends the header first, with its own addresses, and the echo is exact",
    arguments: [
      SessionCase(mode: .tls, version: "v2"), SessionCase(mode: .plaintext, version: "v1"),
      SessionCase(mode: .tls, version: "v1", interactive: true),
    ])
  func session(_ example: SessionCase) async throws {
    let server = try await ServerProcess.start(
      example.mode,
      extraArguments: [
        "--proxy-protocol", example.version, "--proxy-from", "127.0.0.1", "--log-format", "json",
      ])
    defer { server.stop() }
    var arguments = [
      "--host", "127.0.0.1", "--port", String(server.port), "--proxy-header", example.version,
    ]
    arguments +=
      example.mode == .tls ? ["--cafile", Locations.caCertificate.path] : ["--plaintext"]
    let payload: Data
    if example.interactive {
      arguments.append("--interactive")
      payload = Data("through no balancer\n\n".utf8)
    } else {
      payload = Payload.everyByteValue(repeats: 24) + (try Payload.random(count: 200_000))
    }
    let result = try await runCommand(
      try Locations.executable("echo-client"), arguments, input: .bytes(payload))
    #expect(result.termination == .exit(0), "stderr: \(result.stderr)")
    Diagnostics.expectNoCrash(result.stderr)
    if example.interactive {
      #expect(result.stdoutText.contains(":>through no balancer\n"), "\(result.stdoutText)")
    } else {
      expectSameBytes(result.stdout, payload, "echo-client --proxy-header stdout")
    }
    // The client says what it sent: its own address, then the server's.
    let sent = try #require(
      result.stderr.firstMatch(of: /sent a PROXY (v\d) header: (\S+) -> (\S+)\n/),
      "stderr: \(result.stderr)")
    #expect(String(sent.1) == example.version)
    #expect(String(sent.3) == "127.0.0.1:\(server.port)")

    let record = try #require(
      try await server.waitForJSONRecord(until: Deadline(seconds: 20)) {
        $0.message == "connection closed"
      }, "no close line: \(server.stderrText)")
    #expect(record.string("proxy") == example.version, "\(record.line)")
    #expect(record.string("reason") == "client_closed", "\(record.line)")
    #expect(record.string("peer") == String(sent.2), "\(record.line)")
    #expect(record.string("peer") == record.string("via"), "\(record.line)")
    #expect(record.string("proxy_destination") == "127.0.0.1:\(server.port)", "\(record.line)")
    // (Interactive mode sends no empty line: it ends the session.)
    let sentBytes = example.interactive ? payload.count - 1 : payload.count
    #expect(record.integer("bytes_in") == sentBytes, "\(record.line)")
  }

  @Test("bench handshakes: every connection, reconnects included, starts with a header")
  func benchHandshakes() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--proxy-protocol", "v1", "--proxy-from", "127.0.0.1", "--log-format", "json",
        // A header naming the connection's own addresses is what HAProxy's v1 health checks
        // send: one that the run's end cut off before its handshake closes as a health check,
        // logged at debug.
        "--log-level", "debug",
      ])
    defer { server.stop() }
    let connections = 2
    let json = try await bench(
      [
        "handshakes", "--proxy-header", "v1", "--connections", "\(connections)",
        "--cafile", Locations.caCertificate.path,
      ], port: server.port)
    let handshakes = json["handshakes"] as? Int ?? 0
    let opened = json["opened"] as? Int ?? 0
    #expect(handshakes > 1, "\(json)")

    let statistics = try await server.settledStatistics { $0.integer("active") == 0 }
    #expect(statistics.integer("active") == 0, "\(statistics.line)")
    let headers = statistics.integer("proxy_v1") ?? -1
    // Every source in --proxy-from must send a header: a connection without one is closed
    // before its handshake, so none of these may be missing.
    // (The proxy_ counters are in the line only once they are not zero.)
    #expect(statistics.fields["proxy_invalid"] == nil, "\(statistics.line)")
    #expect(statistics.integer("closed_proxy_header_invalid") == 0, "\(statistics.line)")
    // Not equal: the connections still in flight when the run ended (one per slot at most)
    // sent a header and had no handshake counted, or were accepted and closed before sending.
    #expect(headers >= handshakes, "\(statistics.line) \(json)")
    #expect(headers - opened <= connections, "\(statistics.line) \(json)")
    #expect(
      (statistics.integer("handshakes_failed") ?? -1) <= connections, "\(statistics.line)")

    // And each of them, in the log: the header's address is the socket's own.
    var records: [LogRecord] = []
    _ = try await Deadline(seconds: 20).poll {
      records = try server.jsonLog().filter {
        $0.message == "connection closed" && $0.string("proxy") == "v1"
      }
      return records.count >= headers
    }
    #expect(records.count == headers, "\(records.count) close lines for \(headers) headers")
    #expect(records.allSatisfy { $0.string("peer") == $0.string("via") })
  }

  @Test(
    "bench throughput, latency and hold send one too, over plaintext v2",
    arguments: [
      ["throughput", "--connections", "3", "--size", "4096"],
      ["latency", "--connections", "3", "--threads", "2"], ["hold", "--connections", "5"],
    ])
  func benchModes(_ arguments: [String]) async throws {
    let server = try await ServerProcess.start(
      .plaintext,
      extraArguments: [
        "--proxy-protocol", "v2", "--proxy-from", "127.0.0.1", "--log-format", "json",
      ])
    defer { server.stop() }
    let json = try await bench(
      arguments + ["--proxy-header", "v2", "--plaintext"], port: server.port)
    let connections = Int(arguments[2]) ?? 0
    #expect(json["opened"] as? Int == connections, "\(json)")
    let statistics = try await server.settledStatistics { $0.integer("active") == 0 }
    #expect(statistics.integer("active") == 0, "\(statistics.line)")
    // Set up before the measurement and never replaced: exactly one header each.
    #expect(statistics.integer("proxy_v2") == connections, "\(statistics.line)")
    #expect(statistics.integer("accepted") == connections, "\(statistics.line)")
    #expect(statistics.integer("bytes_in") == statistics.integer("bytes_out"), "\(statistics.line)")
  }

  // MARK: Helpers

  /// Runs `echo-client bench ... --json` for 1 s, expects it to succeed with no error, and
  /// returns its report.
  private func bench(_ arguments: [String], port: UInt16) async throws -> [String: Any] {
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      ["bench"] + arguments + [
        "--host", "127.0.0.1", "--port", "\(port)", "--duration", "1", "--json",
      ])
    #expect(result.termination == .exit(0), "\(result.stderr)")
    let object = try? JSONSerialization.jsonObject(with: result.stdout)
    let json = try #require(
      object as? [String: Any], "no JSON: \(result.stdoutText) \(result.stderr)")
    #expect(json["errors"] as? Int == 0, "\(json)")
    #expect((json["errors_by_kind"] as? [String: Any])?.isEmpty == true, "\(json)")
    return json
  }
}
