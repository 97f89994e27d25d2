import CTLS

#if canImport(Glibc)
  import Glibc
#endif

/// How a client learns which faults or certificate scenario the server applied to its
/// connection, without a byte of the echoed stream: a TLS extension of the private-use range
/// (RFC 8446, 4.2: 0xFF00 to 0xFFFF). echo-client sends it empty in its ClientHello; a
/// SecureEcho server answers in its ServerHello (TLS 1.2) or EncryptedExtensions (TLS 1.3)
/// with `scenario=expired;faults=delay-100`. Other servers ignore it, as they must an unknown
/// extension, and a server answers only a client that sent it.
enum FaultAnnouncement {
  static let extensionType: UInt32 = 0xFF5E
  private static let contexts =
    UInt32(SSL_EXT_CLIENT_HELLO) | UInt32(SSL_EXT_TLS1_2_SERVER_HELLO)
    | UInt32(SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS)

  static func installOnServer(_ context: OpaquePointer) {
    _ = SSL_CTX_add_custom_ext(
      context, extensionType, contexts, serverAdd, serverFree, nil, acceptAny, nil)
  }

  static func installOnClient(_ context: OpaquePointer) {
    _ = SSL_CTX_add_custom_ext(
      context, extensionType, contexts, clientAdd, nil, nil, clientParse, nil)
  }

  private typealias Add =
    @convention(c) (
      OpaquePointer?, UInt32, UInt32, UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
      UnsafeMutablePointer<Int>?, OpaquePointer?, Int, UnsafeMutablePointer<Int32>?,
      UnsafeMutableRawPointer?
    ) -> Int32
  private typealias Free =
    @convention(c) (
      OpaquePointer?, UInt32, UInt32, UnsafePointer<UInt8>?, UnsafeMutableRawPointer?
    ) -> Void
  private typealias Parse =
    @convention(c) (
      OpaquePointer?, UInt32, UInt32, UnsafePointer<UInt8>?, Int, OpaquePointer?, Int,
      UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?
    ) -> Int32

  /// Server: the decision's announcement, in memory `serverFree` gives back; nothing (0: the
  /// extension is left out) when nothing was applied. OpenSSL calls this only for a client
  /// that sent the extension.
  private static let serverAdd: Add = { ssl, _, _, out, outLength, _, _, _, _ in
    guard let out, let outLength,
      let text = ConnectionCallbackState.of(ssl)?.decision?.announcement(
        tls13: SSL_version(ssl) == TLS1_3_VERSION),
      let copy = malloc(text.utf8.count)
    else { return 0 }
    let bytes = copy.bindMemory(to: UInt8.self, capacity: text.utf8.count)
    _ = UnsafeMutableBufferPointer(start: bytes, count: text.utf8.count).initialize(from: text.utf8)
    out.pointee = UnsafePointer(bytes)
    outLength.pointee = text.utf8.count
    return 1
  }

  private static let serverFree: Free = { _, _, _, bytes, _ in
    free(UnsafeMutableRawPointer(mutating: bytes))
  }

  /// Either side: whatever the peer sent is fine (the server reads nothing in the client's).
  private static let acceptAny: Parse = { _, _, _, _, _, _, _, _, _ in 1 }

  /// Client: an empty extension in the ClientHello.
  private static let clientAdd: Add = { _, _, _, out, outLength, _, _, _, _ in
    out?.pointee = nil
    outLength?.pointee = 0
    return 1
  }

  /// Client: what the server said, kept for the handshake summary (capped: it is only shown).
  private static let clientParse: Parse = { ssl, _, _, data, length, _, _, _, _ in
    guard let data, length > 0, let state = ConnectionCallbackState.of(ssl) else { return 1 }
    let bytes = UnsafeBufferPointer(start: data, count: min(length, 512))
    state.announcement = String(
      decoding: bytes.map { (0x20..<0x7f).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    return 1
  }
}
