import CTLS

/// A TLS session (with its ticket) that a client can offer to resume. Owns its `SSL_SESSION`.
///
/// `@unchecked Sendable`: OpenSSL reference-counts sessions with locks, and a session is only
/// read once made, so several connections on several threads may offer the same one.
public final class TLSSession: @unchecked Sendable {
  let session: OpaquePointer

  init(owning session: OpaquePointer) { self.session = session }

  deinit { SSL_SESSION_free(session) }

  /// A session saved by `save(to:)` or `openssl s_client -sess_out` (PEM).
  public convenience init(contentsOf path: String) throws(TLSError) {
    try TLSContext.checkReadable(path, what: "session file")
    let session = try Self.withFile(path, mode: "r") { file in
      PEM_read_bio_SSL_SESSION(file, nil, nil, nil)
    }
    guard let session else {
      throw TLSError.fromQueue(
        .configuration, "cannot read session file '\(path)'", fallback: "not a PEM session")
    }
    self.init(owning: session)
  }

  /// Saves the session (with its ticket) in PEM, as `openssl s_client -sess_out` does.
  public func save(to path: String) throws(TLSError) {
    let written = try Self.withFile(path, mode: "w") { file in
      PEM_write_bio_SSL_SESSION(file, session)
    }
    guard written == 1 else {
      throw TLSError.fromQueue(
        .configuration, "cannot write session file '\(path)'", fallback: "write failed")
    }
  }

  private static func withFile<T>(
    _ path: String, mode: String, _ body: (OpaquePointer) -> T
  ) throws(TLSError) -> T {
    guard let file = BIO_new_file(path, mode) else {
      throw TLSError.fromQueue(
        .configuration, "cannot open session file '\(path)'", fallback: "cannot open")
    }
    defer { BIO_free(file) }
    return body(file)
  }
}
