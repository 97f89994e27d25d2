import CTLS

#if canImport(Glibc)
  import Glibc
#endif

/// One `SSL_CTX`: certificates, trust and protocol settings shared by every connection.
///
/// `@unchecked Sendable`: once built, the context is only read (OpenSSL locks its own reference
/// counts and session cache), so any loop thread may create connections from it. A reload
/// builds a new context instead of changing this one.
public final class TLSContext: @unchecked Sendable {
  public enum Role: Sendable {
    case server, client
  }

  public let role: Role
  public let configuration: TLSConfiguration
  let context: OpaquePointer

  /// Builds and checks a context. Every failure names the file or setting and OpenSSL's reason.
  public init(_ configuration: TLSConfiguration, role: Role) throws(TLSError) {
    OpenSSLErrorQueue.clear()
    let method = role == .server ? TLS_server_method() : TLS_client_method()
    guard let context = SSL_CTX_new(method) else {
      throw TLSError.fromQueue(.configuration, "create TLS context", fallback: "SSL_CTX_new failed")
    }
    self.role = role
    self.configuration = configuration
    self.context = context
    // From here on `deinit` frees the context if a check below throws.
    try configureProtocol()
    try loadIdentity()
    try loadTrust()
  }

  deinit { SSL_CTX_free(context) }

  private func configureProtocol() throws(TLSError) {
    let versions = (configuration.minimumVersion, configuration.maximumVersion)
    guard ctls_CTX_set_min_proto_version(context, versions.0.openSSLValue) == 1,
      ctls_CTX_set_max_proto_version(context, versions.1.openSSLValue) == 1
    else {
      throw TLSError.fromQueue(
        .configuration, "set TLS versions \(versions.0.rawValue)-\(versions.1.rawValue)",
        fallback: "unsupported version")
    }
    var options = ctls_OP_NO_COMPRESSION() | ctls_OP_NO_RENEGOTIATION()
    if role == .server { options |= ctls_OP_CIPHER_SERVER_PREFERENCE() }
    SSL_CTX_set_options(context, options)
    // Partial writes let a non-blocking loop write what the socket takes; a moving buffer lets
    // a retried write come from a different address; released buffers keep idle connections
    // small.
    _ = ctls_CTX_set_mode(
      context,
      Int(SSL_MODE_ENABLE_PARTIAL_WRITE) | Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)
        | Int(SSL_MODE_RELEASE_BUFFERS))
  }

  private func loadIdentity() throws(TLSError) {
    guard let chain = configuration.certificateChainFile else {
      if role == .server {
        throw TLSError(.configuration, "configure server", reason: "a certificate is required")
      }
      return
    }
    guard let keyFile = configuration.privateKeyFile else {
      throw TLSError(.configuration, "load certificate '\(chain)'", reason: "no private key given")
    }
    try Self.checkReadable(chain, what: "certificate")
    try Self.checkReadable(keyFile, what: "private key")
    guard SSL_CTX_use_certificate_chain_file(context, chain) == 1 else {
      throw TLSError.fromQueue(
        .configuration, "cannot load certificate '\(chain)'", fallback: "not a PEM certificate")
    }
    guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
      if OpenSSLErrorQueue.peekReason() == X509_R_KEY_VALUES_MISMATCH {
        throw TLSError.fromQueue(
          .configuration, "private key '\(keyFile)' does not match certificate '\(chain)'",
          fallback: "key values mismatch")
      }
      throw TLSError.fromQueue(
        .configuration, "cannot load private key '\(keyFile)'", fallback: "not a PEM private key")
    }
    guard SSL_CTX_check_private_key(context) == 1 else {
      throw TLSError.fromQueue(
        .configuration, "private key '\(keyFile)' does not match certificate '\(chain)'",
        fallback: "key values mismatch")
    }
  }

  private func loadTrust() throws(TLSError) {
    if role == .client && configuration.verifyPeer {
      SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
    }
    guard configuration.verifyPeer else { return }
    if let caFile = configuration.trustedCAFile {
      try Self.checkReadable(caFile, what: "CA file")
      guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
        throw TLSError.fromQueue(
          .configuration, "cannot load CA file '\(caFile)'", fallback: "no certificate in file")
      }
    } else if SSL_CTX_set_default_verify_paths(context) != 1 {
      throw TLSError.fromQueue(
        .configuration, "cannot load the system's trusted certificates", fallback: "unknown")
    }
  }

  /// OpenSSL's own message for a missing file is a chain of BIO errors; checking first lets the
  /// user read "No such file or directory" next to the path.
  private static func checkReadable(_ path: String, what: String) throws(TLSError) {
    if access(path, R_OK) != 0 {
      let reason = String(cString: strerror(errno))
      throw TLSError(.configuration, "cannot load \(what) '\(path)'", reason: reason)
    }
    var status = stat()
    if stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR {
      throw TLSError(.configuration, "cannot load \(what) '\(path)'", reason: "Is a directory")
    }
  }
}

extension TLSConfiguration.Version {
  var openSSLValue: Int32 {
    switch self {
    case .tls12: TLS1_2_VERSION
    case .tls13: TLS1_3_VERSION
    }
  }
}
