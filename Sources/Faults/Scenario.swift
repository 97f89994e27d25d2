/// A certificate scenario: what a client asking for `<scenario>.scenario.localhost` is given
/// instead of a good certificate, each wrong in the one way its name says, like badssl.com's
/// subdomains but for any protocol over TLS. The certificates are issued for the exact name
/// the client asked for, so that only the flaw named fails verification.
public enum Scenario: String, Sendable, CaseIterable {
  case expired
  case notYetValid = "not-yet-valid"
  case wrongHost = "wrong-host"
  case selfSigned = "self-signed"
  case untrustedRoot = "untrusted-root"
  case incompleteChain = "incomplete-chain"
  case revoked
  case weakKey = "weak-key"
  case clientCertRequired = "client-cert-required"
  case noCommonALPN = "no-common-alpn"

  /// One line for the README, the help text and the log.
  public var summary: String {
    switch self {
    case .expired: "a certificate that expired in 2020"
    case .notYetValid: "a certificate valid only from 2099"
    case .wrongHost: "a valid certificate for another name (wrong-host.localhost)"
    case .selfSigned: "a self-signed certificate for the name"
    case .untrustedRoot: "a chain that ends at a root no client trusts, sent with it"
    case .incompleteChain: "the leaf without the intermediate that signed it"
    case .revoked: "a valid certificate with a stapled OCSP response saying it is revoked"
    case .weakKey: "a certificate with a 768-bit RSA key"
    case .clientCertRequired: "a valid certificate, and a client certificate is required"
    case .noCommonALPN: "a valid certificate, and no ALPN protocol is accepted"
    }
  }
}
