/// The alerts `handshake-alert-NAME` can end a handshake with (RFC 8446 section 6), by the
/// names the RFC gives them, with hyphens for underscores, so that they fit a DNS label.
public enum TLSAlert: UInt8, Sendable, CaseIterable {
  case handshakeFailure = 40
  case badCertificate = 42
  case unsupportedCertificate = 43
  case certificateRevoked = 44
  case certificateExpired = 45
  case certificateUnknown = 46
  case illegalParameter = 47
  case unknownCA = 48
  case accessDenied = 49
  case decodeError = 50
  case decryptError = 51
  case protocolVersion = 70
  case insufficientSecurity = 71
  case internalError = 80
  case inappropriateFallback = 86
  case missingExtension = 109
  case unsupportedExtension = 110
  case unrecognizedName = 112
  case unknownPSKIdentity = 115
  case certificateRequired = 116
  case noApplicationProtocol = 120

  /// `handshake-failure`, `unknown-ca`, `no-application-protocol`.
  public var name: String {
    switch self {
    case .handshakeFailure: "handshake-failure"
    case .badCertificate: "bad-certificate"
    case .unsupportedCertificate: "unsupported-certificate"
    case .certificateRevoked: "certificate-revoked"
    case .certificateExpired: "certificate-expired"
    case .certificateUnknown: "certificate-unknown"
    case .illegalParameter: "illegal-parameter"
    case .unknownCA: "unknown-ca"
    case .accessDenied: "access-denied"
    case .decodeError: "decode-error"
    case .decryptError: "decrypt-error"
    case .protocolVersion: "protocol-version"
    case .insufficientSecurity: "insufficient-security"
    case .internalError: "internal-error"
    case .inappropriateFallback: "inappropriate-fallback"
    case .missingExtension: "missing-extension"
    case .unsupportedExtension: "unsupported-extension"
    case .unrecognizedName: "unrecognized-name"
    case .unknownPSKIdentity: "unknown-psk-identity"
    case .certificateRequired: "certificate-required"
    case .noApplicationProtocol: "no-application-protocol"
    }
  }

  /// By name, or by number (`handshake-alert-40`).
  public init?(named text: String) {
    if let number = UInt8(text), let alert = TLSAlert(rawValue: number) {
      self = alert
      return
    }
    guard let alert = Self.allCases.first(where: { $0.name == text }) else { return nil }
    self = alert
  }
}
