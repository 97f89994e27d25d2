import Foundation
import Testing

/// What a scanner or a hardened client expects of the defaults, and what each override does,
/// checked with `openssl s_client` as the client.
@Suite("TLS profiles and versions", .timeLimit(.minutes(1)))
struct TLSProfileTests {
  /// s_client's own defaults would refuse TLS 1.1 before the server is asked; lowering its
  /// security level makes it really offer TLS 1.1, so the refusal is the server's.
  private static let offerLegacy = ["-cipher", "DEFAULT:@SECLEVEL=0"]

  @Test("the default profile refuses TLS 1.1 and serves TLS 1.2 and 1.3")
  func defaultVersions() async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    let legacy = try await runSClient(port: server.port, ["-brief", "-tls1_1"] + Self.offerLegacy)
    #expect(!legacy.echoed)
    #expect(legacy.termination != .exit(0), "\(legacy.output)")
    #expect(legacy.output.contains("protocol version"), "\(legacy.output)")

    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
      let result = try await runSClient(
        port: server.port, ["-brief", flag] + verifyWithDevelopmentCA)
      #expect(result.echoed, "\(flag): \(result.output)")
      #expect(result.value(after: "Protocol version:") == version, "\(result.output)")
    }
    // The server logs the refusal with OpenSSL's reason, once it has closed the connection.
    let logged = try await Deadline(seconds: 10).poll {
      server.stderrText.contains("unsupported protocol")
    }
    #expect(logged, "\(server.stderrText)")
  }

  @Test(
    "TLS 1.2 ciphers without forward secrecy or with CBC are refused",
    arguments: ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"])
  func weakCiphers(cipher: String) async throws {
    let server = try await ServerProcess.start(.tls)
    defer { server.stop() }
    // One -cipher option: a second one would replace the first. The lowered security level
    // makes s_client really offer the weak cipher, so the refusal is the server's.
    let result = try await runSClient(
      port: server.port, ["-brief", "-tls1_2", "-cipher", "\(cipher):@SECLEVEL=0"])
    #expect(!result.echoed, "\(result.output)")
    #expect(result.termination != .exit(0))
    // The same client with a forward-secret AEAD cipher is served, so the refusal above is
    // about the cipher alone.
    let good = try await runSClient(
      port: server.port, ["-brief", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
    #expect(good.echoed, "\(good.output)")
  }

  @Test("the modern profile refuses TLS 1.2")
  func modernProfile() async throws {
    let server = try await ServerProcess.start(.tls, extraArguments: ["--tls-profile", "modern"])
    defer { server.stop() }
    let old = try await runSClient(port: server.port, ["-brief", "-tls1_2"])
    #expect(!old.echoed)
    #expect(old.termination != .exit(0), "\(old.output)")
    let current = try await runSClient(port: server.port, ["-brief", "-tls1_3"])
    #expect(current.echoed, "\(current.output)")
    #expect(current.value(after: "Protocol version:") == "TLSv1.3")
  }

  @Test("--ciphersuites, --groups and --max-tls override the profile")
  func overrides() async throws {
    let server = try await ServerProcess.start(
      .tls,
      extraArguments: [
        "--ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", "--groups", "secp384r1",
      ])
    defer { server.stop() }
    let result = try await runSClient(port: server.port, ["-brief"])
    #expect(result.echoed, "\(result.output)")
    #expect(
      result.value(after: "Ciphersuite:") == "TLS_CHACHA20_POLY1305_SHA256", "\(result.output)")
    #expect(
      result.output.contains("secp384r1") || result.output.contains("P-384"), "\(result.output)")

    let capped = try await ServerProcess.start(.tls, extraArguments: ["--max-tls", "1.2"])
    defer { capped.stop() }
    let old = try await runSClient(port: capped.port, ["-brief"])
    #expect(old.value(after: "Protocol version:") == "TLSv1.2", "\(old.output)")
  }

  @Test("a cipher list that matches nothing is a start-up error naming the option")
  func badCipherList() async throws {
    let result = try await runCommand(
      try Locations.executable("echo-server"),
      ["--port", "0", "--host", "127.0.0.1", "--ciphers", "NO-SUCH-CIPHER"])
    #expect(result.termination != .exit(0))
    let line = Diagnostics.expectSingleLine(result.stderr, from: "echo-server")
    #expect(line.contains("--ciphers 'NO-SUCH-CIPHER'"), "\(line)")
  }
}
