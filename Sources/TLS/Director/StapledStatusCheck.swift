import CTLS

/// A verifying client's check of the OCSP response a server staples (status_request): a
/// response signed for the certificate's issuer that says "revoked" fails the handshake, and
/// the stream says why. No response, or one that says anything else or does not verify, lets
/// the handshake go on, as browsers do (a staple is optional).
enum StapledStatusCheck {
  static func install(on context: OpaquePointer) {
    _ = ctls_CTX_request_ocsp_status(context)
    _ = ctls_CTX_set_status_callback(context, callback)
  }

  /// Called after the server's certificate verified: 1 goes on, 0 fails the handshake.
  private static let callback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 =
    { ssl, _ in
      guard let ssl, let state = ConnectionCallbackState.of(ssl),
        let reason = revocationReason(ssl)
      else {
        OpenSSLErrorQueue.clear()
        return 1
      }
      state.revocation = reason
      return 0
    }

  /// The revocation reason of a verified stapled response that says the leaf is revoked.
  private static func revocationReason(_ ssl: OpaquePointer) -> String? {
    var bytes: UnsafePointer<UInt8>?
    let length = ctls_get_stapled_ocsp(ssl, &bytes)
    var cursor = bytes
    guard length > 0, cursor != nil, let response = d2i_OCSP_RESPONSE(nil, &cursor, length)
    else { return nil }
    defer { OCSP_RESPONSE_free(response) }
    guard OCSP_response_status(response) == OCSP_RESPONSE_STATUS_SUCCESSFUL,
      let basic = OCSP_response_get1_basic(response)
    else { return nil }
    defer { OCSP_BASICRESP_free(basic) }
    guard let chain = SSL_get0_verified_chain(ssl), OPENSSL_sk_num(chain) >= 2,
      let leaf = OPENSSL_sk_value(chain, 0), let issuer = OPENSSL_sk_value(chain, 1),
      let id = OCSP_cert_to_id(nil, OpaquePointer(leaf), OpaquePointer(issuer))
    else { return nil }
    defer { OCSP_CERTID_free(id) }
    var status: Int32 = 0
    var reason: Int32 = 0
    guard OCSP_resp_find_status(basic, id, &status, &reason, nil, nil, nil) == 1,
      status == V_OCSP_CERTSTATUS_REVOKED,
      let store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)),
      OCSP_basic_verify(basic, chain, store, 0) == 1
    else { return nil }
    return reason >= 0 ? String(cString: OCSP_crl_reason_str(Int(reason))) : "no reason given"
  }
}
