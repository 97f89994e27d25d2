import CTLS

#if canImport(Glibc)
  import Glibc
#endif

/// The stateless cookies of the DTLS cookie exchange (RFC 6347, 4.2.1): before it keeps any
/// state for a client, the server answers its first ClientHello with a HelloVerifyRequest
/// carrying a cookie the client must send back, which proves the client receives at the
/// address it claims. The cookie is an HMAC of that address and port under a secret of the
/// process, with the five-minute period it was made in: nothing is stored per client, a cookie
/// is valid for its period and the next, and one address's cookie is worth nothing from
/// another.
enum DTLSCookies {
  /// Made once per process.
  private static let secret: [UInt8] = {
    var bytes = [UInt8](repeating: 0, count: 32)
    precondition(RAND_bytes(&bytes, 32) == 1, "the system random generator failed")
    return bytes
  }()

  static let periodSeconds = 300

  /// The ex_data slot in which a listening `SSL` holds the BIO_ADDR of the datagram's peer.
  static let peerIndex: Int32 = ctls_get_ex_new_index()

  static func install(on context: OpaquePointer) {
    SSL_CTX_set_cookie_generate_cb(context, generate)
    SSL_CTX_set_cookie_verify_cb(context, verify)
  }

  /// The cookie for `ssl`'s peer in `period`: the period's low byte and
  /// 20 bytes of HMAC-SHA256. nil if the peer is unknown.
  static func cookie(for ssl: OpaquePointer, period: Int) -> [UInt8]? {
    var peer = [UInt8](repeating: 0, count: 32)
    let length = ctls_dgram_peer_bytes(ssl, peerIndex, &peer, peer.count)
    guard length > 0 else { return nil }
    var message = withUnsafeBytes(of: UInt64(period).bigEndian, Array.init)
    message += peer[..<length]
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var digestLength: UInt32 = 0
    guard
      HMAC(
        EVP_sha256(), secret, Int32(secret.count), message, message.count, &digest,
        &digestLength) != nil
    else { return nil }
    return [UInt8(truncatingIfNeeded: period)] + digest.prefix(20)
  }

  private static var currentPeriod: Int { Int(time(nil)) / periodSeconds }

  private static let generate:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt32>?)
      -> Int32 = { ssl, out, length in
        guard let ssl, let out, let length, let cookie = cookie(for: ssl, period: currentPeriod)
        else { return 0 }
        cookie.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: cookie.count) }
        length.pointee = UInt32(cookie.count)
        return 1
      }

  private static let verify:
    @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, UInt32) -> Int32 = {
      ssl, data, length in
      guard let ssl, let data, length == 21 else { return 0 }
      let given = UnsafeBufferPointer(start: data, count: Int(length))
      let now = currentPeriod
      // The period's low byte says which of the two periods a valid cookie can come from.
      for period in [now, now - 1] where UInt8(truncatingIfNeeded: period) == given[0] {
        if let expected = cookie(for: ssl, period: period), constantTimeEqual(expected, given) {
          return 1
        }
      }
      return 0
    }

  private static func constantTimeEqual(_ a: [UInt8], _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
  }
}
