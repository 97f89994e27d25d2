import Foundation
import Testing

/// Contradictory or out-of-range options: one usage line naming the options, exit 64, and
/// nothing started. Each case is a mistake a user made on a first try.
@Suite("usage errors", .timeLimit(.minutes(2)))
struct UsageErrorTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var program: String
    var arguments: [String]
    /// Every one of these must be in the line.
    var mentions: [String]

    var testDescription: String { "\(program) \(arguments.joined(separator: " "))" }
  }

  static let cases: [Case] = [
    .init(
      program: "echo-server", arguments: ["--udp", "--mode", "chargen"],
      mentions: ["--mode chargen does not apply to --udp"]),
    .init(
      program: "echo-server", arguments: ["--udp", "--mode", "record"],
      mentions: ["--mode record preserves TLS records; it does not apply to --udp"]),
    .init(
      program: "echo-server", arguments: ["--udp", "--cert", "a.crt"],
      mentions: ["--udp serves no TLS", "--cert"]),
    .init(
      program: "echo-server", arguments: ["--udp", "--dtls"],
      mentions: ["--udp and --dtls contradict each other"]),
    .init(
      program: "echo-server", arguments: ["--dtls", "--tls-profile", "modern"],
      mentions: ["--tls-profile modern needs TLS 1.3", "DTLS 1.2"]),
    .init(
      program: "echo-server", arguments: ["--udp-source-limit", "10,100"],
      mentions: ["--udp-source-limit applies to --udp only"]),
    .init(
      program: "echo-server", arguments: ["--udp", "--udp-source-limit", "10"],
      mentions: ["--udp-source-limit must be PACKETS,BYTES"]),
    .init(
      program: "echo-client", arguments: ["--udp", "--dtls"],
      mentions: ["--udp and --dtls contradict each other"]),
    .init(
      program: "echo-client", arguments: ["--udp", "--datagram-size", "70000"],
      mentions: ["--datagram-size must be ≤ 65507"]),
    .init(
      program: "echo-client", arguments: ["bench", "handshakes", "--udp"],
      mentions: ["--udp and --dtls take latency or throughput"]),
    .init(
      program: "echo-server", arguments: ["--fault", "explode"],
      mentions: ["--fault: fault 'explode': no such fault"]),
    .init(
      program: "echo-server", arguments: ["--fault", "delay-60001"],
      mentions: ["--fault: fault 'delay-60001'", "from 0 to 60000"]),
    .init(
      program: "echo-server", arguments: ["--fault", "delay-5", "--fault", "delay-6"],
      mentions: ["a second delay"]),
    .init(
      program: "echo-server", arguments: ["--plaintext", "--fault", "small-records-512"],
      mentions: ["--fault: small-records acts on TLS", "--plaintext"]),
    .init(
      program: "echo-server", arguments: ["--plaintext", "--fault", "limit-10-notify"],
      mentions: ["limit-N-notify", "TLS only"]),
    .init(
      program: "echo-server", arguments: ["--fault-port", "4434"],
      mentions: ["--fault-port must be PORT=SPEC", "'4434'"]),
    .init(
      program: "echo-server", arguments: ["--fault-suffix", "faults.test"],
      mentions: ["--fault-suffix has no effect without --scenarios"]),
    .init(
      program: "echo-server", arguments: ["--port", "-1"], mentions: ["--port must be ≥ 0, not -1"]),
    .init(
      program: "echo-server", arguments: ["--idle-timeout", "-5"],
      mentions: ["--idle-timeout must be ≥ 0 seconds, not -5"]),
    .init(
      program: "echo-server", arguments: ["--tls-profile", "modern", "--min-tls", "1.2"],
      mentions: ["--tls-profile modern", "--min-tls 1.2"]),
    .init(
      program: "echo-server", arguments: ["--ciphersuites", ""],
      mentions: ["--ciphersuites is empty"]),
    .init(
      program: "echo-server", arguments: ["--client-ca", "certs/ca.crt"],
      mentions: ["--client-ca", "--verify-client"]),
    .init(
      program: "echo-server",
      arguments: ["--plaintext", "--cert", "x.crt", "--tls-profile", "modern"],
      mentions: ["--plaintext", "--cert", "--tls-profile"]),
    .init(
      program: "echo-server", arguments: ["--plaintext", "--ocsp-response", "r.der"],
      mentions: ["--plaintext", "--ocsp-response"]),
    .init(
      program: "echo-server", arguments: ["--max-connections", "99999999999"],
      mentions: ["--max-connections 99999999999", "descriptor limit"]),
    .init(
      program: "echo-server", arguments: ["--host", "127.0.0.1", "--host", "127.0.0.1"],
      mentions: ["127.0.0.1:4433 is given twice"]),
    .init(
      program: "echo-server", arguments: ["--listen", "127.0.0.1:0", "--port", "5"],
      mentions: ["--listen", "--port"]),
    .init(
      program: "echo-server", arguments: ["--listen", "::1:4433"],
      mentions: ["--listen '::1:4433'", "brackets"]),
    .init(
      program: "echo-server", arguments: ["--listen", "localhost"],
      mentions: ["--listen 'localhost'", "port"]),
    .init(program: "echo-server", arguments: ["--cert", "a.crt"], mentions: ["--cert", "--key"]),
    .init(
      program: "echo-server", arguments: ["--no-tickets", "--ticket-lifetime", "60"],
      mentions: ["--ticket-lifetime", "--no-tickets"]),
    .init(
      program: "echo-server", arguments: ["--log-level", "loud"],
      mentions: ["--log-level must be one of", "'loud'"]),
    .init(
      program: "echo-client", arguments: ["--sess-in", "s.pem", "bench", "latency"],
      mentions: ["--sess-in", "bench", "(see 'echo-client bench --help')"]),
    .init(
      program: "echo-client",
      arguments: ["bench", "throughput", "--interactive", "--sess-out", "s"],
      mentions: ["--interactive, --sess-out", "(see 'echo-client bench --help')"]),
    .init(
      program: "echo-client", arguments: ["bench", "latency", "--duration", "0"],
      mentions: [
        "--duration must be more than 0 seconds, not 0", "(see 'echo-client bench --help')",
      ]),
    .init(
      program: "echo-client", arguments: ["bench", "latency", "--port", "-2"],
      mentions: ["--port must be ≥ 1, not -2", "(see 'echo-client bench --help')"]),
    .init(
      program: "echo-client", arguments: ["--port", "70000"],
      mentions: ["--port must be ≤ 65535, not 70000", "(see 'echo-client --help')"]),
    .init(
      program: "echo-client",
      arguments: ["--max-tls", "1.2", "--ciphersuites", "TLS_AES_128_GCM_SHA256"],
      mentions: ["--ciphersuites", "--max-tls 1.2"]),
  ]

  static let clientCases: [Case] = [
    .init(
      program: "echo-client", arguments: ["--plaintext", "--tls-profile", "modern"],
      mentions: ["--plaintext has no TLS: --tls-profile does not apply"]),
    .init(
      program: "echo-client", arguments: ["--host", "localhost:4433"],
      mentions: ["'localhost:4433'", "--port 4433"]),
    .init(
      program: "echo-server", arguments: ["--plaintext", "--report", "json"],
      mentions: ["--plaintext", "--report"]),
    .init(
      program: "echo-server", arguments: ["--mode", "echoo"],
      mentions: ["'echoo'", "echo, record, reverse, discard, chargen, source, sink"]),
    .init(
      program: "echo-server", arguments: ["--proxy-from", "10.0.0.0/8"],
      mentions: ["--proxy-from has no effect without --proxy-protocol"]),
    .init(
      program: "echo-server", arguments: ["--proxy-protocol", "v2", "--proxy-required"],
      mentions: ["--proxy-protocol v2 needs --proxy-from", "0.0.0.0/0"]),
    .init(
      program: "echo-server", arguments: ["--proxy-protocol", "v2", "--proxy-from", "10.1.2.3/8"],
      mentions: ["--proxy-from '10.1.2.3/8'", "the network is 10.0.0.0/8"]),
    .init(
      program: "echo-server", arguments: ["--proxy-protocol", "v3"],
      mentions: ["'v3'", "'off', 'v1', 'v2' or 'any'"]),
    .init(
      program: "echo-server", arguments: ["--proxy-protocol", "any", "--proxy-from", "lb.local"],
      mentions: ["--proxy-from 'lb.local'", "not a numeric IPv4 or IPv6 address"]),
    .init(
      program: "echo-server", arguments: ["--metrics", "localhost"],
      mentions: ["--metrics 'localhost'", "the port is missing"]),
    .init(
      program: "echo-client", arguments: ["bench", "handshakes", "--proxy-header", "2"],
      mentions: [
        "'2'", "--proxy-header", "'v1' and 'v2'", "(see 'echo-client bench --help')",
      ]),
  ]

  @Test("a usage error is one line naming the options, exit 64", arguments: cases + clientCases)
  func usageError(_ example: Case) async throws {
    let result = try await runCommand(
      try Locations.executable(example.program), example.arguments, timeoutSeconds: 20)

    #expect(result.termination == .exit(64), "stderr: \(result.stderr)")
    #expect(result.stdout.isEmpty, "stdout: \(result.stdoutText)")
    let line = Diagnostics.expectSingleLine(result.stderr, from: example.program)
    for mention in example.mentions {
      #expect(line.contains(mention), "\(line)")
    }
    #expect(!line.contains("Missing value"), "\(line)")
  }

  @Test(
    "log level and format names are case-insensitive; warn is warning",
    arguments: ["WARNING", "Warn"])
  func caseInsensitiveLevels(_ level: String) async throws {
    try Locations.requireDevelopmentCertificates()
    let server = try await ServerProcess.start(
      extraArguments: ["--log-level", level, "--log-format", "JSON"])
    defer { _ = server.stop() }
    #expect(server.port > 0)
  }
}
