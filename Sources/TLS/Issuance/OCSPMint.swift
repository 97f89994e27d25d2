import CTLS

#if canImport(Glibc)
  import Glibc
#endif

/// Writes OCSP responses in memory: the `revoked` scenario staples one for the certificate it
/// issued a moment before, signed by the same issuer (RFC 6960 lets a CA answer for its own
/// certificates), so that a client checking the staple finds a valid response saying revoked.
enum OCSPMint {
  /// A DER "successful" response saying `leaf` (issued by `issuer`) was revoked for key
  /// compromise at `revokedAt`, valid from `now` for a week.
  static func revoked(
    _ leaf: Certificate, issuer: Certificate, issuerKey: PrivateKey, revokedAt: Int, now: Int
  ) throws(TLSError) -> [UInt8] {
    let operation = "make the OCSP response of the revoked scenario"
    OpenSSLErrorQueue.clear()
    guard let id = OCSP_cert_to_id(EVP_sha1(), leaf.x509, issuer.x509) else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "no certificate ID")
    }
    defer { OCSP_CERTID_free(id) }
    guard let basic = OCSP_BASICRESP_new() else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "OCSP_BASICRESP_new failed")
    }
    defer { OCSP_BASICRESP_free(basic) }
    let times = [revokedAt, now, now + 7 * 86_400].map { ASN1_TIME_set(nil, time_t($0)) }
    defer { for time in times { ASN1_TIME_free(time) } }
    guard times.allSatisfy({ $0 != nil }),
      OCSP_basic_add1_status(
        basic, id, V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_KEYCOMPROMISE, times[0],
        times[1], times[2]) != nil,
      OCSP_basic_sign(basic, issuer.x509, issuerKey.key, EVP_sha256(), nil, 0) == 1,
      let response = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic)
    else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "cannot sign the response")
    }
    defer { OCSP_RESPONSE_free(response) }
    let length = i2d_OCSP_RESPONSE(response, nil)
    guard length > 0 else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "cannot encode the response")
    }
    var der = [UInt8](repeating: 0, count: Int(length))
    let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
      var cursor = buffer.baseAddress
      return i2d_OCSP_RESPONSE(response, &cursor)
    }
    guard written == length else {
      throw TLSError.fromQueue(.configuration, operation, fallback: "cannot encode the response")
    }
    return der
  }
}
