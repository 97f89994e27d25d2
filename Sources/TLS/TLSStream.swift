import CTLS
import Faults
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// What a TLS operation on a (possibly non-blocking) socket did.
public enum TLSResult<Value> {
  /// It finished with this value.
  case done(Value)
  /// It needs the socket to become readable, then the same call again.
  case wantRead
  /// It needs the socket to become writable, then the same call again.
  case wantWrite
  /// The peer sent close_notify: it will send no more.
  case closed
}

/// One TLS connection (`SSL`) over a socket it owns. Blocking or non-blocking, as its socket is.
///
/// Not `Sendable`: an `SSL` is used by one thread at a time.
public final class TLSStream {
  public let socket: Socket
  /// nil once closed: the `SSL` is freed together with the descriptor, never after it (a freed
  /// descriptor number is soon another connection's).
  private var handle: OpaquePointer?
  /// Kept alive for as long as the `SSL`: OpenSSL's callbacks reach Swift state through it.
  let context: TLSContext
  /// The server name the client asked for and checks the certificate against.
  public let serverName: String?
  /// With `eventLoopIO`: the socket as OpenSSL sees it, through SecureEcho's own BIO.
  let endpoint: SocketEndpoint?
  /// A server's record of the client's first ClientHello, as it came (for the report).
  private var helloCapture: HelloCapture?
  /// What this connection's C callbacks decide and learn (faults, scenarios, what the server
  /// announced); nil when its context has none of them.
  let callbackState: ConnectionCallbackState?

  /// Wraps `socket` in a TLS connection from `context` (its role decides client or server).
  /// For a client, `serverName` is sent as SNI (when it is a DNS name) and the certificate is
  /// checked against it (as a name or an IP address) if the context verifies peers.
  ///
  /// `eventLoopIO`, for a non-blocking event loop: OpenSSL reads and writes through
  /// `SocketEndpoint`, which sends the records of one write as one burst (the caller calls
  /// `push()` before it waits), tells when the socket was drained (`inputDrained`) and counts
  /// system calls. Blocking callers leave it off and get OpenSSL's socket BIO.
  ///
  /// `faults`: a server's faults for this connection, unless its server name asks for others
  /// (the context's `HandshakeDirector` decides in the ClientHello).
  public init(
    socket: Socket, context: TLSContext, serverName: String? = nil, eventLoopIO: Bool = false,
    faults: FaultPlan = .none
  ) throws(TLSError) {
    OpenSSLErrorQueue.clear()
    guard let ssl = SSL_new(context.context) else {
      throw TLSError.fromQueue(.configuration, "create TLS connection", fallback: "SSL_new failed")
    }
    self.handle = ssl
    self.socket = socket
    self.context = context
    self.serverName = serverName
    if eventLoopIO {
      let endpoint = SocketEndpoint(descriptor: socket.descriptor)
      self.endpoint = endpoint
      guard let bio = SocketBIOMethod.shared.makeBIO(for: endpoint) else {
        throw TLSError.fromQueue(.configuration, "attach socket", fallback: "BIO_new failed")
      }
      // One BIO for both directions: SSL_set_bio takes over this one reference.
      SSL_set_bio(ssl, bio, bio)
      SSL_set_default_read_buffer_len(ssl, Self.eventLoopReadBuffer)
    } else {
      self.endpoint = nil
      guard SSL_set_fd(ssl, socket.descriptor) == 1 else {
        throw TLSError.fromQueue(.configuration, "attach socket", fallback: "SSL_set_fd failed")
      }
    }
    helloCapture =
      context.role == .server && !HelloCapture.isDisabled ? HelloCapture(watching: ssl) : nil
    let callbacks = context.callbacks
    if callbacks.director != nil || callbacks.hasClientCallbacks {
      callbackState = ConnectionCallbackState(defaultFaults: faults)
      callbackState?.attach(to: ssl)
    } else {
      callbackState = nil
    }
    switch context.role {
    case .server:
      SSL_set_accept_state(ssl)
    case .client:
      SSL_set_connect_state(ssl)
      if let serverName {
        try configureServerName(serverName, verify: context.configuration.verifyPeer)
      }
    }
  }

  /// Takes `ssl` (set up for its role, its BIO to be attached by the caller): DTLS streams,
  /// which bring their own datagram BIO (`TLSStream+Datagram`).
  init(adopting ssl: OpaquePointer, socket: Socket, context: TLSContext, serverName: String?) {
    self.handle = ssl
    self.socket = socket
    self.context = context
    self.serverName = serverName
    self.endpoint = nil
    self.callbackState = nil
    self.helloCapture = nil
  }

  deinit {
    // Runs before `socket` is released, so the `SSL` never outlives its descriptor.
    if let handle { SSL_free(handle) }
  }

  /// The live `SSL`. Any use after `close()` is a programmer error and stops the process.
  @inline(__always)
  var ssl: OpaquePointer {
    guard let handle else { preconditionFailure("TLS I/O after close") }
    return handle
  }

  public var isOpen: Bool { handle != nil }

  /// Frees the `SSL` and closes the descriptor, in that order and together. Idempotent.
  public func close() {
    if let handle {
      SSL_free(handle)
      self.handle = nil
    }
    socket.close()
  }

  /// The capture, no longer watched: after this the message callback cannot fire.
  func takeCapture() -> HelloCapture? {
    defer { helloCapture = nil }
    helloCapture?.stopWatching(ssl)
    return helloCapture
  }

  /// Whether OpenSSL holds input already read off the socket (a whole record or part of one).
  public var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

  /// With `eventLoopIO`: sends what a write that stopped halfway left held back (MSG_MORE).
  public func push() throws(SocketError) {
    precondition(isOpen, "TLS I/O after close")
    try endpoint?.push()
  }

  /// With `eventLoopIO`: records sent with MSG_MORE wait for `push()`.
  public var holdsBackOutput: Bool { endpoint?.holdsBackOutput ?? false }

  /// With `eventLoopIO`: the socket was found empty by the last read and OpenSSL holds no
  /// input either, so reading now would only find EAGAIN.
  public var inputDrained: Bool { (endpoint?.drained ?? false) && !hasBufferedInput }

  /// An idle connection gives OpenSSL's record buffers back (when they are empty), so that it
  /// costs what OpenSSL's own idle `SSL` costs; the next record allocates them again.
  /// Not over DTLS, whose record layer keeps pointers into them.
  public func releaseIdleBuffers() {
    guard !isDatagram else { return }
    _ = SSL_free_buffers(ssl)
  }

  /// System calls made for this connection (with `eventLoopIO`): `read(2)`; `send(2)`, one per
  /// record or part of one, and of those, the sends with MSG_MORE; pushes (`setsockopt`, after
  /// a write that stopped halfway).
  public var systemCalls: (reads: Int, sends: Int, heldSends: Int, pushes: Int) {
    guard let endpoint else { return (0, 0, 0, 0) }
    return (endpoint.reads, endpoint.sends, endpoint.heldSends, endpoint.pushes)
  }

  func configureServerName(_ name: String, verify: Bool) throws(TLSError) {
    let isIP = SocketAddress(numericHost: name, port: 0) != nil
    let bare = name.hasPrefix("[") ? String(name.dropFirst().dropLast()) : name
    // RFC 6066: SNI carries host names only, never literal addresses.
    if !isIP && ctls_set_tlsext_host_name(ssl, name) != 1 {
      throw TLSError.fromQueue(
        .configuration, "set server name '\(name)'", fallback: "invalid name")
    }
    guard verify else { return }
    let ok: Bool
    if isIP {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), bare) == 1
    } else {
      ok = SSL_set1_host(ssl, name) == 1
    }
    if !ok {
      throw TLSError.fromQueue(
        .configuration, "check server name '\(name)'", fallback: "invalid name")
    }
  }

  // MARK: I/O

  /// Runs (or continues) the handshake.
  public func handshake() throws(TLSError) -> TLSResult<Void> {
    Self.clearErrors()
    let result = SSL_do_handshake(ssl)
    if result == 1 {
      if endpoint != nil { keepBuffersForTraffic() }
      helloCapture?.stopWatching(ssl)
      return .done(())
    }
    return try interpret(result, "TLS handshake", handshake: true)
  }

  /// Read buffer of a loop's connection: four full records and their overhead, so that one
  /// read(2) takes up to four records and the echo answers them with one burst of writes.
  static let eventLoopReadBuffer = 64 * 1024 + 1024

  /// After the handshake, a loop's connection keeps its record buffers while it is busy
  /// instead of freeing and allocating them around every record (SSL_MODE_RELEASE_BUFFERS);
  /// the loop gives them back once it idles (`releaseIdleBuffers`). Not before: thousands of
  /// concurrent handshakes would each hold theirs between flights.
  private func keepBuffersForTraffic() {
    _ = ctls_clear_mode(ssl, Int(SSL_MODE_RELEASE_BUFFERS))
  }

  /// Reads decrypted bytes into `buffer` (at most one TLS record's worth).
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSResult<Int> {
    Self.clearErrors()
    var count = 0
    let result = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
    if result == 1 { return .done(count) }
    return try interpret(result, "TLS read", handshake: false)
  }

  /// Encrypts and sends what the socket takes of `buffer` now (partial writes are on).
  /// `buffer` must not be empty.
  public func write(_ buffer: UnsafeRawBufferPointer) throws(TLSError) -> TLSResult<Int> {
    precondition(!buffer.isEmpty, "SSL_write with 0 bytes is undefined")
    Self.clearErrors()
    var count = 0
    endpoint?.beginWrite(buffer.count, recordSize: recordSize)
    defer { endpoint?.endWrite() }
    let result = SSL_write_ex(ssl, buffer.baseAddress, buffer.count, &count)
    if result == 1 { return .done(count) }
    return try interpret(result, "TLS write", handshake: false)
  }

  /// Sends close_notify. `.done(true)` once the peer's close_notify has also been received,
  /// `.done(false)` when ours is sent and theirs has not come yet (reads may go on: a half-close).
  public func shutdown() throws(TLSError) -> TLSResult<Bool> {
    Self.clearErrors()
    let result = SSL_shutdown(ssl)
    if result == 1 { return .done(true) }
    if result == 0 { return .done(false) }
    let outcome: TLSResult<Bool> = try interpret(result, "TLS shutdown", handshake: false)
    switch outcome {
    case .wantRead: return .wantRead
    case .wantWrite: return .wantWrite
    case .closed, .done: return .done(true)
    }
  }

  /// Both error channels the next call may leave a result in: a stale errno would turn an
  /// unclean EOF (SSL_ERROR_SYSCALL with errno 0) into a false "reset".
  @inline(__always)
  private static func clearErrors() {
    OpenSSLErrorQueue.clear()
    errno = 0
  }

  /// Turns a failed call's result into an outcome, right after the call on the same thread,
  /// as OpenSSL's error queue and errno require.
  private func interpret<T>(
    _ result: Int32, _ operation: String, handshake: Bool
  ) throws(TLSError) -> TLSResult<T> {
    let savedErrno = errno
    switch SSL_get_error(ssl, result) {
    case SSL_ERROR_WANT_READ: return .wantRead
    case SSL_ERROR_WANT_WRITE: return .wantWrite
    // Held in the ClientHello callback (`handshake-stall`): nothing to wait for but time.
    case SSL_ERROR_WANT_CLIENT_HELLO_CB: return .wantRead
    case SSL_ERROR_ZERO_RETURN: return .closed
    case SSL_ERROR_SYSCALL:
      let queue = OpenSSLErrorQueue.drain()
      if !queue.isEmpty {
        throw TLSError(.protocolError, operation, reason: queue.joined(separator: "; "))
      }
      if savedErrno == 0 {
        throw TLSError(
          .uncleanEOF, operation, reason: "the peer closed the connection without close_notify")
      }
      let failure = SystemCall.failure(operation, errno: savedErrno)
      throw TLSError(.io, operation, reason: failure.reason, code: savedErrno)
    default:
      // OpenSSL 3 reports a TCP close without close_notify as this SSL error.
      if OpenSSLErrorQueue.peekReason() == SSL_R_UNEXPECTED_EOF_WHILE_READING {
        OpenSSLErrorQueue.clear()
        throw TLSError(
          .uncleanEOF, operation, reason: "the peer closed the connection without close_notify")
      }
      if handshake, let revocation = callbackState?.revocation {
        OpenSSLErrorQueue.clear()
        throw TLSError(
          .verification, "certificate verification",
          reason: "certificate revoked (stapled OCSP response, reason: \(revocation))")
      }
      let verify = SSL_get_verify_result(ssl)
      if handshake && verify != Int(X509_V_OK) {
        OpenSSLErrorQueue.clear()
        let text = String(cString: X509_verify_cert_error_string(verify))
        throw TLSError(.verification, "certificate verification", reason: text)
      }
      throw TLSError.fromQueue(
        handshake ? .handshake : .protocolError, operation, fallback: "TLS error")
    }
  }

  // MARK: What was negotiated

  /// `TLSv1.3`, `TLSv1.2`.
  public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

  /// The IANA-style OpenSSL cipher name, e.g. `TLS_AES_256_GCM_SHA384`.
  public var cipher: String {
    guard let cipher = SSL_get_current_cipher(ssl) else { return "none" }
    return String(cString: SSL_CIPHER_get_name(cipher))
  }

  /// The peer certificate's subject (`CN=localhost, O=...`), or nil if it sent none.
  public var peerCertificateSubject: String? {
    guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
    defer { X509_free(certificate) }
    return Self.render(X509_get_subject_name(certificate))
  }

  /// The peer certificate's issuer, or nil if it sent none.
  public var peerCertificateIssuer: String? {
    guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
    defer { X509_free(certificate) }
    return Self.render(X509_get_issuer_name(certificate))
  }

  /// The key-exchange group (`X25519`, `secp256r1`), or nil before the handshake.
  public var negotiatedGroup: String? {
    let id = ctls_get_negotiated_group(ssl)
    guard id != 0, let name = SSL_group_to_name(ssl, id) else { return nil }
    return String(cString: name)
  }

  /// The ALPN protocol both sides agreed on, or nil.
  public var alpnProtocol: String? {
    var data: UnsafePointer<UInt8>?
    var length: UInt32 = 0
    SSL_get0_alpn_selected(ssl, &data, &length)
    guard let data, length > 0 else { return nil }
    return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
  }

  /// Whether the handshake resumed an earlier session (a ticket) instead of a full handshake.
  public var isResumed: Bool { SSL_session_reused(ssl) == 1 }

  /// The server name the client asked for by SNI (on either side), or nil.
  public var requestedServerName: String? {
    guard let name = SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)) else { return nil }
    return String(cString: name)
  }

  /// The session to resume later in memory (nil if the server gave none that can be resumed).
  /// Over TLS 1.3 the ticket arrives after the handshake, with the first data read.
  public func resumableSession() -> TLSSession? {
    guard let session = SSL_get1_session(ssl) else { return nil }
    guard SSL_SESSION_is_resumable(session) == 1 else {
      SSL_SESSION_free(session)
      return nil
    }
    return TLSSession(owning: session)
  }

  /// Offers `session` for resumption. Call before the handshake.
  public func offer(_ session: TLSSession) {
    _ = SSL_set_session(ssl, session.session)
  }

  /// Whether the peer's certificate verified (`ok`) or why not.
  public var verificationResult: String {
    let result = SSL_get_verify_result(ssl)
    return result == Int(X509_V_OK) ? "ok" : String(cString: X509_verify_cert_error_string(result))
  }

  static func render(_ name: OpaquePointer?) -> String? {
    guard let name, let bio = BIO_new(BIO_s_mem()) else { return nil }
    defer { BIO_free(bio) }
    let flags = ctls_XN_FLAG_RFC2253() & ~UInt(ASN1_STRFLGS_ESC_MSB)
    guard X509_NAME_print_ex(bio, name, 0, flags) >= 0 else { return nil }
    var bytes: UnsafeMutablePointer<CChar>?
    let count = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &bytes)
    guard let bytes, count > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
  }
}
