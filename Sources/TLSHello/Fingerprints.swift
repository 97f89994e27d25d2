/// JA3 and JA4 of a ClientHello, computed as their public specifications define them:
/// - JA3: salesforce/ja3 README (SSLVersion,Ciphers,Extensions,EllipticCurves,
///   EllipticCurvePointFormats in decimal, GREASE removed, MD5 of that string); JA3N sorts the
///   extensions first.
/// - JA4: FoxIO-LLC/ja4 `technical_details/JA4.md` as of commit 0e54bc8 (2025), TLS over TCP
///   ("t"), with JA4_r, JA4_o and JA4_ro as its "Raw Output" section defines them.
/// The hash functions are passed in, so that this module needs no crypto library.
public struct Fingerprints: Sendable, Equatable {
  public var ja3: String
  public var ja3MD5: String
  public var ja3n: String
  public var ja3nMD5: String
  public var ja4: String
  public var ja4r: String
  public var ja4o: String
  public var ja4ro: String

  public struct Digests: Sendable {
    public var md5: @Sendable ([UInt8]) -> [UInt8]
    public var sha256: @Sendable ([UInt8]) -> [UInt8]

    public init(
      md5: @escaping @Sendable ([UInt8]) -> [UInt8],
      sha256: @escaping @Sendable ([UInt8]) -> [UInt8]
    ) {
      self.md5 = md5
      self.sha256 = sha256
    }
  }

  public init(_ hello: ClientHello, digests: Digests) {
    let ciphers = hello.cipherSuites.filter { !GREASE.contains($0) }
    let extensions = hello.extensions.map(\.type).filter { !GREASE.contains($0) }
    ja3 = Self.ja3String(hello, sortingExtensions: false)
    ja3n = Self.ja3String(hello, sortingExtensions: true)
    ja3MD5 = Self.hex(digests.md5(Array(ja3.utf8)))
    ja3nMD5 = Self.hex(digests.md5(Array(ja3n.utf8)))

    let a = Self.ja4a(hello, ciphers: ciphers.count, extensions: extensions.count)
    let sigalgs = Self.list(hello.signatureAlgorithms.filter { !GREASE.contains($0) })
    func withSigalgs(_ list: String) -> String { sigalgs.isEmpty ? list : list + "_" + sigalgs }
    func hash12(_ text: String, empty: Bool) -> String {
      empty ? "000000000000" : String(Self.hex(digests.sha256(Array(text.utf8))).prefix(12))
    }
    let sortedCiphers = Self.list(ciphers.sorted())
    // SNI and ALPN are in part a already; without them the same client has the same part c
    // whether it connects to a name or an address, with one protocol or another.
    let sortedExtensions = Self.list(
      extensions.filter { $0 != ExtensionType.serverName && $0 != ExtensionType.alpn }.sorted())
    let originalCiphers = Self.list(ciphers)
    let originalExtensions = Self.list(extensions)
    ja4r = "\(a)_\(sortedCiphers)_\(withSigalgs(sortedExtensions))"
    ja4ro = "\(a)_\(originalCiphers)_\(withSigalgs(originalExtensions))"
    ja4 =
      "\(a)_\(hash12(sortedCiphers, empty: ciphers.isEmpty))_"
      + hash12(withSigalgs(sortedExtensions), empty: sortedExtensions.isEmpty)
    ja4o =
      "\(a)_\(hash12(originalCiphers, empty: ciphers.isEmpty))_"
      + hash12(withSigalgs(originalExtensions), empty: extensions.isEmpty)
  }

  /// Only JA4 and JA3's MD5, for the close line of every connection: a third of the hashing
  /// and none of the long raw strings of `init`.
  public static func summary(_ hello: ClientHello, digests: Digests) -> (
    ja4: String, ja3MD5: String
  ) {
    let ciphers = hello.cipherSuites.filter { !GREASE.contains($0) }
    let extensions = hello.extensions.map(\.type).filter { !GREASE.contains($0) }
    let ja3 = ja3String(hello, sortingExtensions: false)
    let sigalgs = list(hello.signatureAlgorithms.filter { !GREASE.contains($0) })
    let sorted = list(
      extensions.filter { $0 != ExtensionType.serverName && $0 != ExtensionType.alpn }.sorted())
    let c = sigalgs.isEmpty ? sorted : sorted + "_" + sigalgs
    func hash12(_ text: String, empty: Bool) -> String {
      empty ? "000000000000" : String(hex(digests.sha256(Array(text.utf8))).prefix(12))
    }
    let ja4 =
      "\(ja4a(hello, ciphers: ciphers.count, extensions: extensions.count))_"
      + "\(hash12(list(ciphers.sorted()), empty: ciphers.isEmpty))_\(hash12(c, empty: sorted.isEmpty))"
    return (ja4, hex(digests.md5(Array(ja3.utf8))))
  }

  /// `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`, in decimal,
  /// GREASE removed; JA3N with the extensions sorted.
  static func ja3String(_ hello: ClientHello, sortingExtensions: Bool) -> String {
    func decimal(_ values: [UInt16]) -> String {
      var text: [UInt8] = []
      for value in values where !GREASE.contains(value) {
        if !text.isEmpty { text.append(UInt8(ascii: "-")) }
        appendDecimal(Int(value), to: &text)
      }
      return String(decoding: text, as: UTF8.self)
    }
    let extensions = hello.extensions.map(\.type)
    return [
      "\(hello.legacyVersion)", decimal(hello.cipherSuites),
      decimal(sortingExtensions ? extensions.sorted() : extensions), decimal(hello.groups),
      hello.pointFormats.map(String.init).joined(separator: "-"),
    ].joined(separator: ",")
  }

  /// `t13d1516h2`: protocol, version, SNI or not, counts, first ALPN's first and last character.
  static func ja4a(_ hello: ClientHello, ciphers: Int, extensions: Int) -> String {
    let version =
      switch hello.highestVersion {
      case 0x0304: "13"
      case 0x0303: "12"
      case 0x0302: "11"
      case 0x0301: "10"
      case 0x0300: "s3"
      case 0x0002: "s2"
      case 0xFEFF: "d1"
      case 0xFEFD: "d2"
      case 0xFEFC: "d3"
      default: "00"
      }
    let sni = hello.hasExtension(ExtensionType.serverName) ? "d" : "i"
    func two(_ count: Int) -> String { count < 10 ? "0\(count)" : "\(min(count, 99))" }
    return "t\(version)\(sni)\(two(ciphers))\(two(extensions))\(alpnCharacters(hello.alpn.first))"
  }

  /// The first and last character of the first ALPN value; its hex form's first and last digit
  /// when either end is not an ASCII letter or digit; `00` when there is none.
  public static func alpnCharacters(_ value: [UInt8]?) -> String {
    guard let value, let first = value.first, let last = value.last else { return "00" }
    func alphanumeric(_ byte: UInt8) -> Bool {
      (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
    guard alphanumeric(first) && alphanumeric(last) else {
      let digits = hex(value)
      return "\(digits.first!)\(digits.last!)"
    }
    return String(decoding: [first, last], as: UTF8.self)
  }

  /// `002f,0035,...`: four lower-case hex digits per value.
  static func list(_ values: [UInt16]) -> String {
    // Built as bytes: this runs for every connection, and a String per value adds up.
    var text: [UInt8] = []
    text.reserveCapacity(values.count * 5)
    for value in values {
      if !text.isEmpty { text.append(UInt8(ascii: ",")) }
      for shift in [12, 8, 4, 0] { text.append(hexDigits[Int(value >> UInt16(shift) & 0xF)]) }
    }
    return String(decoding: text, as: UTF8.self)
  }

  /// Lower-case hex, two digits a byte.
  public static func hex(_ bytes: [UInt8]) -> String {
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      text.append(hexDigits[Int(byte >> 4)])
      text.append(hexDigits[Int(byte & 0xF)])
    }
    return String(decoding: text, as: UTF8.self)
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)

  private static func appendDecimal(_ value: Int, to text: inout [UInt8]) {
    if value >= 10 { appendDecimal(value / 10, to: &text) }
    text.append(UInt8(ascii: "0") + UInt8(value % 10))
  }
}
