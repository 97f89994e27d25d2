import TLSHello

/// Builds ClientHello handshake messages for the parser and fingerprint tests: the lists as
/// given, each known extension with a well-formed body.
struct HelloBuilder {
  var legacyVersion: UInt16 = 0x0303
  var ciphers: [UInt16] = [0x1301, 0x1302]
  /// Extension types in wire order; the body of each comes from the fields below.
  var extensions: [UInt16] = [0x0000, 0x000a, 0x000d, 0x0010, 0x002b, 0x0033]
  var serverName = "localhost"
  var groups: [UInt16] = [0x001d, 0x0017]
  var pointFormats: [UInt8] = [0]
  var signatureAlgorithms: [UInt16] = [0x0403, 0x0804]
  var alpn: [[UInt8]] = [Array("h2".utf8)]
  var supportedVersions: [UInt16] = [0x0304, 0x0303]
  var keyShares: [UInt16] = [0x001d]

  func bytes() -> [UInt8] {
    var body = u16(legacyVersion) + [UInt8](repeating: 7, count: 32) + [0]
    body += u16(UInt16(ciphers.count * 2)) + ciphers.flatMap(u16) + [1, 0]
    let encoded = extensions.flatMap { type in u16(type) + withLength16(extensionBody(type)) }
    body += withLength16(encoded)
    return [1] + u24(body.count) + body
  }

  private func extensionBody(_ type: UInt16) -> [UInt8] {
    switch type {
    case 0x0000:
      return withLength16([0] + withLength16(Array(serverName.utf8)))
    case 0x000a: return withLength16(groups.flatMap(u16))
    case 0x000b: return [UInt8(pointFormats.count)] + pointFormats
    case 0x000d, 0x0032: return withLength16(signatureAlgorithms.flatMap(u16))
    case 0x0010: return withLength16(alpn.flatMap { [UInt8($0.count)] + $0 })
    case 0x002b: return [UInt8(supportedVersions.count * 2)] + supportedVersions.flatMap(u16)
    case 0x002d: return [1, 1]
    case 0x0033: return withLength16(keyShares.flatMap { u16($0) + withLength16([1, 2, 3, 4]) })
    case 0xff01: return [0]
    default: return []
    }
  }

  private func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
  private func u24(_ value: Int) -> [UInt8] {
    [UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
  }
  private func withLength16(_ bytes: [UInt8]) -> [UInt8] { u16(UInt16(bytes.count)) + bytes }
}
