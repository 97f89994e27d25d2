import CTLS
import Faults

/// The server's callbacks for faults and certificate scenarios: the ClientHello callback, where
/// each connection's `HandshakeDecision` is made and its handshake faults and certificate are
/// applied, and the stapling of an issued certificate's OCSP response.
extension CallbackState {
  /// Installed on every context of a server with a director (the SNI contexts too: a context
  /// switch copies the callbacks of the new one).
  func installDirector(on context: OpaquePointer) {
    SSL_CTX_set_client_hello_cb(context, Self.clientHello, nil)
    FaultAnnouncement.installOnServer(context)
  }

  /// The ClientHello callback: decides (once), then applies what the decision says that must
  /// happen before the ServerHello. Returning RETRY holds the handshake (`handshake-stall`):
  /// `SSL_do_handshake` reports SSL_ERROR_WANT_CLIENT_HELLO_CB until it is called again, and
  /// the connection does not call it again.
  private static let clientHello:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 =
      { ssl, alert, _ in
        guard let ssl, let alert, let director = of(ssl)?.director,
          let state = ConnectionCallbackState.of(ssl)
        else { return SSL_CLIENT_HELLO_SUCCESS }
        let decision =
          state.decision
          ?? director.decide(serverName: requestedName(ssl), defaults: state.defaultFaults)
        state.decision = decision
        switch decision.refusal {
        case .name?:
          alert.pointee = Int32(TLSAlert.unrecognizedName.rawValue)
          return SSL_CLIENT_HELLO_ERROR
        case .issue?:
          alert.pointee = Int32(TLSAlert.internalError.rawValue)
          return SSL_CLIENT_HELLO_ERROR
        case nil: break
        }
        for fault in decision.faults {
          switch fault {
          case .handshakeAlert(let chosen):
            alert.pointee = Int32(chosen.rawValue)
            return SSL_CLIENT_HELLO_ERROR
          case .handshakeStall:
            state.handshakeSuspended = true
            return SSL_CLIENT_HELLO_RETRY
          case .tickets(let count):
            _ = SSL_set_num_tickets(ssl, count)
            if count > 0 { _ = SSL_clear_options(ssl, ctls_OP_NO_TICKET()) }
          case .smallRecords(let size): _ = ctls_set_max_send_fragment(ssl, size)
          default: break
          }
        }
        if decision.scenario == .weakKey {
          // Without this, OpenSSL would refuse to present the key it is meant to present.
          SSL_set_security_level(ssl, 0)
        }
        if let identity = decision.identity, !identity.install(on: ssl) {
          OpenSSLErrorQueue.clear()
          alert.pointee = Int32(TLSAlert.internalError.rawValue)
          return SSL_CLIENT_HELLO_ERROR
        }
        if decision.scenario == .clientCertRequired {
          director.issuer?.clientTrust.require(on: ssl)
        }
        return SSL_CLIENT_HELLO_SUCCESS
      }

  /// The first host name of the ClientHello's server_name extension (RFC 6066), if any: the
  /// SNI callback, which would give it decoded, runs only after this one.
  private static func requestedName(_ ssl: OpaquePointer) -> String? {
    var data: UnsafePointer<UInt8>?
    var length = 0
    guard SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1,
      let data, length >= 5
    else { return nil }
    let bytes = UnsafeBufferPointer(start: data, count: length)
    let listLength = Int(bytes[0]) << 8 | Int(bytes[1])
    guard listLength + 2 <= length, bytes[2] == 0 else { return nil }
    let nameLength = Int(bytes[3]) << 8 | Int(bytes[4])
    guard nameLength > 0, nameLength <= 255, 5 + nameLength <= length else { return nil }
    let name = bytes[5..<(5 + nameLength)]
    // Names are ASCII: anything else is not a name the director could mean.
    guard name.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
    return String(decoding: name, as: UTF8.self)
  }

  /// The OCSP response of an issued certificate (the `revoked` scenario), or none: an issued
  /// certificate never gets the response of the context's own certificate.
  static func stapleIssued(_ ssl: OpaquePointer?) -> Int32? {
    guard let decision = ConnectionCallbackState.of(ssl)?.decision, decision.identity != nil
    else { return nil }
    guard let response = decision.identity?.ocspResponse else { return SSL_TLSEXT_ERR_NOACK }
    let ok = response.withUnsafeBufferPointer {
      ctls_set_ocsp_response(ssl, $0.baseAddress, $0.count)
    }
    return ok == 1 ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK
  }

  /// Whether this connection's scenario refuses every ALPN protocol (`no-common-alpn`).
  static func refusesALPN(_ ssl: OpaquePointer?) -> Bool {
    ConnectionCallbackState.of(ssl)?.decision?.scenario == .noCommonALPN
  }
}
