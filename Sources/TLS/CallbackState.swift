import CTLS
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// What OpenSSL's C callbacks (ALPN, session tickets, key log, OCSP) need. C callbacks cannot
/// capture, so each `SSL_CTX` carries a pointer to this object in its ex_data; every
/// `TLSContext` holds a strong reference, so it outlives the contexts that point at it.
final class CallbackState: Sendable {
  private static let exDataIndex: Int32 = ctls_CTX_get_ex_new_index()

  /// ALPN protocols in wire format (length-prefixed), in preference order.
  let alpnWire: [UInt8]
  let alpnProtocols: [String]
  let ticketKeys: TicketKeyRing?
  let keyLog: KeyLogFile?
  let ocspStaple: OCSPStaple?
  /// Server: decides each connection's faults and certificate scenario; nil when neither is on.
  let director: HandshakeDirector?

  /// `ticketKeys`: a ring to keep using (after a reload, so that tickets already issued stay
  /// valid); nil makes a new one.
  init(
    _ configuration: TLSConfiguration, role: TLSContext.Role, ticketKeys existing: TicketKeyRing?
  ) throws(TLSError) {
    var wire: [UInt8] = []
    for name in configuration.alpn {
      let bytes = Array(name.utf8)
      guard (1...255).contains(bytes.count) else {
        throw TLSError(
          .configuration, "--alpn '\(name)'", reason: "a protocol name has 1 to 255 bytes")
      }
      wire.append(UInt8(bytes.count))
      wire += bytes
    }
    alpnWire = wire
    alpnProtocols = configuration.alpn
    let lifetime = Int64(configuration.ticketLifetime)
    if role == .server && configuration.sessionTickets {
      ticketKeys =
        existing?.lifetimeSeconds == lifetime ? existing : TicketKeyRing(lifetimeSeconds: lifetime)
    } else {
      ticketKeys = nil
    }
    keyLog = try configuration.keyLogFile.map { (path) throws(TLSError) in
      try KeyLogFile(path: path)
    }
    if role == .server, let path = configuration.ocspResponseFile,
      let chain = configuration.certificateChainFile
    {
      ocspStaple = try OCSPStaple(path: path, chainFile: chain)
    } else {
      ocspStaple = nil
    }
    if role == .server && configuration.directsHandshakes {
      let issuer = try configuration.scenarioDirectory.map { (directory) throws(TLSError) in
        try ScenarioIssuer(directory: directory)
      }
      for suffix in [configuration.faultSuffix, configuration.scenarioSuffix]
      where issuer?.canIssue(under: suffix) == false {
        throw TLSError(
          .configuration, "names under '\(suffix)'",
          reason: "the scenario issuer '\(configuration.scenarioDirectory ?? "")/issuer-ca.crt' "
            + "may not sign for them (its name constraints); choose a suffix under localhost, "
            + "or put an issuer that may in the --scenarios directory")
      }
      director = HandshakeDirector(
        issuer: issuer, faultSuffix: configuration.faultSuffix,
        scenarioSuffix: configuration.scenarioSuffix)
    } else {
      director = nil
    }
    asksForFaultAnnouncement = configuration.asksForFaultAnnouncement
    checksStapledStatus = configuration.checksStapledStatus && configuration.verifyPeer
  }

  /// Client: the extension asking which faults were applied, and the stapled-status check.
  private let asksForFaultAnnouncement: Bool
  private let checksStapledStatus: Bool
  /// Client: whether connections need a `ConnectionCallbackState` for these.
  var hasClientCallbacks: Bool { asksForFaultAnnouncement || checksStapledStatus }

  /// Points `context` at this object and installs the callbacks the configuration needs.
  /// `primary`: the context of the main certificate (not an SNI one), the only one whose OCSP
  /// response this is.
  func install(on context: OpaquePointer, role: TLSContext.Role, primary: Bool) throws(TLSError) {
    _ = SSL_CTX_set_ex_data(context, Self.exDataIndex, Unmanaged.passUnretained(self).toOpaque())
    if keyLog != nil { SSL_CTX_set_keylog_callback(context, Self.logKeys) }
    switch role {
    case .client:
      // Unusually, 0 means success here.
      if !alpnWire.isEmpty
        && SSL_CTX_set_alpn_protos(context, alpnWire, UInt32(alpnWire.count)) != 0
      {
        throw TLSError.fromQueue(.configuration, "--alpn", fallback: "invalid protocol list")
      }
      if asksForFaultAnnouncement { FaultAnnouncement.installOnClient(context) }
      if checksStapledStatus { StapledStatusCheck.install(on: context) }
    case .server:
      // The director's `no-common-alpn` scenario refuses every protocol, with or without --alpn.
      if !alpnWire.isEmpty || director != nil {
        SSL_CTX_set_alpn_select_cb(context, Self.selectProtocol, nil)
      }
      if director != nil { installDirector(on: context) }
      if let ticketKeys {
        _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(context, Self.ticketKey)
        _ = SSL_CTX_set_timeout(context, Int(ticketKeys.lifetimeSeconds))
      }
      // Tickets are stateless; a server-side session cache would only grow with clients.
      _ = ctls_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
      if ocspStaple != nil && primary {
        _ = ctls_CTX_set_stapled_ocsp_callback(context, Self.stapleResponse, nil)
      } else if director?.issuer != nil {
        _ = ctls_CTX_set_stapled_ocsp_callback(context, Self.stapleIssuedOnly, nil)
      }
    }
  }

  static func of(_ ssl: OpaquePointer?) -> CallbackState? {
    guard let context = SSL_get_SSL_CTX(ssl), let raw = SSL_CTX_get_ex_data(context, exDataIndex)
    else { return nil }
    return Unmanaged<CallbackState>.fromOpaque(raw).takeUnretainedValue()
  }

  // MARK: The C callbacks

  /// ALPN: the first of the server's protocols that the client also offers. None in common
  /// fails the handshake with the no_application_protocol alert (RFC 7301).
  private static let selectProtocol:
    @convention(c) (
      OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
      UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { ssl, out, outLength, offered, offeredLength, _ in
      guard let state = of(ssl), let offered, let out, let outLength, !refusesALPN(ssl) else {
        return SSL_TLSEXT_ERR_ALERT_FATAL
      }
      // Installed for the director alone: no protocol of the server's own to choose.
      if state.alpnWire.isEmpty { return SSL_TLSEXT_ERR_NOACK }
      let client = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
      var serverIndex = 0
      while serverIndex < state.alpnWire.count {
        let length = Int(state.alpnWire[serverIndex])
        let wanted = state.alpnWire[(serverIndex + 1)...(serverIndex + length)]
        var clientIndex = 0
        while clientIndex < client.count {
          let offeredLengthHere = Int(client[clientIndex])
          let end = clientIndex + 1 + offeredLengthHere
          if end <= client.count && offeredLengthHere == length
            && client[(clientIndex + 1)..<end].elementsEqual(wanted)
          {
            out.pointee = offered + clientIndex + 1
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
          }
          clientIndex = end
        }
        serverIndex += 1 + length
      }
      return SSL_TLSEXT_ERR_ALERT_FATAL
    }

  /// Session tickets with rotating keys: encrypt with the current key; decrypt with any key
  /// still in the ring. A fresh ticket is asked for (return 2) when the key is no longer the
  /// current one, and after every TLS 1.3 resumption: RFC 8446 (C.4) has clients use a ticket
  /// once, and OpenSSL issues a TLS 1.3 ticket on resumption only when asked to renew, so
  /// without it a client that follows the RFC would fall back to a full handshake every other
  /// connection.
  private static let ticketKey:
    @convention(c) (
      OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?,
      OpaquePointer?, Int32
    ) -> Int32 = { ssl, name, iv, cipher, mac, encrypt in
      guard let ring = of(ssl)?.ticketKeys, let name, let iv else { return -1 }
      if encrypt == 1 {
        let key = ring.currentKey()
        key.name.withUnsafeBufferPointer { name.update(from: $0.baseAddress!, count: 16) }
        return ctls_ticket_crypto_init(cipher, mac, ring.cipher, key.aes, key.hmac, iv, 1) == 1
          ? 1 : -1
      }
      guard let (key, isCurrent) = ring.key(named: UnsafeBufferPointer(start: name, count: 16))
      else { return 0 }
      guard ctls_ticket_crypto_init(cipher, mac, ring.cipher, key.aes, key.hmac, iv, 0) == 1
      else { return -1 }
      return isCurrent && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2
    }

  private static let logKeys: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = {
    ssl, line in
    guard let line, let keyLog = of(ssl)?.keyLog else { return }
    keyLog.append(String(cString: line))
  }

  private static let stapleResponse:
    @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = {
      ssl, _ in
      if let issued = stapleIssued(ssl) { return issued }
      guard let response = of(ssl)?.ocspStaple?.der else { return SSL_TLSEXT_ERR_NOACK }
      let ok = response.withUnsafeBufferPointer {
        ctls_set_ocsp_response(ssl, $0.baseAddress, $0.count)
      }
      return ok == 1 ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK
    }

  private static let stapleIssuedOnly:
    @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
      stapleIssued(ssl) ?? SSL_TLSEXT_ERR_NOACK
    }

  static func readFile(_ path: String, what: String) throws(TLSError) -> [UInt8] {
    let operation = "cannot read \(what) '\(path)'"
    do throws(SocketError) {
      let fd = try SystemCall.blocking(operation) { open(path, O_RDONLY | O_CLOEXEC) }
      defer { close(fd) }
      var bytes: [UInt8] = []
      let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
      defer { chunk.deallocate() }
      while true {
        let count = try SystemCall.blocking(operation) {
          read(fd, chunk.baseAddress, chunk.count)
        }
        if count == 0 { return bytes }
        bytes += chunk[..<count]
      }
    } catch {
      throw TLSError(.fileAccess, operation, reason: error.reason, code: error.code)
    }
  }
}

/// Session-ticket keys: the current one encrypts new tickets; the previous one still decrypts,
/// so that a ticket stays usable for its whole lifetime across one rotation. Rotation happens
/// lazily, when a ticket is issued after the current key's lifetime: no timer needed.
final class TicketKeyRing: Sendable {
  struct Key: Sendable {
    var name: [UInt8]
    var aes: [UInt8]
    var hmac: [UInt8]
    var created: Int64
  }

  let lifetimeSeconds: Int64
  private let keys: ThreadLock<[Key]>
  /// AES-256-CBC, fetched once: an implicit fetch per ticket costs a name lookup under a lock.
  /// `nonisolated(unsafe)`: a fetched EVP_CIPHER is immutable and OpenSSL counts its references
  /// with atomics, so every loop thread may use it.
  nonisolated(unsafe) let cipher: OpaquePointer

  init(lifetimeSeconds: Int64) {
    self.lifetimeSeconds = max(1, lifetimeSeconds)
    keys = ThreadLock([Self.newKey()])
    guard let cipher = EVP_CIPHER_fetch(nil, "AES-256-CBC", nil) else {
      preconditionFailure("OpenSSL has no AES-256-CBC")
    }
    self.cipher = cipher
  }

  deinit { EVP_CIPHER_free(cipher) }

  func currentKey() -> Key {
    keys.withLock { keys in
      if Self.now() - keys[0].created >= lifetimeSeconds {
        keys.insert(Self.newKey(), at: 0)
        if keys.count > 2 { keys.removeLast() }
      }
      return keys[0]
    }
  }

  func key(named name: UnsafeBufferPointer<UInt8>) -> (Key, isCurrent: Bool)? {
    keys.withLock { keys in
      let now = Self.now()
      for (index, key) in keys.enumerated() where key.name.elementsEqual(name) {
        // A key stays valid for two lifetimes: one to issue tickets, one for them to expire.
        guard now - key.created < 2 * lifetimeSeconds else { return nil }
        return (key, index == 0 && now - key.created < lifetimeSeconds)
      }
      return nil
    }
  }

  private static func newKey() -> Key {
    func random(_ count: Int) -> [UInt8] {
      var bytes = [UInt8](repeating: 0, count: count)
      precondition(RAND_bytes(&bytes, Int32(count)) == 1, "the system random generator failed")
      return bytes
    }
    return Key(name: random(16), aes: random(32), hmac: random(32), created: now())
  }

  private static func now() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec)
  }
}

/// A key log file in the NSS format Wireshark reads: one `LABEL client_random secret` line per
/// secret, appended with one `write` each so lines from different threads never interleave.
final class KeyLogFile: Sendable {
  let path: String
  private let descriptor: Int32

  init(path: String) throws(TLSError) {
    self.path = path
    let operation = "cannot open key log file '\(path)'"
    do {
      // Mode 0600: these secrets decrypt every recorded session.
      descriptor = try SystemCall.blocking(operation) {
        open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
      }
    } catch {
      throw TLSError(.fileAccess, operation, reason: error.reason, code: error.code)
    }
  }

  deinit { close(descriptor) }

  /// One `write` per line (O_APPEND keeps lines whole); a failure is not worth failing a
  /// handshake for.
  func append(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in
      _ = try? SystemCall.blocking("write key log") {
        write(descriptor, bytes.baseAddress, bytes.count)
      }
    }
  }
}
