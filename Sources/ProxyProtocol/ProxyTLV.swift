/// One type-length-value entry after a v2 header's addresses, kept as received.
public struct ProxyTLV: Sendable, Equatable {
  public let type: UInt8
  public let value: [UInt8]

  public init(type: UInt8, value: [UInt8]) {
    self.type = type
    self.value = value
  }
}

/// The TLV types section 2.2 registers (the SSL sub-types share the numbering).
public enum ProxyTLVType {
  public static let alpn: UInt8 = 0x01
  public static let authority: UInt8 = 0x02
  public static let crc32c: UInt8 = 0x03
  public static let noop: UInt8 = 0x04
  public static let uniqueID: UInt8 = 0x05
  public static let ssl: UInt8 = 0x20
  public static let sslVersion: UInt8 = 0x21
  public static let sslCommonName: UInt8 = 0x22
  public static let sslCipher: UInt8 = 0x23
  public static let sslSignatureAlgorithm: UInt8 = 0x24
  public static let sslKeyAlgorithm: UInt8 = 0x25
  public static let sslGroup: UInt8 = 0x26
  public static let sslSignatureScheme: UInt8 = 0x27
  public static let sslClientCertificate: UInt8 = 0x28
  public static let netns: UInt8 = 0x30
}

/// Splits bytes into TLVs without copying them: the same framing serves the header's own TLVs
/// and the SSL TLV's sub-TLVs.
enum TLVReader {
  struct Entry {
    let type: UInt8
    /// Where the value lies, in the indices of the slice that was read.
    let value: Range<Int>
  }

  enum Failure: Error {
    /// Fewer than the 3 bytes of a TLV's type and length remain.
    case trailingBytes(Int)
    /// The TLV of this type declares a value longer than what remains.
    case overrun(UInt8)
  }

  /// The entries must tile `bytes` exactly: a TLV may not run past the end, and nothing but
  /// whole TLVs may follow the addresses.
  static func read(_ bytes: ArraySlice<UInt8>) -> Result<[Entry], Failure> {
    var entries: [Entry] = []
    var index = bytes.startIndex
    while index < bytes.endIndex {
      guard bytes.endIndex - index >= 3 else {
        return .failure(.trailingBytes(bytes.endIndex - index))
      }
      let type = bytes[index]
      let length = Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
      let start = index + 3
      guard bytes.endIndex - start >= length else { return .failure(.overrun(type)) }
      entries.append(Entry(type: type, value: start..<start + length))
      index = start + length
    }
    return .success(entries)
  }
}
