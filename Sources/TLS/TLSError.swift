import CTLS

#if canImport(Glibc)
  import Glibc
#endif

/// A TLS failure: the operation, what kind of failure it was, and OpenSSL's reasons in words.
public struct TLSError: Error, CustomStringConvertible {
  public enum Kind: Sendable, Equatable {
    /// Loading certificates, keys or settings failed.
    case configuration
    /// A file could not be opened or read: `code` holds errno (ENOENT, EACCES, EISDIR...).
    case fileAccess
    /// The handshake failed (protocol error, bad certificate, not TLS at all...).
    case handshake
    /// The peer's certificate did not verify (untrusted, expired, wrong name).
    case verification
    /// The peer closed the TCP connection without a close_notify alert.
    case uncleanEOF
    /// The socket failed underneath TLS (reset, broken pipe): `code` holds errno.
    case io
    /// A TLS protocol error after the handshake.
    case protocolError
  }

  public var kind: Kind
  public var operation: String
  public var reason: String
  /// errno for `.io` and `.fileAccess`, else 0.
  public var code: Int32

  public init(_ kind: Kind, _ operation: String, reason: String, code: Int32 = 0) {
    self.kind = kind
    self.operation = operation
    self.reason = reason
    self.code = code
  }

  /// An error whose reason is the calling thread's OpenSSL error queue, which this drains.
  static func fromQueue(_ kind: Kind, _ operation: String, fallback: String) -> TLSError {
    let queue = OpenSSLErrorQueue.drain()
    return TLSError(
      kind, operation, reason: queue.isEmpty ? fallback : queue.joined(separator: "; "))
  }

  public var description: String { "\(operation): \(reason)" }
}

/// The per-thread OpenSSL error queue, rendered as text.
enum OpenSSLErrorQueue {
  /// Takes every entry off this thread's queue, oldest first, as
  /// `error:0A00018E:SSL routines::ca md too weak` plus any detail OpenSSL attached
  /// (a file name, an errno text).
  static func drain() -> [String] {
    var entries: [String] = []
    var buffer = [CChar](repeating: 0, count: 256)
    while true {
      var data: UnsafePointer<CChar>?
      var flags: Int32 = 0
      let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
      if code == 0 { break }
      ERR_error_string_n(code, &buffer, buffer.count)
      var text = String(
        decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      if flags & ERR_TXT_STRING != 0, let data, data.pointee != 0 {
        text += " (\(String(cString: data)))"
      }
      if !entries.contains(text) { entries.append(text) }
    }
    return entries
  }

  /// The reason codes now on the queue, without draining it.
  static func peekReason() -> Int32 {
    ERR_GET_REASON(ERR_peek_error())
  }

  static func clear() { ERR_clear_error() }
}
