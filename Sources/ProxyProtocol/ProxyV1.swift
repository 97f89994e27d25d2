/// The human-readable header of section 2.1, one line:
/// "PROXY TCP4 <source> <destination> <source port> <destination port>\r\n", TCP6 likewise, or
/// "PROXY UNKNOWN" followed by anything up to the CRLF.
enum ProxyV1 {
  /// "PROXY" and exactly one space.
  static let signature = Array("PROXY ".utf8)
  /// The worst case the spec counts: UNKNOWN with two full IPv6 addresses and ports, CRLF
  /// included. A receiver that has this many bytes without a CRLF must declare the line invalid.
  static let maximumLength = 107

  private static let cr: UInt8 = 0x0D
  private static let lf: UInt8 = 0x0A
  private static let space: UInt8 = 0x20

  /// `head` starts with the signature and holds at most `maximumLength` bytes.
  static func parse(_ head: [UInt8]) -> ProxyParseResult {
    // Nothing is decoded before the CRLF (the spec asks to wait for it, so that an address is
    // never read half-received), but a line ending other than CRLF is refused as soon as seen.
    for index in signature.count..<head.count {
      switch head[index] {
      case cr:
        // A CR as the last byte so far: its LF may be next.
        guard index + 1 < head.count else { break }
        guard head[index + 1] == lf else { return malformed("CR not followed by LF") }
        return decode(head[signature.count..<index], length: index + 2)
      case lf:
        return malformed("LF without CR")
      default:
        continue
      }
    }
    // The CRLF could still complete the line only if its LF would fit in the 107 bytes.
    let crAtEnd = head.last == cr
    guard head.count + (crAtEnd ? 1 : 2) <= maximumLength else {
      return malformed("no CRLF within \(maximumLength) bytes")
    }
    return .needMore
  }

  /// The line between "PROXY " and the CRLF; `length` counts the whole header.
  private static func decode(_ line: ArraySlice<UInt8>, length: Int) -> ProxyParseResult {
    let fields = line.split(separator: space, omittingEmptySubsequences: false)
    let family: ProxyAddress.Family
    switch String(decoding: fields[0], as: UTF8.self) {
    case "UNKNOWN":
      // The spec: the receiver must ignore anything before the CRLF and use the real
      // connection's addresses.
      return .complete(
        ProxyHeader(version: .v1, command: .proxy, source: nil, destination: nil), length: length)
    case "TCP4":
      family = .inet
    case "TCP6":
      family = .inet6
    default:
      return malformed("unknown protocol \(quoted(fields[0]))")
    }
    let name = family == .inet ? "TCP4" : "TCP6"
    // Exactly one space between fields: an empty field is two spaces, or one at an end.
    guard fields.count == 5 else {
      return malformed("\(name) needs 4 fields after it, not \(fields.count - 1)")
    }
    guard !fields.contains(where: \.isEmpty) else {
      return malformed("\(name) fields not separated by exactly one space")
    }
    let sourcePort: UInt16
    let destinationPort: UInt16
    switch (port(fields[3]), port(fields[4])) {
    case (.failure(let reason), _):
      return malformed("source port \(reason)")
    case (_, .failure(let reason)):
      return malformed("destination port \(reason)")
    case (.success(let source), .success(let destination)):
      sourcePort = source
      destinationPort = destination
    }
    guard let source = ProxyAddress(family, text: fields[1], port: sourcePort) else {
      return badAddress(name, "source", fields[1], family)
    }
    guard let destination = ProxyAddress(family, text: fields[2], port: destinationPort) else {
      return badAddress(name, "destination", fields[2], family)
    }
    let header = ProxyHeader(
      version: .v1, command: .proxy, source: source, destination: destination)
    return .complete(header, length: length)
  }

  private struct PortError: Error, CustomStringConvertible {
    let description: String
  }

  /// A decimal number in 0...65535 without leading zeros (the spec rules them out to avoid any
  /// confusion with octal).
  private static func port(_ text: ArraySlice<UInt8>) -> Result<UInt16, PortError> {
    guard text.allSatisfy({ (0x30...0x39).contains($0) }) else {
      return .failure(PortError(description: "\(quoted(text)) is not a decimal number"))
    }
    guard text.count == 1 || text.first != 0x30 else {
      return .failure(PortError(description: "\(quoted(text)) has a leading zero"))
    }
    // Six digits or more are out of range whatever they are, and cannot overflow an Int here.
    let value = text.count > 5 ? Int.max : text.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    guard let port = UInt16(exactly: value) else {
      return .failure(PortError(description: "\(quoted(text)) is above 65535"))
    }
    return .success(port)
  }

  /// Names the common mistake of the wrong family precisely, for the log of whoever configured
  /// the proxy.
  private static func badAddress(
    _ name: String, _ role: String, _ text: ArraySlice<UInt8>, _ family: ProxyAddress.Family
  ) -> ProxyParseResult {
    let other: ProxyAddress.Family = family == .inet ? .inet6 : .inet
    if ProxyAddress(other, text: text, port: 0) != nil {
      return malformed("\(name) with an \(other == .inet ? "IPv4" : "IPv6") address")
    }
    return malformed("\(name) with a bad \(role) address \(quoted(text))")
  }

  private static func malformed(_ reason: String) -> ProxyParseResult {
    .invalid(.malformed("v1: \(reason)"))
  }

  /// Bytes from the wire, quoted, 24 of them at most.
  private static func quoted(_ bytes: ArraySlice<UInt8>) -> String {
    "\"" + WireText.printable(bytes, limit: 24) + "\""
  }
}
