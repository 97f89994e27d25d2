/// A TLS ClientHello as the client sent it (RFC 8446 4.1.2), every extension kept in wire order,
/// including the ones OpenSSL does not know (GREASE, compress_certificate, ALPS, ECH,
/// post-quantum key shares). A plain value: parsing needs no OpenSSL, and bad input is an
/// error value, never a trap.
public struct ClientHello: Sendable, Equatable {
  public struct Extension: Sendable, Equatable {
    public var type: UInt16
    public var data: [UInt8]
    public var isGREASE: Bool { GREASE.contains(type) }
  }

  /// `legacy_version`: 0x0303 for TLS 1.2 and 1.3 clients.
  public var legacyVersion: UInt16
  public var sessionIDLength: Int
  public var cipherSuites: [UInt16]
  public var compressionMethods: [UInt8]
  public var extensions: [Extension]
  /// The length of the handshake message body, as its header says.
  public var length: Int

  /// The parsed contents of the extensions the report shows. Absent extensions give empty lists.
  public var supportedVersions: [UInt16] = []
  public var groups: [UInt16] = []
  public var keyShareGroups: [UInt16] = []
  public var signatureAlgorithms: [UInt16] = []
  public var signatureAlgorithmsCert: [UInt16] = []
  public var alpn: [[UInt8]] = []
  public var serverName: String?
  public var pskModes: [UInt8] = []
  public var pointFormats: [UInt8] = []

  public func hasExtension(_ type: UInt16) -> Bool { extensions.contains { $0.type == type } }

  /// The highest version offered: from supported_versions when present, else legacy_version.
  public var highestVersion: UInt16 {
    supportedVersions.filter { !GREASE.contains($0) }.max() ?? legacyVersion
  }
}

/// Why bytes are not a ClientHello.
public enum ClientHelloError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The input ends inside `field`.
  case truncated(String)
  /// The handshake message is of another type.
  case notClientHello(UInt8)
  /// An SSL 2.0-compatible hello (RFC 5246 E.2): no extensions to fingerprint.
  case sslv2Format
  /// A length inside the message disagrees with what surrounds it.
  case badLength(String)

  public var description: String {
    switch self {
    case .truncated(let field): "truncated in \(field)"
    case .notClientHello(let type): "handshake message type \(type) is not a ClientHello"
    case .sslv2Format: "an SSL 2.0-format ClientHello"
    case .badLength(let field): "the length of \(field) is wrong"
    }
  }
}

/// The 16 GREASE values of RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA.
public enum GREASE {
  public static func contains(_ value: UInt16) -> Bool {
    value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF
  }
}

/// Well-known extension numbers (IANA TLS ExtensionType Values).
public enum ExtensionType {
  public static let serverName: UInt16 = 0
  public static let supportedGroups: UInt16 = 10
  public static let pointFormats: UInt16 = 11
  public static let signatureAlgorithms: UInt16 = 13
  public static let alpn: UInt16 = 16
  public static let supportedVersions: UInt16 = 43
  public static let pskModes: UInt16 = 45
  public static let signatureAlgorithmsCert: UInt16 = 50
  public static let keyShare: UInt16 = 51
}
