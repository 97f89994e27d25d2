/// Everything a `TLSContext` is built from: plain values, checked when the context is made.
public struct TLSConfiguration: Sendable {
  public enum Version: String, Sendable, CaseIterable {
    case tls12 = "1.2"
    case tls13 = "1.3"
  }

  /// Mozilla's server-side TLS guidelines (https://wiki.mozilla.org/Security/Server_Side_TLS).
  public enum Profile: String, Sendable, CaseIterable {
    /// TLS 1.2 and 1.3, forward-secret AEAD ciphers only. The default.
    case intermediate
    /// TLS 1.3 only.
    case modern

    var minimumVersion: Version { self == .modern ? .tls13 : .tls12 }

    /// TLS 1.2 suites: ECDHE key exchange, AEAD encryption. Mozilla also lists DHE-RSA
    /// suites; they are left out because they need DH parameters and are slower.
    var tls12Ciphers: String {
      [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
      ].joined(separator: ":")
    }

    var tls13Ciphersuites: String {
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    }

    var groups: String { "X25519:prime256v1:secp384r1" }
  }

  /// Whether a server asks clients for a certificate.
  public enum ClientVerification: String, Sendable, CaseIterable {
    /// Never asks.
    case none
    /// Asks; a client without one is served, a client with a bad one is refused.
    case optional
    /// A client without a valid certificate is refused.
    case required
  }

  /// An extra server identity, chosen when the client asks for `serverName` by SNI.
  public struct NamedIdentity: Sendable, Equatable {
    public var serverName: String
    public var certificateChainFile: String
    public var privateKeyFile: String

    public init(serverName: String, certificateChainFile: String, privateKeyFile: String) {
      self.serverName = serverName
      self.certificateChainFile = certificateChainFile
      self.privateKeyFile = privateKeyFile
    }
  }

  /// PEM file with the leaf certificate first, then any intermediates (server; client for mTLS).
  public var certificateChainFile: String?
  /// PEM private key matching the leaf certificate.
  public var privateKeyFile: String?
  /// PEM file of CA certificates to verify the peer with; nil means the system's trust store.
  /// For a server, the CAs that may sign client certificates.
  public var trustedCAFile: String?
  /// Whether a client verifies the server's certificate (and name).
  public var verifyPeer: Bool
  /// Whether a server asks for client certificates (needs `trustedCAFile`).
  public var clientVerification: ClientVerification = .none

  public var profile: Profile = .intermediate
  /// Overrides of the profile; nil keeps its value.
  public var minimumVersion: Version?
  public var maximumVersion: Version?
  /// OpenSSL cipher list for TLS 1.2 (`ECDHE-ECDSA-AES128-GCM-SHA256:...`).
  public var ciphers: String?
  /// OpenSSL ciphersuites for TLS 1.3 (`TLS_AES_128_GCM_SHA256:...`).
  public var ciphersuites: String?
  /// Key-exchange groups (`X25519:prime256v1`).
  public var groups: String?

  /// ALPN protocols, most preferred first. A server picks by its own order.
  public var alpn: [String] = []
  /// Server: identities chosen by SNI; other names and no name get the main one.
  public var namedIdentities: [NamedIdentity] = []
  /// Server: whether to issue session tickets (TLS 1.2 and 1.3) so that clients can resume.
  public var sessionTickets = true
  /// Server: seconds a ticket is valid; ticket keys rotate on this schedule.
  public var ticketLifetime = 7200
  /// Where to append the session secrets in the NSS key log format (for Wireshark).
  public var keyLogFile: String?
  /// Server: a DER OCSP response to staple for the main certificate.
  public var ocspResponseFile: String?
  /// Server: the directory of the certificate scenarios' CAs (`--scenarios`). Names under
  /// `faultSuffix` and `scenarioSuffix` then get a certificate issued for them, and the
  /// faults or scenario their labels ask for.
  public var scenarioDirectory: String?
  public var faultSuffix = "fault.localhost"
  public var scenarioSuffix = "scenario.localhost"
  /// Server: some listener gives its connections faults (`--fault`, `--fault-port`), so every
  /// ClientHello is looked at, with or without scenarios.
  public var listenerFaults = false
  /// Client: ask a SecureEcho server which faults or certificate scenario it applied (a TLS
  /// extension of its own, `TLSStream.serverAnnouncement`), as echo-client does.
  public var asksForFaultAnnouncement = false
  /// Client: ask for a stapled OCSP response, and fail the handshake if it says revoked.
  public var checksStapledStatus = false
  /// DTLS 1.2 over UDP instead of TLS over TCP (OpenSSL 3.0 has no DTLS 1.3).
  public var datagram = false
  /// DTLS: the path MTU handshake flights are sized for (records of data are not split).
  public var datagramMTU = 1400

  /// Server: whether each ClientHello goes through a `HandshakeDirector`.
  var directsHandshakes: Bool { scenarioDirectory != nil || listenerFaults }

  public init(
    certificateChainFile: String? = nil, privateKeyFile: String? = nil,
    trustedCAFile: String? = nil, verifyPeer: Bool
  ) {
    self.certificateChainFile = certificateChainFile
    self.privateKeyFile = privateKeyFile
    self.trustedCAFile = trustedCAFile
    self.verifyPeer = verifyPeer
  }

  /// A server presenting `certificateChainFile` with `privateKeyFile`.
  public static func server(certificateChainFile: String, privateKeyFile: String) -> Self {
    TLSConfiguration(
      certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile,
      verifyPeer: false)
  }

  /// A client that verifies the server against `trustedCAFile` (nil: the system store) unless
  /// `verifyPeer` is false.
  public static func client(trustedCAFile: String?, verifyPeer: Bool = true) -> Self {
    TLSConfiguration(trustedCAFile: trustedCAFile, verifyPeer: verifyPeer)
  }

  /// The versions in force: the overrides, else the profile's.
  public var versionRange: (minimum: Version, maximum: Version) {
    (minimumVersion ?? profile.minimumVersion, maximumVersion ?? .tls13)
  }
}
