import CTLS
import Sockets

/// A DER OCSP response to staple, checked when it is loaded (start-up and every reload): a
/// file that is not an OCSP response, a response that is not "successful", or one for another
/// certificate would make every client that asks for status (`s_client -status`) fail its
/// handshake, so it is refused with the reason instead of being stapled.
///
/// A "revoked" or "unknown" certificate status, or an expired response, is served as it is:
/// testing how a client handles those is a reason to staple one. `summary` says which it is.
struct OCSPStaple: Sendable {
  let der: [UInt8]
  /// `status good, this update 2026-12-01 10:00:00Z, next update 2026-12-02 10:00:00Z`.
  let summary: String

  /// Reads `path` and checks it against the leaf certificate of `chainFile` (and, when the
  /// chain holds it, its issuer).
  init(path: String, chainFile: String) throws(TLSError) {
    let option = "--ocsp-response '\(path)'"
    try TLSContext.checkReadable(path, what: "OCSP response")
    let der = try CallbackState.readFile(path, what: "OCSP response")
    let certificates = try Certificate.load(chainFile, what: "certificate")
    // The pointers below are the certificates' own: they must outlive every use.
    defer { withExtendedLifetime(certificates) {} }
    let chain = certificates.map(\.x509)
    let leaf = chain[0]
    OpenSSLErrorQueue.clear()
    let (parsed, consumed) = der.withUnsafeBufferPointer { bytes -> (OpaquePointer?, Int) in
      guard let start = bytes.baseAddress else { return (nil, 0) }
      var cursor: UnsafePointer<UInt8>? = start
      let response = d2i_OCSP_RESPONSE(nil, &cursor, bytes.count)
      return (response, cursor.map { $0 - start } ?? 0)
    }
    guard let response = parsed, consumed == der.count else {
      if let parsed { OCSP_RESPONSE_free(parsed) }
      OpenSSLErrorQueue.clear()
      throw TLSError(
        .configuration, option,
        reason: parsed == nil ? "not a DER OCSP response" : "bytes after the DER OCSP response")
    }
    defer { OCSP_RESPONSE_free(response) }
    let status = OCSP_response_status(response)
    guard status == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
      let name = String(cString: OCSP_response_status_str(Int(status)))
      throw TLSError(
        .configuration, option, reason: "the response status is '\(name)', not 'successful'")
    }
    guard let basic = OCSP_response_get1_basic(response) else {
      OpenSSLErrorQueue.clear()
      throw TLSError(.configuration, option, reason: "no basic OCSP response in it")
    }
    defer { OCSP_BASICRESP_free(basic) }
    let issuer = chain.count > 1 ? chain[1] : nil
    for index in 0..<OCSP_resp_count(basic) {
      guard let single = OCSP_resp_get0(basic, index),
        Self.matches(OCSP_SINGLERESP_get0_id(single), leaf: leaf, issuer: issuer)
      else { continue }
      self.der = der
      self.summary = Self.describe(single)
      return
    }
    let serial = Self.hex(X509_get0_serialNumber(leaf))
    throw TLSError(
      .configuration, option,
      reason: "the response is not for the certificate of --cert '\(chainFile)' (serial \(serial))")
  }

  /// Whether the certificate ID names `leaf`: its serial number and its issuer's name hash,
  /// and, when the issuer certificate is at hand, its key hash.
  private static func matches(_ id: OpaquePointer?, leaf: OpaquePointer, issuer: OpaquePointer?)
    -> Bool
  {
    guard let id else { return false }
    var nameHash: UnsafeMutablePointer<ASN1_OCTET_STRING>?
    var algorithm: OpaquePointer?
    var keyHash: UnsafeMutablePointer<ASN1_OCTET_STRING>?
    var serial: UnsafeMutablePointer<ASN1_INTEGER>?
    guard OCSP_id_get0_info(&nameHash, &algorithm, &keyHash, &serial, id) == 1,
      let serial, ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(leaf)) == 0,
      let algorithm, let digest = ctls_get_digest_by_object(algorithm)
    else { return false }
    var buffer = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    guard X509_NAME_digest(X509_get_issuer_name(leaf), digest, &buffer, &length) == 1,
      equal(nameHash, buffer, length)
    else { return false }
    guard let issuer else { return true }
    return X509_pubkey_digest(issuer, digest, &buffer, &length) == 1
      && equal(keyHash, buffer, length)
  }

  private static func equal(
    _ string: UnsafeMutablePointer<ASN1_OCTET_STRING>?, _ bytes: [UInt8], _ length: UInt32
  ) -> Bool {
    guard let string, ASN1_STRING_length(string) == Int32(length),
      let data = ASN1_STRING_get0_data(string)
    else { return false }
    return UnsafeBufferPointer(start: data, count: Int(length)).elementsEqual(
      bytes.prefix(Int(length)))
  }

  private static func describe(_ single: OpaquePointer) -> String {
    var reason: Int32 = 0
    var revoked: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
    var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
    var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
    let status = OCSP_single_get0_status(single, &reason, &revoked, &thisUpdate, &nextUpdate)
    var parts = ["status \(String(cString: OCSP_cert_status_str(Int(status))))"]
    if let thisUpdate { parts.append("this update \(time(thisUpdate))") }
    if let nextUpdate { parts.append("next update \(time(nextUpdate))") }
    if let thisUpdate, OCSP_check_validity(thisUpdate, nextUpdate, 300, -1) != 1 {
      OpenSSLErrorQueue.clear()
      parts.append("expired or not yet valid")
    }
    return parts.joined(separator: ", ")
  }

  private static func time(_ time: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { return "?" }
    defer { BIO_free(bio) }
    guard ASN1_TIME_print(bio, time) == 1 else { return "?" }
    var bytes: UnsafeMutablePointer<CChar>?
    let count = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &bytes)
    guard let bytes, count > 0 else { return "?" }
    return String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
  }

  private static func hex(_ integer: UnsafePointer<ASN1_INTEGER>?) -> String {
    guard let integer, let number = ASN1_INTEGER_to_BN(integer, nil) else { return "?" }
    defer { BN_free(number) }
    guard let text = BN_bn2hex(number) else { return "?" }
    defer { ctls_free(text) }
    return String(cString: text)
  }
}
