/// Everything a `TLSContext` is built from: plain values, checked when the context is made.
public struct TLSConfiguration: Sendable {
  public enum Version: String, Sendable, CaseIterable {
    case tls12 = "1.2"
    case tls13 = "1.3"
  }

  /// PEM file with the leaf certificate first, then any intermediates (server; client for mTLS).
  public var certificateChainFile: String?
  /// PEM private key matching the leaf certificate.
  public var privateKeyFile: String?
  /// PEM file of CA certificates to verify the peer with; nil means the system's trust store.
  public var trustedCAFile: String?
  /// Whether to verify the peer's certificate (the client verifies the server by default).
  public var verifyPeer: Bool
  public var minimumVersion: Version = .tls12
  public var maximumVersion: Version = .tls13

  /// A server presenting `certificateChainFile` with `privateKeyFile`.
  public static func server(certificateChainFile: String, privateKeyFile: String) -> Self {
    TLSConfiguration(
      certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile,
      trustedCAFile: nil, verifyPeer: false)
  }

  /// A client that verifies the server against `trustedCAFile` (nil: the system store) unless
  /// `verifyPeer` is false.
  public static func client(trustedCAFile: String?, verifyPeer: Bool = true) -> Self {
    TLSConfiguration(
      certificateChainFile: nil, privateKeyFile: nil, trustedCAFile: trustedCAFile,
      verifyPeer: verifyPeer)
  }
}
