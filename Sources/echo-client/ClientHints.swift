import TLS

/// What a failure most likely means for the user, appended to the error line only where the
/// symptom points at one cause.
enum ClientHints {
  /// A TLS handshake that failed on the first bytes the server sent back: a plaintext echo
  /// server returns our own ClientHello, which OpenSSL reads as an unexpected message.
  static func handshake(_ error: TLSError, serverName: String? = nil) -> String {
    let notTLS = ["unexpected message", "wrong version number", "packet length too long"]
    if notTLS.contains(where: error.reason.contains) {
      return " (is the server in plaintext mode? then connect with --plaintext)"
    }
    // A SecureEcho server refuses a fault or scenario name it cannot parse this way.
    if error.reason.contains("unrecognized name"), let serverName,
      serverName.contains("fault.") || serverName.contains("scenario.")
    {
      return " (the server did not accept the faults or scenario of '\(serverName)': its log "
        + "says why)"
    }
    return certificateHint(error.reason)
  }

  /// A connection that failed after the handshake: over TLS 1.3 the server checks the client's
  /// certificate after the client already counts the handshake as done.
  static func afterHandshake(_ error: Error) -> String {
    guard case .tls(let tls) = error as? TransportError else { return "" }
    return certificateHint(tls.reason)
  }

  /// The first error of a bench run, by its words (the load connections keep no typed error).
  static func bench(_ message: String, plaintext: Bool) -> String {
    if plaintext {
      return message.contains("closed the connection after 0 bytes")
        ? " (if the server speaks TLS, leave out --plaintext)" : ""
    }
    let notTLS = ["unexpected message", "wrong version number", "packet length too long"]
    return notTLS.contains(where: message.contains)
      ? " (is the server in plaintext mode? then add --plaintext)" : ""
  }

  /// A server certificate that did not verify: what to pass instead.
  static func verification(_ reason: String, serverName: String?) -> String {
    if reason.contains("hostname mismatch") || reason.contains("IP address mismatch") {
      return " (checked against '\(serverName ?? "")': connect by a name the certificate has, or "
        + "give it with --servername)"
    }
    if reason.contains("local issuer") || reason.contains("self-signed")
      || reason.contains("self signed")
    {
      return " (pass --cafile with the CA that signed it; certs/ca.crt is the default only "
        + "when run from the SecureEcho checkout)"
    }
    return ""
  }

  private static func certificateHint(_ reason: String) -> String {
    if reason.contains("certificate required") {
      return " (the server asks for a client certificate: pass --cert and --key)"
    }
    if ["unknown ca", "bad certificate", "certificate expired", "certificate unknown"].contains(
      where: reason.contains)
    {
      return " (the server refused the client certificate: check --cert against its --client-ca)"
    }
    return ""
  }
}
