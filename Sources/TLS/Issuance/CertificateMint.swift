import CTLS

#if canImport(Glibc)
  import Glibc
#endif

/// Issues server certificates in memory, for exactly the name a client asked for: a wildcard
/// covers one label only, and fault names have several (`delay-200.small-records-512.fault.…`).
enum CertificateMint {
  /// What the leaf says: its one DNS name and when it is valid (seconds since 1970).
  struct Leaf {
    var dnsName: String
    var key: PrivateKey
    var notBefore: Int
    var notAfter: Int
  }

  /// Signs `leaf` with `signer` (its certificate and key), or with the leaf's own key when
  /// `signer` is nil (a self-signed certificate).
  static func issue(
    _ leaf: Leaf, signer: (certificate: Certificate, key: PrivateKey)?
  ) throws(TLSError) -> Certificate {
    let operation = "issue a certificate for '\(leaf.dnsName)'"
    // The name goes into an extension written as text ("DNS:name"): a comma would add entries.
    guard !leaf.dnsName.isEmpty, leaf.dnsName.utf8.count <= 253,
      leaf.dnsName.utf8.allSatisfy({ dnsBytes.contains($0) })
    else {
      throw TLSError(.configuration, operation, reason: "not a DNS name")
    }
    OpenSSLErrorQueue.clear()
    guard let x509 = X509_new() else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "X509_new failed")
    }
    let certificate = Certificate(owning: x509)
    let subject = try name(operation)
    defer { X509_NAME_free(subject) }
    let issuerName = signer.map { X509_get_subject_name($0.certificate.x509) } ?? subject
    guard X509_set_version(x509, 2) == 1,  // v3
      setSerial(x509),
      ASN1_TIME_set(X509_getm_notBefore(x509), time_t(leaf.notBefore)) != nil,
      ASN1_TIME_set(X509_getm_notAfter(x509), time_t(leaf.notAfter)) != nil,
      X509_set_subject_name(x509, subject) == 1,
      X509_set_issuer_name(x509, issuerName) == 1,
      X509_set_pubkey(x509, leaf.key.key) == 1
    else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "cannot fill in the fields")
    }
    let isRSA = EVP_PKEY_get_base_id(leaf.key.key) == EVP_PKEY_RSA
    let extensions: [(Int32, String)] = [
      (NID_basic_constraints, "critical,CA:FALSE"),
      (
        NID_key_usage,
        isRSA ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"
      ),
      (NID_ext_key_usage, "serverAuth"),
      (NID_subject_alt_name, "DNS:\(leaf.dnsName)"),
      (NID_subject_key_identifier, "hash"),
      (NID_authority_key_identifier, "keyid"),
    ]
    var context = X509V3_CTX()
    X509V3_set_ctx(&context, signer?.certificate.x509 ?? x509, x509, nil, nil, 0)
    for (nid, value) in extensions {
      guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
        throw TLSError.fromQueue(.configuration, operation, fallback: "extension \(value)")
      }
      defer { X509_EXTENSION_free(ext) }
      guard X509_add_ext(x509, ext, -1) == 1 else {
        throw TLSError.fromQueue(.configuration, operation, fallback: "extension \(value)")
      }
    }
    guard X509_sign(x509, (signer?.key ?? leaf.key).key, EVP_sha256()) > 0 else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "signing failed")
    }
    return certificate
  }

  /// `O=SecureEcho Scenarios, CN=SecureEcho issued name`: the common name is not a host name on
  /// purpose (names may be longer than a CN's 64 bytes; the SAN carries the name).
  private static func name(_ operation: String) throws(TLSError) -> OpaquePointer {
    guard let name = X509_NAME_new() else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "X509_NAME_new failed")
    }
    for (field, value) in [("O", "SecureEcho Scenarios"), ("CN", "SecureEcho issued name")] {
      guard X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC, value, -1, -1, 0) == 1 else {
        X509_NAME_free(name)
        throw TLSError.fromQueue(.configuration, operation, fallback: "cannot set \(field)")
      }
    }
    return name
  }

  /// 127 random bits: unique per certificate, as RFC 5280 asks of an issuer.
  private static func setSerial(_ x509: OpaquePointer) -> Bool {
    guard let number = BN_new() else { return false }
    defer { BN_free(number) }
    return BN_rand(number, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1
      && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(x509)) != nil
  }

  private static let dnsBytes = Set(
    Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-".utf8))
}
