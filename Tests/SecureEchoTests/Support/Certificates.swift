import Foundation
import Sockets

/// A certificate and its private key, as PEM files.
struct Identity {
  var certificate: URL
  var key: URL
}

/// Certificates the development set does not have (another CA, a key that matches nothing),
/// made with the `openssl` tool like `make certs` makes the development ones: ECDSA P-256.
struct CertificateFactory {
  let directory: TemporaryDirectory

  /// A new private key.
  func makeKey(_ name: String) async throws -> URL {
    let key = directory.file("\(name).key")
    try await openssl([
      "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.path,
    ])
    return key
  }

  /// A self-signed CA, unrelated to the development CA.
  func makeCA(_ name: String) async throws -> Identity {
    let key = try await makeKey(name)
    let certificate = directory.file("\(name).crt")
    try await openssl([
      "req", "-x509", "-new", "-key", key.path, "-days", "2",
      "-subj", "/O=SecureEcho Tests/CN=\(name)",
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      "-out", certificate.path,
    ])
    return Identity(certificate: certificate, key: key)
  }

  /// A server certificate for `names` (DNS names and IP addresses) signed by `ca`: everything
  /// right about it except, in the tests that use it, who signed it.
  func makeServerCertificate(_ name: String, signedBy ca: Identity, names: [String]) async throws
    -> Identity
  {
    let key = try await makeKey(name)
    let request = directory.file("\(name).csr")
    let extensions = directory.file("\(name).ext")
    let certificate = directory.file("\(name).crt")
    let alternativeNames = names.map { name in
      SocketAddress(numericHost: name, port: 0) != nil ? "IP:\(name)" : "DNS:\(name)"
    }
    try """
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature, keyEncipherment
    extendedKeyUsage = serverAuth
    subjectAltName = \(alternativeNames.joined(separator: ", "))
    """.write(to: extensions, atomically: true, encoding: .utf8)
    try await openssl([
      "req", "-new", "-key", key.path, "-subj", "/O=SecureEcho Tests/CN=\(names[0])",
      "-out", request.path,
    ])
    try await openssl([
      "x509", "-req", "-in", request.path, "-CA", ca.certificate.path, "-CAkey", ca.key.path,
      "-set_serial", "0x\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))",
      "-days", "2", "-extfile", extensions.path, "-out", certificate.path,
    ])
    return Identity(certificate: certificate, key: key)
  }

  private func openssl(_ arguments: [String]) async throws {
    let result = try await runCommand(
      try Locations.openssl(), arguments, currentDirectory: directory.url)
    guard result.termination == .exit(0) else {
      throw TestFailure(
        "openssl \(arguments.joined(separator: " ")) failed (\(result.termination)): \(result.stderr)"
      )
    }
  }
}
