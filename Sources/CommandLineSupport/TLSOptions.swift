import ArgumentParser
import TLS

/// The TLS options both executables take: protocol profile, versions, ciphers, groups, ALPN and
/// key logging.
public struct TLSOptions: ParsableArguments {
  public init() {}

  @Option(
    help: """
      Mozilla TLS profile: intermediate (TLS 1.2 and 1.3, forward-secret AEAD ciphers; the \
      default) or modern (TLS 1.3 only).
      """)
  public var tlsProfile: TLSConfiguration.Profile?

  @Option(help: "Lowest TLS version, 1.2 or 1.3 (default: the profile's).")
  public var minTls: TLSConfiguration.Version?

  @Option(help: "Highest TLS version, 1.2 or 1.3 (default: 1.3).")
  public var maxTls: TLSConfiguration.Version?

  @Option(help: "OpenSSL cipher list for TLS 1.2 (default: the profile's ECDHE AEAD suites).")
  public var ciphers: String?

  @Option(help: "OpenSSL ciphersuites for TLS 1.3 (default: AES-GCM and ChaCha20-Poly1305).")
  public var ciphersuites: String?

  @Option(help: "Key-exchange groups, most preferred first (default: X25519:prime256v1:secp384r1).")
  public var groups: String?

  @Option(help: "ALPN protocols, comma-separated, most preferred first (e.g. echo,http/1.1).")
  public var alpn: String?

  @Option(help: "Append the TLS secrets to this file in the NSS key log format (for Wireshark).")
  public var keylog: String?

  public func validate() throws {
    if let minTls, let maxTls, minTls == .tls13 && maxTls == .tls12 {
      throw ValidationError("--min-tls 1.3 is above --max-tls 1.2")
    }
    if tlsProfile == .modern && maxTls == .tls12 {
      throw ValidationError("--tls-profile modern is TLS 1.3 only; it cannot have --max-tls 1.2")
    }
    if tlsProfile == .modern && minTls == .tls12 {
      throw ValidationError("--tls-profile modern is TLS 1.3 only; it cannot have --min-tls 1.2")
    }
    for (option, value) in [("--ciphers", ciphers), ("--ciphersuites", ciphersuites)]
    where value?.allSatisfy({ $0 == ":" || $0 == " " }) == true {
      throw ValidationError(
        "\(option) is empty: no handshake could succeed (leave it out for the default)")
    }
    if let groups, groups.allSatisfy({ $0 == ":" || $0 == " " }) {
      throw ValidationError("--groups is empty: leave it out for the default")
    }
    if ciphers != nil && (tlsProfile == .modern || minTls == .tls13) {
      throw ValidationError(
        "--ciphers chooses TLS 1.2 ciphers; it does not apply with "
          + (tlsProfile == .modern ? "--tls-profile modern" : "--min-tls 1.3")
          + " (TLS 1.3 suites: --ciphersuites)")
    }
    if ciphersuites != nil && maxTls == .tls12 {
      throw ValidationError(
        "--ciphersuites chooses TLS 1.3 suites; it does not apply with --max-tls 1.2 "
          + "(TLS 1.2 ciphers: --ciphers)")
    }
    for name in alpnProtocols where name.isEmpty || name.utf8.count > 255 {
      throw ValidationError("--alpn names must have 1 to 255 bytes: '\(alpn ?? "")'")
    }
  }

  /// The options of this group given on the command line, by name.
  /// With DTLS, which OpenSSL 3.0 has in version 1.2 only: the options that would need 1.3.
  public var needingTLS13: [String] {
    [
      ("--tls-profile modern", tlsProfile == .modern), ("--min-tls 1.3", minTls == .tls13),
      ("--ciphersuites", ciphersuites != nil),
    ].filter(\.1).map(\.0)
  }

  public var given: [String] {
    [
      ("--tls-profile", tlsProfile != nil), ("--min-tls", minTls != nil),
      ("--max-tls", maxTls != nil), ("--ciphers", ciphers != nil),
      ("--ciphersuites", ciphersuites != nil), ("--groups", groups != nil),
      ("--alpn", alpn != nil), ("--keylog", keylog != nil),
    ].filter(\.1).map(\.0)
  }

  public var alpnProtocols: [String] {
    alpn.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
  }

  /// Writes these options into `configuration`.
  public func apply(to configuration: inout TLSConfiguration) {
    configuration.profile = tlsProfile ?? .intermediate
    configuration.minimumVersion = minTls
    configuration.maximumVersion = maxTls
    configuration.ciphers = ciphers
    configuration.ciphersuites = ciphersuites
    configuration.groups = groups
    configuration.alpn = alpnProtocols
    configuration.keyLogFile = keylog
  }
}
