import CTLS
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// One `SSL_CTX`: certificates, trust and protocol settings shared by every connection, and
/// for a server, one more per SNI name.
///
/// `@unchecked Sendable`: once built, a context is only read (OpenSSL locks its own reference
/// counts), so any loop thread may create connections from it; the state the C callbacks use
/// is `Sendable` on its own. A reload builds a new context instead of changing this one.
public final class TLSContext: @unchecked Sendable {
  public enum Role: Sendable {
    case server, client
  }

  public let role: Role
  public let configuration: TLSConfiguration
  let context: OpaquePointer
  /// Server: the contexts chosen by SNI, by lowercase name. Owned here, so they live as long
  /// as the main context whose callback hands them out.
  private let named: [String: TLSContext]
  /// What the C callbacks of every context of this server (or client) need; each `SSL_CTX`
  /// points at it through ex_data, and each `TLSContext` keeps it alive.
  let callbacks: CallbackState

  /// Builds and checks a context. Every failure names the file or setting and OpenSSL's reason.
  /// `previous`: the context this one replaces (a reload); its session-ticket keys are kept, so
  /// that clients holding tickets still resume.
  public convenience init(
    _ configuration: TLSConfiguration, role: Role, replacing previous: TLSContext? = nil
  ) throws(TLSError) {
    let callbacks = try CallbackState(
      configuration, role: role, ticketKeys: previous?.callbacks.ticketKeys)
    var named: [String: TLSContext] = [:]
    for identity in configuration.namedIdentities {
      named[identity.serverName.lowercased()] = try TLSContext(
        configuration, role: role,
        identity: (identity.certificateChainFile, identity.privateKeyFile),
        callbacks: callbacks, named: [:], primary: false)
    }
    let identity = configuration.certificateChainFile.map { ($0, configuration.privateKeyFile) }
    try self.init(
      configuration, role: role, identity: identity, callbacks: callbacks, named: named,
      primary: true)
  }

  private init(
    _ configuration: TLSConfiguration, role: Role, identity: (String, String?)?,
    callbacks: CallbackState, named: [String: TLSContext], primary: Bool
  ) throws(TLSError) {
    OpenSSLErrorQueue.clear()
    let method =
      configuration.datagram
      ? (role == .server ? DTLS_server_method() : DTLS_client_method())
      : (role == .server ? TLS_server_method() : TLS_client_method())
    guard let context = SSL_CTX_new(method) else {
      throw TLSError.fromQueue(.configuration, "create TLS context", fallback: "SSL_CTX_new failed")
    }
    self.role = role
    self.configuration = configuration
    self.context = context
    self.named = named
    self.callbacks = callbacks
    // From here on `deinit` frees the context if a step below throws.
    try configureProtocol()
    try configureCiphers()
    if let identity { try loadIdentity(chain: identity.0, key: identity.1) }
    if role == .server && identity == nil {
      throw TLSError(.configuration, "configure server", reason: "a certificate is required")
    }
    try loadTrust()
    try callbacks.install(on: context, role: role, primary: primary)
    if role == .server && !named.isEmpty {
      ctls_CTX_set_servername_callback(
        context, TLSContext.selectByServerName, Unmanaged.passUnretained(self).toOpaque())
    }
  }

  deinit { SSL_CTX_free(context) }

  /// The stapled OCSP response's certificate status and validity, for the log; nil if none.
  public var stapledOCSPSummary: String? { callbacks.ocspStaple?.summary }

  /// The context for `serverName`, if SNI asked for one this server has. `report.NAME` asks
  /// for NAME's certificate and the handshake report.
  func namedContext(_ serverName: String) -> TLSContext? {
    let name = serverName.lowercased()
    return named[name]
      ?? (name.hasPrefix(Self.reportPrefix) ? named[String(name.dropFirst(7))] : nil)
  }

  /// The server-name prefix with which a client asks for the handshake report.
  public static let reportPrefix = "report."

  /// The OpenSSL the process runs with (`OpenSSL 3.0.17 1 Jul 2025`), which may be newer than
  /// the headers it was built against.
  public static var libraryVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

  /// OpenSSL's SNI callback: switches the connection to the named identity, if any.
  private static let selectByServerName: ctls_servername_cb = { ssl, _, argument in
    guard let ssl, let argument,
      let name = SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name))
    else { return SSL_TLSEXT_ERR_OK }
    let main = Unmanaged<TLSContext>.fromOpaque(argument).takeUnretainedValue()
    // A certificate the director issued for this name (its ClientHello callback ran first)
    // stays: switching contexts would replace it with the named context's.
    if ConnectionCallbackState.of(ssl)?.decision?.identity != nil { return SSL_TLSEXT_ERR_OK }
    if let chosen = main.namedContext(String(cString: name)) {
      _ = SSL_set_SSL_CTX(ssl, chosen.context)
    }
    return SSL_TLSEXT_ERR_OK
  }

  private func configureProtocol() throws(TLSError) {
    let versions = configuration.versionRange
    if configuration.datagram {
      try configureDatagrams(versions)
    } else {
      guard ctls_CTX_set_min_proto_version(context, versions.minimum.openSSLValue) == 1,
        ctls_CTX_set_max_proto_version(context, versions.maximum.openSSLValue) == 1
      else {
        throw TLSError.fromQueue(
          .configuration,
          "set TLS versions \(versions.minimum.rawValue)-\(versions.maximum.rawValue)",
          fallback: "unsupported version")
      }
    }
    var options = ctls_OP_NO_COMPRESSION() | ctls_OP_NO_RENEGOTIATION()
    if role == .server {
      options |= ctls_OP_CIPHER_SERVER_PREFERENCE()
      // One TLS 1.3 ticket per connection instead of OpenSSL's two: a client resuming one
      // connection at a time needs one, and each ticket costs the server an encryption.
      if configuration.sessionTickets { _ = SSL_CTX_set_num_tickets(context, 1) }
      if !configuration.sessionTickets {
        // NO_TICKET alone only turns TLS 1.3 tickets stateful; zero tickets turns them off.
        options |= ctls_OP_NO_TICKET()
        _ = SSL_CTX_set_num_tickets(context, 0)
      }
    }
    SSL_CTX_set_options(context, options)
    // Partial writes let a non-blocking loop write what the socket takes; a moving buffer lets
    // a retried write come from a different address; released buffers keep handshakes and
    // idle connections small (a server's loop keeps them while a connection is busy:
    // `TLSStream.handshake`).
    _ = ctls_CTX_set_mode(
      context,
      Int(SSL_MODE_ENABLE_PARTIAL_WRITE) | Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)
        | Int(SSL_MODE_RELEASE_BUFFERS))
    // Read ahead: whole records per read(2) instead of a header, then a body. (A datagram is
    // read whole anyway.)
    if !configuration.datagram { _ = ctls_CTX_set_read_ahead(context, 1) }
  }

  /// DTLS 1.2, the one version OpenSSL 3.0 has; the MTU is the configuration's, not asked of
  /// the kernel (loopback's is 64 KiB, no path's); a server answers a ClientHello only once
  /// the client has returned the stateless cookie of `DTLSCookies`.
  private func configureDatagrams(
    _ versions: (minimum: TLSConfiguration.Version, maximum: TLSConfiguration.Version)
  ) throws(TLSError) {
    guard versions.minimum == .tls12 else {
      throw TLSError(
        .configuration, "DTLS", reason: "OpenSSL 3.0 has DTLS 1.2 only, and TLS 1.3 is required")
    }
    guard ctls_CTX_set_min_proto_version(context, DTLS1_2_VERSION) == 1,
      ctls_CTX_set_max_proto_version(context, DTLS1_2_VERSION) == 1
    else {
      throw TLSError.fromQueue(.configuration, "set DTLS 1.2", fallback: "unsupported version")
    }
    var options = ctls_OP_NO_QUERY_MTU()
    if role == .server {
      options |= ctls_OP_COOKIE_EXCHANGE()
      DTLSCookies.install(on: context)
    }
    SSL_CTX_set_options(context, options)
  }

  private func configureCiphers() throws(TLSError) {
    let profile = configuration.profile
    let ciphers = configuration.ciphers ?? profile.tls12Ciphers
    guard SSL_CTX_set_cipher_list(context, ciphers) == 1 else {
      throw TLSError.fromQueue(
        .configuration, "--ciphers '\(ciphers)'", fallback: "no cipher matches")
    }
    let suites = configuration.ciphersuites ?? profile.tls13Ciphersuites
    guard SSL_CTX_set_ciphersuites(context, suites) == 1 else {
      throw TLSError.fromQueue(
        .configuration, "--ciphersuites '\(suites)'", fallback: "no ciphersuite matches")
    }
    let groups = configuration.groups ?? profile.groups
    guard ctls_CTX_set1_groups_list(context, groups) == 1 else {
      throw TLSError.fromQueue(.configuration, "--groups '\(groups)'", fallback: "unknown group")
    }
  }

  private func loadIdentity(chain: String, key: String?) throws(TLSError) {
    guard let key else {
      throw TLSError(.configuration, "load certificate '\(chain)'", reason: "no private key given")
    }
    try Self.checkReadable(chain, what: "certificate")
    try Self.checkReadable(key, what: "private key")
    guard SSL_CTX_use_certificate_chain_file(context, chain) == 1 else {
      throw TLSError.fromQueue(
        .configuration, "cannot load certificate '\(chain)'", fallback: "not a PEM certificate")
    }
    guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
      if OpenSSLErrorQueue.peekReason() == X509_R_KEY_VALUES_MISMATCH {
        throw TLSError.fromQueue(
          .configuration, "private key '\(key)' does not match certificate '\(chain)'",
          fallback: "key values mismatch")
      }
      throw TLSError.fromQueue(
        .configuration, "cannot load private key '\(key)'", fallback: "not a PEM private key")
    }
    guard SSL_CTX_check_private_key(context) == 1 else {
      throw TLSError.fromQueue(
        .configuration, "private key '\(key)' does not match certificate '\(chain)'",
        fallback: "key values mismatch")
    }
  }

  private func loadTrust() throws(TLSError) {
    switch role {
    case .client:
      guard configuration.verifyPeer else { return }
      SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
      if let caFile = configuration.trustedCAFile {
        try loadCAFile(caFile, what: "CA file")
      } else if SSL_CTX_set_default_verify_paths(context) != 1 {
        throw TLSError.fromQueue(
          .configuration, "cannot load the system's trusted certificates", fallback: "unknown")
      }
    case .server:
      let mode: Int32
      switch configuration.clientVerification {
      case .none: return
      case .optional: mode = SSL_VERIFY_PEER
      // Without FAIL_IF_NO_PEER_CERT, a client that sends no certificate passes as verified.
      case .required: mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
      }
      guard let caFile = configuration.trustedCAFile else {
        throw TLSError(
          .configuration, "--verify-client \(configuration.clientVerification.rawValue)",
          reason: "needs --client-ca")
      }
      try loadCAFile(caFile, what: "client CA file")
      // Tell clients which CAs the server accepts, so they can pick a matching certificate.
      if let names = SSL_load_client_CA_file(caFile) { SSL_CTX_set_client_CA_list(context, names) }
      SSL_CTX_set_verify(context, mode, nil)
      // Resumed sessions carry the client's identity; OpenSSL refuses to resume them without
      // a session id context.
      let id = Array("secureecho".utf8)
      _ = SSL_CTX_set_session_id_context(context, id, UInt32(id.count))
    }
  }

  private func loadCAFile(_ caFile: String, what: String) throws(TLSError) {
    try Self.checkReadable(caFile, what: what)
    guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
      throw TLSError.fromQueue(
        .configuration, "cannot load \(what) '\(caFile)'", fallback: "no certificate in file")
    }
  }

  /// OpenSSL's own message for a missing file is a chain of BIO errors; checking first lets the
  /// user read "No such file or directory" next to the path.
  static func checkReadable(_ path: String, what: String) throws(TLSError) {
    let operation = "cannot load \(what) '\(path)'"
    do throws(SocketError) {
      try SystemCall.blocking(operation) { access(path, R_OK) }
      var status = stat()
      try SystemCall.blocking(operation) { stat(path, &status) }
      if (status.st_mode & S_IFMT) == S_IFDIR { throw SocketError(operation, errno: EISDIR) }
    } catch {
      throw TLSError(.fileAccess, operation, reason: error.reason, code: error.code)
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
