import Foundation
import Sockets
import TLS
import Testing

@Suite("TLS echo", .timeLimit(.minutes(1)))
struct TLSEchoTests {
  @Test("openssl s_client verifies the server and gets its line back")
  func opensslClient() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let line = "hello from s_client \(UUID().uuidString)"

    let stdin = Pipe()
    let stdout = Pipe()
    let client = try ChildProcess(
      try Locations.openssl(),
      [
        "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost",
        "-CAfile", Locations.caCertificate.path, "-verify_return_error",
        "-verify_hostname", "localhost",
      ],
      stdin: stdin, stdout: stdout)
    defer { client.stop() }
    try stdin.fileHandleForWriting.write(contentsOf: Data("\(line)\n".utf8))

    // s_client ends at EOF on stdin, possibly before the reply is read, so stdin stays open
    // until the echoed line has shown up on its stdout.
    var output = PipeReader(stdout)
    let hasEchoedLine = { (text: String) in text.split(separator: "\n").contains { $0 == line } }
    _ = try await output.read(until: Deadline(seconds: 20), hasEchoedLine)
    try stdin.fileHandleForWriting.close()
    let termination = try await client.waitForExit(until: Deadline(seconds: 20))
    _ = try await output.read(until: Deadline(seconds: 1)) { _ in false }
    let echoed = hasEchoedLine(output.text)

    #expect(echoed, "echoed line not in s_client output: \(output.text)")
    #expect(output.text.contains("Verify return code: 0 (ok)"), "\(output.text)")
    #expect(termination == .exit(0))
  }

  @Test("the echo is exact, and close_notify is answered with close_notify")
  func libraryClient() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())
    let payload = Payload.everyByteValue()
    let exchange = try await runBlocking {
      try exchangeOverTLS(port: port, context: context, payload: payload)
    }
    #expect(exchange.verification == "ok")
    #expect(exchange.peerSubject?.contains("CN=localhost") == true, "\(exchange.peerSubject ?? "")")
    expectSameBytes(exchange.reply, payload, "echo over TLS")
    #expect(exchange.answeredCloseNotify, "the server closed without its close_notify")
  }

  @Test("serves on IPv4 and IPv6 loopback", arguments: ["127.0.0.1", "::1"])
  func addressFamilies(host: String) async throws {
    let server = try await ServerProcess.start(.tls, host: host)
    defer { server.stop() }
    let expectedAddress = host.contains(":") ? "[\(host)]:\(server.port)" : "\(host):\(server.port)"
    #expect(server.listeningLine.contains(expectedAddress), "\(server.listeningLine)")

    let payload = Data("over \(host)\n".utf8) + Payload.everyByteValue(repeats: 2)
    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", host, "--port", String(server.port),
        "--cafile", Locations.caCertificate.path,
      ],
      input: .bytes(payload))
    #expect(result.termination == .exit(0), "stderr: \(result.stderr)")
    expectSameBytes(result.stdout, payload, "echo over \(host)")
  }

  @Test("16 MiB sent in one go come back byte for byte")
  func sixteenMebibytes() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let scratch = try TemporaryDirectory("bulk")
    defer { scratch.remove() }
    let payload = try Payload.random(count: 16 << 20)
    let input = scratch.file("input")
    try payload.write(to: input)

    let result = try await runCommand(
      try Locations.executable("echo-client"),
      [
        "--host", "127.0.0.1", "--port", String(server.port),
        "--cafile", Locations.caCertificate.path,
      ],
      input: .file(input), timeoutSeconds: 50)
    #expect(result.termination == .exit(0), "stderr: \(result.stderr)")
    expectSameBytes(result.stdout, payload, "16 MiB echo")
  }

  @Test("a client speaking HTTP to the TLS port is disconnected, and the next client served")
  func notTLS() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let (port, context) = (server.port, try TLSClient.developmentContext())

    // The server may answer with a TLS alert before closing; what it must not do is keep the
    // connection open (receiveUntilClosed throws then) or echo the request as plaintext.
    let reply = try await runBlocking {
      let socket = try connectTCP(port: port)
      defer { socket.close() }
      try socket.send(Data("GET / HTTP/1.0\r\n\r\n".utf8))
      return try socket.receiveUntilClosed().data
    }
    #expect(reply.range(of: Data("GET /".utf8)) == nil, "the HTTP request came back")

    #expect(server.isRunning)
    let payload = Data("still serving\n".utf8)
    let exchange = try await runBlocking {
      try exchangeOverTLS(port: port, context: context, payload: payload)
    }
    expectSameBytes(exchange.reply, payload, "echo after the HTTP client")
  }
}
