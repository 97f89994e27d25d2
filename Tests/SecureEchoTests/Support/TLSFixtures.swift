import Foundation

extension CertificateFactory {
  /// A client certificate (extendedKeyUsage clientAuth) signed by `ca`.
  func makeClientCertificate(_ name: String, signedBy ca: Identity) async throws -> Identity {
    let key = try await makeKey(name)
    let request = directory.file("\(name).csr")
    let extensions = directory.file("\(name).ext")
    let certificate = directory.file("\(name).crt")
    try """
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature
    extendedKeyUsage = clientAuth
    """.write(to: extensions, atomically: true, encoding: .utf8)
    try await runOpenSSL(
      [
        "req", "-new", "-key", key.path, "-subj", "/O=SecureEcho Tests/CN=\(name)", "-out",
        request.path,
      ],
      in: directory.url)
    try await runOpenSSL(
      [
        "x509", "-req", "-in", request.path, "-CA", ca.certificate.path, "-CAkey", ca.key.path,
        "-set_serial", "0x\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))",
        "-days", "2", "-extfile", extensions.path, "-out", certificate.path,
      ], in: directory.url)
    return Identity(certificate: certificate, key: key)
  }
}

/// Runs the `openssl` tool and fails the test with its stderr if it fails.
@discardableResult
func runOpenSSL(_ arguments: [String], in directory: URL = Locations.repositoryRoot) async throws
  -> CommandResult
{
  let result = try await runCommand(try Locations.openssl(), arguments, currentDirectory: directory)
  guard result.termination == .exit(0) else {
    throw TestFailure(
      "openssl \(arguments.joined(separator: " ")) failed (\(result.termination)): \(result.stderr)"
    )
  }
  return result
}

/// The development identities, as the Makefile makes them.
enum DevelopmentIdentity {
  static var ca: Identity {
    Identity(
      certificate: Locations.caCertificate,
      key: Locations.certificates.appendingPathComponent("ca.key"))
  }
  static var client: Identity {
    Identity(
      certificate: Locations.certificates.appendingPathComponent("client.crt"),
      key: Locations.certificates.appendingPathComponent("client.key"))
  }
}
