/// The binary header of section 2.2: the 12-byte signature, version and command, family and
/// protocol, a 16-bit big-endian length of what follows, then the addresses and the TLVs.
enum ProxyV2 {
  static let signature: [UInt8] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
  ]
  static let fixedLength = 16
  static let maximumUniqueIDLength = 128

  private static let localCommand: UInt8 = 0x0
  private static let proxyCommand: UInt8 = 0x1

  enum Size {
    case undecided
    case rejected(ProxyHeaderError)
    /// The whole header's size, the fixed 16 bytes included.
    case size(Int)
  }

  /// Checks the fixed part as far as it has arrived, each field as soon as it is there, so that
  /// a wrong version is refused at the 13th byte rather than after the length it announces.
  /// `head` starts with the whole signature.
  static func size(_ head: [UInt8]) -> Size {
    guard head.count > 12 else { return .undecided }
    let version = head[12] >> 4
    let command = head[12] & 0x0F
    // The spec: the receiver must only accept version 2, and drop unassigned commands.
    guard version == 2 else { return .rejected(malformed("version \(version)")) }
    guard command == localCommand || command == proxyCommand else {
      return .rejected(malformed("command \(command)"))
    }
    // LOCAL ignores the family byte, whatever it holds; PROXY needs one the spec defines.
    guard head.count > 13 else { return .undecided }
    let family = head[13]
    if command == proxyCommand && (family >> 4 > 3 || family & 0x0F > 2) {
      return .rejected(malformed("family and protocol \(hex(family))"))
    }
    guard head.count >= fixedLength else { return .undecided }
    let length = Int(head[14]) << 8 | Int(head[15])
    if command == proxyCommand, let block = AddressBlock(family), length < block.size {
      return .rejected(
        malformed("\(block.name) needs \(block.size) address bytes, length is \(length)"))
    }
    return .size(fixedLength + length)
  }

  /// `header` is exactly one whole header, its fixed part already checked by `size`.
  static func parse(_ header: [UInt8]) -> ProxyParseResult {
    let command: ProxyHeader.Command = header[12] & 0x0F == proxyCommand ? .proxy : .local
    let block = AddressBlock(header[13])
    var source: ProxyAddress?
    var destination: ProxyAddress?
    let result: Result<[ProxyTLV], ProxyHeaderError>
    if command == .proxy, let block {
      if let family = block.family {
        (source, destination) = addresses(header, family)
      }
      result = readTLVs(header, from: fixedLength + block.size, strict: true)
    } else {
      // LOCAL, whose family the spec says to ignore, or a PROXY that names no address family and
      // protocol: the address bytes, if any, are of no use and need not follow any layout. TLVs
      // are looked for after the block the family byte would mean (none for UNSPEC, as in
      // HAProxy's health checks); bytes that do not read as TLVs there are skipped as opaque,
      // which the spec allows for bytes beyond the addresses.
      let blockSize = header[13] == 0x00 ? 0 : block?.size
      if let blockSize, fixedLength + blockSize <= header.count {
        result = readTLVs(header, from: fixedLength + blockSize, strict: false)
      } else {
        result = .success([])
      }
    }
    switch result {
    case .failure(let error):
      return .invalid(error)
    case .success(let tlvs):
      let parsed = ProxyHeader(
        version: .v2, command: command, source: source, destination: destination, tlvs: tlvs)
      return .complete(parsed, length: header.count)
    }
  }

  /// The source and destination of an IPv4 or IPv6 block: both addresses, then both ports.
  private static func addresses(
    _ header: [UInt8], _ family: ProxyAddress.Family
  ) -> (ProxyAddress, ProxyAddress) {
    let width = family.byteCount
    let ports = fixedLength + 2 * width
    func port(_ offset: Int) -> UInt16 { UInt16(header[offset]) << 8 | UInt16(header[offset + 1]) }
    let source = ProxyAddress(
      family, bytes: header[fixedLength..<fixedLength + width], port: port(ports))
    let destination = ProxyAddress(
      family, bytes: header[fixedLength + width..<ports], port: port(ports + 2))
    return (source, destination)
  }

  /// The TLVs from `start` to the end of the header. Strict, a framing or value error makes the
  /// header malformed; not strict (no known address layout), it leaves no TLVs instead. A
  /// checksum that is there is verified either way: the spec says a receiver that supports it
  /// MUST treat a mismatch as an invalid connection.
  private static func readTLVs(
    _ header: [UInt8], from start: Int, strict: Bool
  ) -> Result<[ProxyTLV], ProxyHeaderError> {
    let entries: [TLVReader.Entry]
    switch TLVReader.read(header[start...]) {
    case .success(let read):
      entries = read
    case .failure(let failure):
      guard strict else { return .success([]) }
      switch failure {
      case .trailingBytes(let count):
        return .failure(malformed("\(count) bytes after the last TLV, too few for one"))
      case .overrun(let type):
        return .failure(malformed("TLV \(hex(type)) runs past the header"))
      }
    }
    if let violation = violation(entries) {
      return strict ? .failure(malformed(violation)) : .success([])
    }
    if let checksum = entries.first(where: { $0.type == ProxyTLVType.crc32c }) {
      // The sender computed it with its own 4 bytes zeroed; so is it checked here.
      let field = checksum.value
      var register = CRC32C.update(~0, header[..<field.lowerBound])
      register = CRC32C.update(register, repeatElement(0, count: field.count))
      register = CRC32C.update(register, header[field.upperBound...])
      let received = header[field].reduce(0) { $0 << 8 | UInt32($1) }
      guard ~register == received else { return .failure(.checksumMismatch) }
    }
    return .success(entries.map { ProxyTLV(type: $0.type, value: Array(header[$0.value])) })
  }

  /// What the spec requires of registered TLVs' values.
  private static func violation(_ entries: [TLVReader.Entry]) -> String? {
    var checksums = 0
    for entry in entries {
      switch entry.type {
      case ProxyTLVType.crc32c:
        guard entry.value.count == 4 else {
          return "CRC32C TLV of \(entry.value.count) bytes, not 4"
        }
        // With two, which one's 4 bytes the sender zeroed is anyone's guess.
        checksums += 1
        guard checksums == 1 else { return "more than one CRC32C TLV" }
      case ProxyTLVType.uniqueID:
        guard entry.value.count <= maximumUniqueIDLength else {
          return "unique ID longer than \(maximumUniqueIDLength) bytes"
        }
      default:
        continue
      }
    }
    return nil
  }

  private static func malformed(_ reason: String) -> ProxyHeaderError {
    .malformed("v2: \(reason)")
  }

  private static func hex(_ byte: UInt8) -> String {
    "0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
  }
}

/// The address blocks of the family and protocol byte values section 2.2 lists.
private struct AddressBlock {
  let name: String
  /// nil for AF_UNIX: a path is nothing a receiver can use as a client's address.
  let family: ProxyAddress.Family?
  let size: Int

  init?(_ byte: UInt8) {
    switch byte {
    case 0x11: (name, family, size) = ("TCP4", .inet, 12)
    case 0x12: (name, family, size) = ("UDP4", .inet, 12)
    case 0x21: (name, family, size) = ("TCP6", .inet6, 36)
    case 0x22: (name, family, size) = ("UDP6", .inet6, 36)
    case 0x31: (name, family, size) = ("UNIX stream", nil, 216)
    case 0x32: (name, family, size) = ("UNIX datagram", nil, 216)
    default: return nil
    }
  }
}
