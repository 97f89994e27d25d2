import CTLS
import Faults
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// Issues the certificate of a fault name or certificate scenario for the exact name a client
/// asked for, from the CAs `make certs` writes to certs/scenarios (`--scenarios DIR`):
///
/// - `issuer-ca`: an intermediate of the development CA, limited by name constraints to names
///   under `localhost`: the server holds its key, never the development CA's;
/// - `untrusted-root-ca`: a root no client trusts (the `untrusted-root` scenario);
/// - `client-ca.crt`: the CA whose client certificates `client-cert-required` accepts.
///
/// Leaves are made in memory with keys made at start-up, and kept in a bounded cache: a name
/// costs one signature the first time it is asked for, and nothing after.
public final class ScenarioIssuer: Sendable {
  /// The files of the directory, as `make certs` names them.
  public static let files = [
    "issuer-ca.crt", "issuer-ca.key", "untrusted-root-ca.crt", "untrusted-root-ca.key",
    "client-ca.crt",
  ]

  let issuer: (certificate: Certificate, key: PrivateKey)
  let untrustedRoot: (certificate: Certificate, key: PrivateKey)
  let clientTrust: ClientCertificateTrust
  /// The key of every leaf but `weak-key`'s.
  private let leafKey: PrivateKey
  /// RSA-768: below OpenSSL's default security level 1 (80 bits), above what TLS 1.3's RSA-PSS
  /// signatures need, so the handshake reaches the client's check of the key.
  private let weakKey: PrivateKey
  private let cache = ThreadLock(IdentityCache())

  public init(directory: String) throws(TLSError) {
    func pair(_ name: String, _ what: String) throws(TLSError) -> (Certificate, PrivateKey) {
      let certificate = try Certificate.load("\(directory)/\(name).crt", what: what)[0]
      let key = try PrivateKey.load("\(directory)/\(name).key", what: "\(what) key")
      guard certificate.matches(key) else {
        throw TLSError(
          .configuration, "cannot load \(what) '\(directory)/\(name).crt'",
          reason: "its key '\(directory)/\(name).key' does not match (run 'make certs')")
      }
      return (certificate, key)
    }
    issuer = try pair("issuer-ca", "scenario issuer")
    untrustedRoot = try pair("untrusted-root-ca", "untrusted root")
    clientTrust = try ClientCertificateTrust(caFile: "\(directory)/client-ca.crt")
    leafKey = try PrivateKey.generate(.p256)
    weakKey = try PrivateKey.generate(.rsa(bits: 768))
  }

  /// Whether the issuer may sign for names under `suffix`: its name constraints (the one that
  /// `make certs` makes allows names under `localhost` only), if it has any, permit them.
  func canIssue(under suffix: String) -> Bool {
    guard let raw = X509_get_ext_d2i(issuer.certificate.x509, NID_name_constraints, nil, nil)
    else {
      OpenSSLErrorQueue.clear()
      return true
    }
    let constraints = raw.assumingMemoryBound(to: NAME_CONSTRAINTS.self)
    defer { NAME_CONSTRAINTS_free(constraints) }
    let probe = CertificateMint.Leaf(
      dnsName: "probe.\(suffix)", key: leafKey, notBefore: 0, notAfter: 1)
    guard let leaf = try? CertificateMint.issue(probe, signer: issuer) else { return false }
    // The check reads the names OpenSSL decodes into its cache of a certificate's extensions,
    // which a certificate made in memory has only once something asks for them.
    _ = X509_get_extension_flags(leaf.x509)
    return NAME_CONSTRAINTS_check(leaf.x509, constraints) == X509_V_OK
  }

  /// The identity for `serverName`: a good certificate for it (`scenario` nil: a fault name),
  /// or one wrong in the way `scenario` says.
  func identity(for scenario: Scenario?, serverName: String) throws(TLSError) -> IssuedIdentity {
    let key = "\(scenario?.rawValue ?? "-") \(serverName.lowercased())"
    let now = Int(time(nil))
    if let cached = cache.withLock({ $0.lookup(key, now: now) }) { return cached }
    let identity = try issue(scenario, serverName.lowercased(), now: now)
    cache.withLock { $0.store(identity, as: key) }
    return identity
  }

  private func issue(
    _ scenario: Scenario?, _ name: String, now: Int
  ) throws(TLSError) -> IssuedIdentity {
    var leaf = CertificateMint.Leaf(
      dnsName: name, key: leafKey, notBefore: now - 3600, notAfter: now + 7 * 86_400)
    var signer: (certificate: Certificate, key: PrivateKey)? = issuer
    var chain = [issuer.certificate]
    switch scenario {
    case .expired:
      (leaf.notBefore, leaf.notAfter) = (1_577_836_800, 1_580_515_200)  // 2020-01-01 to 02-01
    case .notYetValid:
      (leaf.notBefore, leaf.notAfter) = (4_070_908_800, 4_102_358_400)  // 2099-01-01 to 12-31
    case .wrongHost: leaf.dnsName = "wrong-host.localhost"
    case .selfSigned:
      signer = nil
      chain = []
    case .untrustedRoot:
      signer = untrustedRoot
      chain = [untrustedRoot.certificate]
    case .incompleteChain: chain = []
    case .weakKey: leaf.key = weakKey
    case .revoked, .clientCertRequired, .noCommonALPN, nil: break
    }
    let certificate = try CertificateMint.issue(leaf, signer: signer)
    let ocsp =
      scenario == .revoked
      ? try OCSPMint.revoked(
        certificate, issuer: issuer.certificate, issuerKey: issuer.key, revokedAt: now - 86_400,
        now: now)
      : nil
    return try IssuedIdentity(
      leaf: certificate, key: leaf.key, chain: chain, ocspResponse: ocsp, issuedAt: now)
  }
}

/// A leaf, its key and the chain sent with it, ready to be given to a connection.
///
/// `@unchecked Sendable`: nothing changes after init; the chain's stack holds pointers the
/// `chain` array keeps alive, and `SSL_use_cert_and_key` only reads it (taking references of
/// its own), so loops may install one identity at once.
final class IssuedIdentity: @unchecked Sendable {
  let leaf: Certificate
  let key: PrivateKey
  let chain: [Certificate]
  let ocspResponse: [UInt8]?
  let issuedAt: Int
  private let stack: OpaquePointer

  init(
    leaf: Certificate, key: PrivateKey, chain: [Certificate], ocspResponse: [UInt8]?,
    issuedAt: Int
  ) throws(TLSError) {
    guard let stack = ctls_chain_new() else {
      throw TLSError.fromQueue(.configuration, "make a certificate chain", fallback: "no memory")
    }
    self.stack = stack
    for certificate in chain where ctls_chain_push(stack, certificate.x509) <= 0 {
      ctls_chain_free(stack)
      throw TLSError.fromQueue(.configuration, "make a certificate chain", fallback: "no memory")
    }
    self.leaf = leaf
    self.key = key
    self.chain = chain
    self.ocspResponse = ocspResponse
    self.issuedAt = issuedAt
  }

  deinit { ctls_chain_free(stack) }

  /// Makes this the certificate `ssl` presents, instead of its context's. The context's are
  /// cleared first: OpenSSL keeps one per key type and would pick the context's ECDSA one over
  /// an issued RSA one (or the other way round) by the client's preferences.
  func install(on ssl: OpaquePointer) -> Bool {
    SSL_certs_clear(ssl)
    return SSL_use_cert_and_key(ssl, leaf.x509, key.key, stack, 1) == 1
  }
}

/// Issued identities by scenario and name, at most `capacity`, the oldest let go first. A
/// client can ask for any number of names; the cache holds what a test suite uses.
struct IdentityCache {
  static let capacity = 1024
  /// Leaves are valid for a week; after a day one is issued again.
  static let lifetime = 86_400

  private var entries: [String: IssuedIdentity] = [:]
  private var order: [String] = []

  func lookup(_ key: String, now: Int) -> IssuedIdentity? {
    guard let identity = entries[key], now - identity.issuedAt < Self.lifetime else { return nil }
    return identity
  }

  mutating func store(_ identity: IssuedIdentity, as key: String) {
    if entries.updateValue(identity, forKey: key) == nil { order.append(key) }
    if order.count > Self.capacity { entries[order.removeFirst()] = nil }
  }
}

/// The client CAs of the `client-cert-required` scenario: the store certificates are verified
/// with, and the names sent in the CertificateRequest. Owned here; connections take references.
final class ClientCertificateTrust: @unchecked Sendable {
  // Sendable: both are only read once loaded (`SSL_set1_verify_cert_store` up-references the
  // store; the names are copied for each connection).
  let store: OpaquePointer
  let names: OpaquePointer

  init(caFile: String) throws(TLSError) {
    try TLSContext.checkReadable(caFile, what: "client CA file")
    OpenSSLErrorQueue.clear()
    guard let store = X509_STORE_new() else {
      throw TLSError.fromQueue(.configuration, "X509_STORE_new", fallback: "no memory")
    }
    guard X509_STORE_load_file(store, caFile) == 1, let names = SSL_load_client_CA_file(caFile)
    else {
      X509_STORE_free(store)
      throw TLSError.fromQueue(
        .configuration, "cannot load client CA file '\(caFile)'", fallback: "no certificate")
    }
    self.store = store
    self.names = names
  }

  deinit {
    X509_STORE_free(store)
    ctls_names_free(names)
  }

  /// Asks `ssl`'s client for a certificate signed by these CAs, and refuses it without one.
  func require(on ssl: OpaquePointer) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
    _ = ctls_set1_verify_cert_store(ssl, store)
    if let copy = SSL_dup_CA_list(names) { SSL_set_client_CA_list(ssl, copy) }
    // Sessions that carry a client's identity resume only under a session id context.
    let id = Array("secureecho-scenario".utf8)
    _ = SSL_set_session_id_context(ssl, id, UInt32(id.count))
  }
}
