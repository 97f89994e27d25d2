import CTLS

/// One private key (`EVP_PKEY`), freed with this object.
///
/// `@unchecked Sendable`: a key is never changed once made or loaded, and OpenSSL 3 signs with
/// one key from several threads at once (each signature has a context of its own).
final class PrivateKey: @unchecked Sendable {
  let key: OpaquePointer

  private init(owning key: OpaquePointer) { self.key = key }

  deinit { EVP_PKEY_free(key) }

  enum Algorithm {
    /// ECDSA P-256, as the development certificates.
    case p256
    case rsa(bits: Int32)
  }

  /// A new key, made in memory: the leaves the server issues itself never touch the disk.
  static func generate(_ algorithm: Algorithm) throws(TLSError) -> PrivateKey {
    OpenSSLErrorQueue.clear()
    let operation = "generate a private key"
    let name =
      switch algorithm {
      case .p256: "EC"
      case .rsa: "RSA"
      }
    guard let context = EVP_PKEY_CTX_new_from_name(nil, name, nil) else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "no \(name) keys")
    }
    defer { EVP_PKEY_CTX_free(context) }
    var configured = EVP_PKEY_keygen_init(context) == 1
    switch algorithm {
    case .p256: configured = configured && EVP_PKEY_CTX_set_group_name(context, "P-256") == 1
    case .rsa(let bits):
      configured = configured && EVP_PKEY_CTX_set_rsa_keygen_bits(context, bits) == 1
    }
    var key: OpaquePointer?
    guard configured, EVP_PKEY_generate(context, &key) == 1, let key else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "key generation failed")
    }
    return PrivateKey(owning: key)
  }

  /// The key in the PEM file at `path`.
  static func load(_ path: String, what: String) throws(TLSError) -> PrivateKey {
    let key = try readingPEM(path, what: what) { PEM_read_bio_PrivateKey($0, nil, nil, nil) }
    guard let key else {
      throw TLSError.fromQueue(
        .configuration, "cannot load \(what) '\(path)'", fallback: "not a PEM private key")
    }
    return PrivateKey(owning: key)
  }
}

/// Opens the PEM file at `path` for `read`, after checking it can be read, so that a missing
/// file is reported with the path and errno rather than as a chain of BIO errors.
func readingPEM<T>(
  _ path: String, what: String, _ read: (OpaquePointer) -> T
) throws(TLSError) -> T {
  try TLSContext.checkReadable(path, what: what)
  OpenSSLErrorQueue.clear()
  guard let file = BIO_new_file(path, "r") else {
    throw TLSError.fromQueue(
      .configuration, "cannot load \(what) '\(path)'", fallback: "cannot open")
  }
  defer { BIO_free(file) }
  return read(file)
}

/// One X.509 certificate, freed with this object. `@unchecked Sendable` for the same reason as
/// `PrivateKey`: never changed once made, and OpenSSL counts its references atomically.
final class Certificate: @unchecked Sendable {
  let x509: OpaquePointer

  init(owning x509: OpaquePointer) { self.x509 = x509 }

  deinit { X509_free(x509) }

  /// The certificates of the PEM file at `path`, in order; at least one.
  static func load(_ path: String, what: String) throws(TLSError) -> [Certificate] {
    let certificates = try readingPEM(path, what: what) { file in
      var all: [Certificate] = []
      while let x509 = PEM_read_bio_X509(file, nil, nil, nil) {
        all.append(Certificate(owning: x509))
      }
      return all
    }
    // The end of the file reads as an error.
    OpenSSLErrorQueue.clear()
    guard !certificates.isEmpty else {
      throw TLSError(
        .configuration, "cannot load \(what) '\(path)'", reason: "no PEM certificate in it")
    }
    return certificates
  }

  /// Whether `key` is this certificate's own key.
  func matches(_ key: PrivateKey) -> Bool {
    guard let publicKey = X509_get0_pubkey(x509) else { return false }
    return EVP_PKEY_eq(publicKey, key.key) == 1
  }
}
