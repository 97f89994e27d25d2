import CTLS

#if canImport(Glibc)
  import Glibc
#endif

/// The client's first ClientHello exactly as it arrived, taken from OpenSSL's message callback:
/// OpenSSL 3.0's client-hello accessors hide the extensions it does not know (GREASE, ECH,
/// ALPS, post-quantum key shares), the message callback gives the whole reassembled message.
/// The callback runs only during the handshake (it would otherwise fire for every record), and
/// only on the thread driving this connection's `SSL`, so the fields need no lock.
public final class HelloCapture {
  /// A ClientHello is far smaller in practice; a larger one is not kept (the fingerprint of a
  /// hello that large says nothing a user needs).
  static let maximumLength = 64 * 1024
  /// `SECUREECHO_NO_HELLO_CAPTURE=1`: no capture, for `make bench` to measure what it costs.
  static let isDisabled = getenv("SECUREECHO_NO_HELLO_CAPTURE") != nil

  /// The first ClientHello handshake message, header included; nil until it has come.
  public private(set) var message: [UInt8]?
  /// The TLS records the bytes up to the end of that hello arrived in.
  public private(set) var records = 0
  /// A second ClientHello came: the server asked for another key share (HelloRetryRequest).
  public private(set) var helloRetried = false

  init(watching ssl: OpaquePointer) {
    SSL_set_msg_callback(ssl, helloMessageCallback)
    _ = ctls_set_msg_callback_arg(ssl, Unmanaged.passUnretained(self).toOpaque())
  }

  /// The handshake is over: no more callbacks for this connection's records.
  func stopWatching(_ ssl: OpaquePointer) {
    SSL_set_msg_callback(ssl, nil)
    _ = ctls_set_msg_callback_arg(ssl, nil)
  }

  /// Gives the captured hello away: nothing of it is kept once the report is built.
  public func take() -> [UInt8]? {
    defer { message = nil }
    return message
  }

  fileprivate func received(contentType: Int32, _ bytes: UnsafeRawBufferPointer) {
    if contentType == SSL3_RT_HEADER {
      // A record header: type 22 (handshake) records carry the hello.
      if message == nil && bytes.first == UInt8(SSL3_RT_HANDSHAKE) { records += 1 }
      return
    }
    guard contentType == SSL3_RT_HANDSHAKE, bytes.first == UInt8(SSL3_MT_CLIENT_HELLO) else {
      return
    }
    guard message == nil else {
      helloRetried = true
      return
    }
    message = bytes.count <= Self.maximumLength ? Array(bytes) : []
  }
}

/// OpenSSL's message callback: `arg` is the connection's `HelloCapture`, which its
/// `TLSStream` owns for as long as the `SSL` lives.
private let helloMessageCallback:
  @convention(c) (
    Int32, Int32, Int32, UnsafeRawPointer?, Int, OpaquePointer?, UnsafeMutableRawPointer?
  ) -> Void = { written, _, contentType, buffer, length, _, argument in
    guard written == 0, let buffer, let argument else { return }
    let capture = Unmanaged<HelloCapture>.fromOpaque(argument).takeUnretainedValue()
    capture.received(contentType: contentType, UnsafeRawBufferPointer(start: buffer, count: length))
  }
