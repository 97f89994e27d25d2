/// Reads a ClientHello handshake message (type, 24-bit length, body). Every read is bounds-checked
/// against the vector it is in, so any byte string gives a value or an error.
extension ClientHello {
  /// `keepingExtensionData: false` keeps each extension's type but not its bytes (what the
  /// server needs for every connection's fingerprints, without an allocation per extension).
  public static func parse(
    _ message: [UInt8], keepingExtensionData: Bool = true
  ) -> Result<ClientHello, ClientHelloError> {
    Result(catching: { () throws(ClientHelloError) -> ClientHello in
      try parseMessage(message, keepingExtensionData)
    })
  }

  private static func parseMessage(
    _ message: [UInt8], _ keepingExtensionData: Bool
  ) throws(ClientHelloError) -> ClientHello {
    // An SSL 2.0 record header: the length's high bit set, then message type 1.
    if message.count >= 3 && message[0] & 0x80 != 0 && message[2] == 1 {
      throw .sslv2Format
    }
    var reader = ByteReader(message[...])
    let type = try reader.byte("handshake type")
    guard type == 1 else { throw .notClientHello(type) }
    let length = try reader.integer(3, "handshake length")
    var body = try reader.vector(length, "ClientHello body")
    let legacyVersion = UInt16(try body.integer(2, "legacy_version"))
    _ = try body.vector(32, "random")
    let sessionID = try body.vector(try body.integer(1, "session_id length"), "session_id")
    guard sessionID.count <= 32 else { throw .badLength("session_id") }
    var ciphers = try body.vector(try body.integer(2, "cipher_suites length"), "cipher_suites")
    guard ciphers.count % 2 == 0 else { throw .badLength("cipher_suites") }
    var suites: [UInt16] = []
    while !ciphers.isEmpty { suites.append(UInt16(try ciphers.integer(2, "cipher suite"))) }
    let compression = Array(
      try body.vector(try body.integer(1, "compression_methods length"), "compression_methods")
        .bytes)
    var hello = ClientHello(
      legacyVersion: legacyVersion, sessionIDLength: sessionID.count, cipherSuites: suites,
      compressionMethods: compression, extensions: [], length: length)
    // Hellos from before RFC 3546 end here, with no extensions at all.
    guard !body.isEmpty else { return hello }
    var extensions = try body.vector(try body.integer(2, "extensions length"), "extensions")
    guard body.isEmpty else { throw .badLength("extensions") }
    while !extensions.isEmpty {
      let type = UInt16(try extensions.integer(2, "extension type"))
      let data = try extensions.vector(try extensions.integer(2, "extension length"), "extension")
      hello.extensions.append(
        Extension(type: type, data: keepingExtensionData ? Array(data.bytes) : []))
      try hello.read(type, ByteReader(data.bytes))
    }
    return hello
  }

  /// Fills in what the report shows of extension `type`; a malformed body is an error, as it
  /// would be for the server.
  private mutating func read(_ type: UInt16, _ data: ByteReader) throws(ClientHelloError) {
    var data = data
    switch type {
    case ExtensionType.serverName:
      var list = try data.vector(try data.integer(2, "server_name list length"), "server_name")
      while !list.isEmpty {
        let nameType = try list.byte("server_name type")
        let name = try list.vector(try list.integer(2, "server_name length"), "server_name")
        if nameType == 0 && serverName == nil {
          serverName = String(decoding: name.bytes, as: UTF8.self)
        }
      }
    case ExtensionType.supportedGroups:
      groups = try data.list16(prefix: 2, "supported_groups")
    case ExtensionType.pointFormats:
      pointFormats = Array(
        try data.vector(try data.integer(1, "ec_point_formats"), "ec_point_formats").bytes)
    case ExtensionType.signatureAlgorithms:
      signatureAlgorithms = try data.list16(prefix: 2, "signature_algorithms")
    case ExtensionType.signatureAlgorithmsCert:
      signatureAlgorithmsCert = try data.list16(prefix: 2, "signature_algorithms_cert")
    case ExtensionType.alpn:
      var list = try data.vector(try data.integer(2, "ALPN list length"), "ALPN")
      while !list.isEmpty {
        alpn.append(
          Array(try list.vector(try list.integer(1, "ALPN name length"), "ALPN name").bytes))
      }
    case ExtensionType.supportedVersions:
      supportedVersions = try data.list16(prefix: 1, "supported_versions")
    case ExtensionType.pskModes:
      pskModes = Array(
        try data.vector(try data.integer(1, "psk_key_exchange_modes"), "psk_key_exchange_modes")
          .bytes)
    case ExtensionType.keyShare:
      var shares = try data.vector(try data.integer(2, "key_share length"), "key_share")
      while !shares.isEmpty {
        keyShareGroups.append(UInt16(try shares.integer(2, "key_share group")))
        _ = try shares.vector(try shares.integer(2, "key_exchange length"), "key_exchange")
      }
    default:
      break
    }
  }
}

/// A cursor over bytes in which every read either fits or throws `.truncated`.
struct ByteReader {
  private(set) var bytes: ArraySlice<UInt8>

  init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  var isEmpty: Bool { bytes.isEmpty }
  var count: Int { bytes.count }

  mutating func byte(_ field: String) throws(ClientHelloError) -> UInt8 {
    guard let first = bytes.first else { throw .truncated(field) }
    bytes = bytes.dropFirst()
    return first
  }

  /// A big-endian unsigned integer of `width` bytes (1 to 3).
  mutating func integer(_ width: Int, _ field: String) throws(ClientHelloError) -> Int {
    guard bytes.count >= width else { throw .truncated(field) }
    let value = bytes.prefix(width).reduce(0) { $0 << 8 | Int($1) }
    bytes = bytes.dropFirst(width)
    return value
  }

  /// The next `count` bytes as a reader of their own.
  mutating func vector(_ count: Int, _ field: String) throws(ClientHelloError) -> ByteReader {
    guard bytes.count >= count else { throw .truncated(field) }
    let inner = ByteReader(bytes.prefix(count))
    bytes = bytes.dropFirst(count)
    return inner
  }

  /// A vector of 16-bit values behind a `prefix`-byte length.
  mutating func list16(prefix: Int, _ field: String) throws(ClientHelloError) -> [UInt16] {
    var list = try vector(try integer(prefix, "\(field) length"), field)
    guard list.bytes.count % 2 == 0 else { throw .badLength(field) }
    var values: [UInt16] = []
    while !list.isEmpty { values.append(UInt16(try list.integer(2, field))) }
    return values
  }
}
