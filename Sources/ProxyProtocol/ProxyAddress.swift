#if canImport(Glibc)
  import Glibc
#endif

/// An address a header carries: numeric host text in canonical form ("192.0.2.1", "2001:db8::1")
/// and port. Canonical text (inet_ntop's) makes two spellings of one address compare equal, and
/// is what a log line or an access list should see.
public struct ProxyAddress: Sendable, Equatable, CustomStringConvertible {
  public enum Family: Sendable {
    case inet, inet6
  }

  public let family: Family
  public let host: String
  public let port: UInt16

  /// The address of numeric `host` (IPv4 dotted decimal, or IPv6 without brackets) in canonical
  /// form; nil if `host` is neither.
  public init?(numericHost host: String, port: UInt16) {
    let text = Array(host.utf8)
    guard
      let address = Self(.inet, text: text, port: port) ?? Self(.inet6, text: text, port: port)
    else { return nil }
    self = address
  }

  private init(family: Family, host: String, port: UInt16) {
    self.family = family
    self.host = host
    self.port = port
  }

  /// `192.0.2.1:443` or `[2001:db8::1]:443`, as a socket address is written.
  public var description: String {
    family == .inet6 ? "[\(host)]:\(port)" : "\(host):\(port)"
  }
}

extension ProxyAddress.Family {
  /// The bytes of one address in network order, as v2 carries it.
  var byteCount: Int { self == .inet ? 4 : 16 }

  fileprivate var socketFamily: Int32 { self == .inet ? AF_INET : AF_INET6 }
}

/// The conversions both formats need, done by inet_pton and inet_ntop so that what counts as an
/// address, and its canonical spelling, are the C library's.
extension ProxyAddress {
  /// From address text in `family` (v1). glibc's inet_pton refuses leading zeros in IPv4, as
  /// the spec does.
  init?(_ family: Family, text: some Collection<UInt8>, port: UInt16) {
    // A NUL inside would end the C string early, and "1.2.3.4\0junk" would pass.
    guard !text.contains(0), text.count <= Int(INET6_ADDRSTRLEN),
      let bytes = Self.binary(family, text: text)
    else { return nil }
    self.init(family, bytes: bytes, port: port)
  }

  /// From the network-order bytes of an address in `family` (v2): 4 or 16 of them.
  init(_ family: Family, bytes: some Collection<UInt8>, port: UInt16) {
    precondition(bytes.count == family.byteCount, "an address of \(bytes.count) bytes")
    let address = Array(bytes)
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    let written = address.withUnsafeBytes { raw in
      inet_ntop(family.socketFamily, raw.baseAddress, &text, socklen_t(text.count))
    }
    // inet_ntop fails only for a buffer too small or an unknown family, and neither can occur.
    precondition(written != nil, "inet_ntop failed")
    let host = String(
      decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    self.init(family: family, host: host, port: port)
  }

  /// The network-order bytes of address text in `family`, as inet_pton reads it; nil if it is
  /// not one.
  static func binary(_ family: Family, text: some Collection<UInt8>) -> [UInt8]? {
    let cString = text.map { CChar(bitPattern: $0) } + [0]
    var address = [UInt8](repeating: 0, count: family.byteCount)
    let status = address.withUnsafeMutableBytes { raw in
      inet_pton(family.socketFamily, cString, raw.baseAddress)
    }
    return status == 1 ? address : nil
  }
}
