import ProxyProtocol
import TLSHello

/// What a connection's PROXY header said, as its log line and report show it. The TLVs come
/// from a trusted balancer but carry what its clients sent (ALPN, authority): they are capped
/// at 255 bytes and shown with unprintable bytes escaped (`WireText`).
struct ProxyFacts {
  /// The balancer's own address: the TCP peer, which the header's source replaced.
  let balancer: String
  let header: ProxyHeader

  /// `proxy_*` fields, only those the header had.
  var fields: [(String, String)] {
    var fields = [("proxy", header.version == .v1 ? "v1" : "v2"), ("via", balancer)]
    if header.command == .local { fields.append(("proxy_command", "local")) }
    if let destination = header.destination {
      fields.append(("proxy_destination", destination.description))
    }
    if let alpn = header.alpn { fields.append(("proxy_alpn", Self.printable(alpn))) }
    if let authority = header.authority {
      fields.append(("proxy_authority", Self.printable(Array(authority.utf8))))
    }
    if let id = header.uniqueID {
      fields.append(("proxy_unique_id", Fingerprints.hex(id)))
    }
    if let version = header.sslVersion {
      fields.append(("proxy_ssl_version", Self.printable(Array(version.utf8))))
    }
    if let name = header.sslCommonName {
      fields.append(("proxy_ssl_cn", Self.printable(Array(name.utf8))))
    }
    if header.hadChecksum { fields.append(("proxy_crc32c", "ok")) }
    return fields
  }

  private static func printable(_ bytes: [UInt8]) -> String {
    WireText.printable(bytes, limit: 255)
  }
}
