/// The two formats of haproxy's doc/proxy-protocol.txt: v1 is a text line, v2 a binary block.
/// A receiver is configured with the ones it takes; it must never guess whether a header is there.
public enum ProxyVersion: Sendable, Hashable {
  case v1, v2
}

/// What a PROXY protocol header says about the connection it starts: the addresses the proxy
/// saw, and (v2) the TLVs it added. A plain value: the parser fills it, nothing refers back to
/// the bytes.
public struct ProxyHeader: Sendable, Equatable {
  public enum Command: Sendable, Equatable {
    /// Relayed on behalf of a client. Every v1 header, UNKNOWN included, is this.
    case proxy
    /// Opened by the proxy itself (a health check): the connection's own endpoints are the ones.
    case local
  }

  public let version: ProxyVersion
  public let command: Command
  /// nil when the header says nothing usable about the client: v1 UNKNOWN, v2 LOCAL, v2 UNSPEC or
  /// AF_UNIX. Then the receiver uses the real connection's addresses.
  public let source: ProxyAddress?
  public let destination: ProxyAddress?
  /// v2 TLVs in wire order (v1: none). CRC32C and NOOP included as received.
  public let tlvs: [ProxyTLV]

  public init(
    version: ProxyVersion, command: Command, source: ProxyAddress?, destination: ProxyAddress?,
    tlvs: [ProxyTLV] = []
  ) {
    self.version = version
    self.command = command
    self.source = source
    self.destination = destination
    self.tlvs = tlvs
  }
}

/// The registered TLVs the server may want, read from `tlvs` on demand. When a type appears more
/// than once (the spec neither allows nor forbids it), the first one counts.
extension ProxyHeader {
  /// The ALPN protocol the client negotiated with the proxy, as bytes (it need not be text).
  public var alpn: [UInt8]? { value(of: ProxyTLVType.alpn) }

  /// The host name the client asked the proxy for (its SNI), if it is valid UTF-8 as the spec
  /// requires.
  public var authority: String? {
    value(of: ProxyTLVType.authority).flatMap { String(validating: $0, as: UTF8.self) }
  }

  public var uniqueID: [UInt8]? { value(of: ProxyTLVType.uniqueID) }

  /// The TLS version the client used with the proxy ("TLSv1.3"), from the SSL TLV.
  public var sslVersion: String? { sslString(ProxyTLVType.sslVersion) }

  /// The Common Name of the client certificate the proxy verified, from the SSL TLV.
  public var sslCommonName: String? { sslString(ProxyTLVType.sslCommonName) }

  /// Whether the header had a CRC32C TLV. The parser refuses a header whose checksum does not
  /// match, so true means it was checked and matched.
  public var hadChecksum: Bool { tlvs.contains { $0.type == ProxyTLVType.crc32c } }

  private func value(of type: UInt8) -> [UInt8]? {
    tlvs.first { $0.type == type }?.value
  }

  /// A sub-TLV string of the SSL TLV. A malformed SSL TLV gives nil here rather than failing the
  /// whole header: the spec lets a receiver ignore any TLV it does not need, and the addresses,
  /// which are what the header is for, do not depend on it.
  private func sslString(_ subtype: UInt8) -> String? {
    // The value starts with client (1 byte) and verify (4 bytes); the sub-TLVs follow.
    guard let ssl = value(of: ProxyTLVType.ssl), ssl.count >= 5,
      case .success(let entries) = TLVReader.read(ssl[5...]),
      let entry = entries.first(where: { $0.type == subtype })
    else { return nil }
    return String(validating: ssl[entry.value], as: UTF8.self)
  }
}
