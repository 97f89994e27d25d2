/// Why the start of a connection is not a header the receiver takes. Every one means the
/// connection must be closed: the spec allows no fallback to reading it without a header.
public enum ProxyHeaderError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Neither "PROXY " nor the v2 signature: a client speaking directly (a TLS ClientHello), or
  /// something else entirely.
  case badSignature
  /// A signature (or the start of one) of a version the receiver was not told to accept.
  case versionNotAccepted(ProxyVersion)
  /// The signature matched but the rest breaks the spec, with a short reason for the log:
  /// "v1: TCP4 with an IPv6 address", "v2: command 7".
  case malformed(String)
  /// The CRC32C TLV is there and does not match the header.
  case checksumMismatch
  /// A v2 header whose declared size (16 bytes plus its length field) is beyond the parser's
  /// limit, with that size.
  case tooLong(Int)

  public var description: String {
    switch self {
    case .badSignature:
      "no PROXY protocol header"
    case .versionNotAccepted(let version):
      "a PROXY protocol \(version == .v1 ? "v1" : "v2") header, a version not accepted here"
    case .malformed(let reason):
      "a malformed PROXY protocol header (\(reason))"
    case .checksumMismatch:
      "a PROXY protocol v2 header whose CRC32C checksum does not match"
    case .tooLong(let size):
      "a PROXY protocol v2 header of \(size) bytes, longer than the limit"
    }
  }
}
