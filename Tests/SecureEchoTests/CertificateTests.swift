import Foundation
import Testing

/// `make certs`, run into a scratch folder as a user runs it: lifetimes as Mozilla's modern
/// profile asks, and renewal of a leaf close to its end, keeping the CA.
@Suite("Development certificates", .timeLimit(.minutes(1)))
struct CertificateTests {
  private static func make(_ arguments: [String], certs: URL) async throws -> CommandResult {
    let result = try await runCommand(
      try Locations.tool("make"),
      ["--no-print-directory", "-C", Locations.repositoryRoot.path, "certs", "CERTS=\(certs.path)"]
        + arguments)
    guard result.termination == .exit(0) else {
      throw TestFailure("make certs: \(result.termination) \(result.stdoutText) \(result.stderr)")
    }
    return result
  }

  /// Days between notBefore and notAfter.
  private static func lifetime(_ certificate: URL) async throws -> Int {
    let text = try await runOpenSSL([
      "x509", "-in", certificate.path, "-noout", "-startdate", "-enddate",
    ]).stdoutText
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "MMM d HH:mm:ss yyyy 'GMT'"
    let dates = text.split(separator: "\n").compactMap { line -> Date? in
      guard let value = line.split(separator: "=", maxSplits: 1).last else { return nil }
      return formatter.date(
        from: value.replacingOccurrences(of: "  ", with: " ").trimmingCharacters(in: .whitespaces))
    }
    guard dates.count == 2 else { throw TestFailure("no dates in: \(text)") }
    return Int((dates[1].timeIntervalSince(dates[0]) / 86_400).rounded())
  }

  private static func fingerprint(_ certificate: URL) async throws -> String {
    try await runOpenSSL(["x509", "-in", certificate.path, "-noout", "-fingerprint", "-sha256"])
      .stdoutText
  }

  @Test("leaves live 90 days, the CA longer; a leaf within 7 days of its end is issued again")
  func lifetimesAndRenewal() async throws {
    let scratch = try TemporaryDirectory("certs")
    defer { scratch.remove() }
    let certs = scratch.file("certs")
    try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
    for name in ["ca", "server", "client"] {
      try FileManager.default.copyItem(
        at: Locations.certificates.appendingPathComponent("\(name).ext"),
        to: certs.appendingPathComponent("\(name).ext"))
    }
    _ = try await Self.make([], certs: certs)
    let ca = certs.appendingPathComponent("ca.crt")
    let server = certs.appendingPathComponent("server.crt")
    let client = certs.appendingPathComponent("client.crt")
    #expect(try await Self.lifetime(server) == 90)
    #expect(try await Self.lifetime(client) == 90)
    #expect(try await Self.lifetime(ca) > 365)
    let caPrint = try await Self.fingerprint(ca)
    let clientPrint = try await Self.fingerprint(client)

    // A server leaf with 3 days left, as an old one would be.
    try FileManager.default.removeItem(at: server)
    _ = try await Self.make(["DAYS=3"], certs: certs)
    #expect(try await Self.lifetime(server) == 3)
    let renewal = try await Self.make([], certs: certs)
    #expect(
      renewal.stdoutText.contains("server.crt expires within 7 days"), "\(renewal.stdoutText)")
    #expect(try await Self.lifetime(server) == 90)
    #expect(try await Self.fingerprint(ca) == caPrint, "the CA was replaced")
    #expect(
      try await Self.fingerprint(client) == clientPrint, "a leaf far from its end was renewed")
    let verify = try await runOpenSSL(["verify", "-CAfile", ca.path, server.path])
    #expect(verify.stdoutText.contains("OK"), "\(verify.stdoutText)")

    // Nothing to do the next time.
    let again = try await Self.make([], certs: certs)
    #expect(!again.stdoutText.contains("issuing"), "\(again.stdoutText)")
  }
}
