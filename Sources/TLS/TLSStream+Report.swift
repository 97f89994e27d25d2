import CTLS

/// What the handshake report adds to the stream's negotiated facts.
extension TLSStream {
  /// The client's first ClientHello (a server's stream), handed over once: the capture is let
  /// go with it, so a held connection keeps nothing of it. nil when none came.
  public func takeClientHello() -> (message: [UInt8], records: Int, helloRetried: Bool)? {
    guard let capture = takeCapture() else { return nil }
    guard let message = capture.take() else { return nil }
    return (message, capture.records, capture.helloRetried)
  }

  /// The server's own handshake signature, as key type and digest (`ECDSA+SHA256`,
  /// `RSA-PSS+SHA256`), or nil (a resumption signs nothing).
  public var signature: String? {
    var digest: Int32 = 0
    guard ctls_get_signature_nid(ssl, &digest) == 1, digest != 0,
      let certificate = SSL_get_certificate(ssl), let key = X509_get0_pubkey(certificate)
    else { return nil }
    let type =
      switch EVP_PKEY_get_base_id(key) {
      case EVP_PKEY_EC: "ECDSA"
      case EVP_PKEY_RSA: SSL_version(ssl) == TLS1_3_VERSION ? "RSA-PSS" : "RSA"
      case EVP_PKEY_RSA_PSS: "RSA-PSS"
      case EVP_PKEY_ED25519: "Ed25519"
      default: "key type \(EVP_PKEY_get_base_id(key))"
      }
    return "\(type)+\(String(cString: OBJ_nid2sn(digest)))"
  }

  /// The client certificate's serial number in hex, or nil when it sent none.
  public var peerCertificateSerial: String? {
    guard let certificate = SSL_get0_peer_certificate(ssl),
      let serial = X509_get0_serialNumber(certificate),
      let number = ASN1_INTEGER_to_BN(serial, nil)
    else { return nil }
    defer { BN_free(number) }
    guard let hex = BN_bn2hex(number) else { return nil }
    defer { ctls_free(hex) }
    return String(cString: hex)
  }
}
