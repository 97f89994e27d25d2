/// What the bytes received so far make of a header. The three cases let a caller that reads
/// into a buffer decide without keeping state of its own: wait, strip `length` bytes and go on
/// with the rest (a TLS ClientHello, say), or close.
public enum ProxyParseResult: Sendable, Equatable {
  /// Not enough bytes yet; every byte given so far belongs to the header (so the caller may
  /// consume them all).
  case needMore
  /// A complete header of exactly `length` bytes at the start of the input; bytes after it are
  /// NOT part of it.
  case complete(ProxyHeader, length: Int)
  case invalid(ProxyHeaderError)
}

/// Reads a PROXY protocol header (v1, v2 or either) from the start of a connection. Pure: it
/// keeps nothing between calls, so the caller gives it everything received so far each time.
///
/// It decides as early as the bytes allow: the first byte that cannot belong to an accepted
/// header makes the input invalid at once (a ClientHello's 0x16 at the first byte), rather than
/// waiting for a timeout, as the spec recommends ("abort the connection as soon as possible").
public struct ProxyHeaderParser: Sendable {
  public let accepts: Set<ProxyVersion>
  /// The most bytes a v2 header may take, its 16 fixed bytes included. v1 needs no limit of its
  /// own: its line is at most 107 bytes.
  public let maximumLength: Int

  public init(accepting: Set<ProxyVersion>, maximumLength: Int = 65_536) {
    self.accepts = accepting
    self.maximumLength = maximumLength
  }

  /// Parses the start of `bytes` (everything received so far on the connection, possibly
  /// followed by TLS bytes).
  public func parse(_ bytes: UnsafeRawBufferPointer) -> ProxyParseResult {
    // The bytes that can matter are copied out, so that every read after this is bounds-checked:
    // enough to tell the version and hold any v1 line, and a v2 header only once it is all here
    // (so a header arriving a byte at a time is not copied again at each byte).
    let head = Array(bytes.prefix(ProxyV1.maximumLength))
    switch signature(head) {
    case .undecided:
      return .needMore
    case .rejected(let error):
      return .invalid(error)
    case .v1:
      return ProxyV1.parse(head)
    case .v2:
      switch ProxyV2.size(head) {
      case .undecided:
        return .needMore
      case .rejected(let error):
        return .invalid(error)
      case .size(let size):
        guard size <= maximumLength else { return .invalid(.tooLong(size)) }
        guard bytes.count >= size else { return .needMore }
        return ProxyV2.parse(Array(bytes.prefix(size)))
      }
    }
  }

  public func parse(_ bytes: [UInt8]) -> ProxyParseResult {
    bytes.withUnsafeBytes { parse($0) }
  }

  /// The whole length of the v2 header whose first 16 bytes start `bytes`, as it declares it;
  /// nil for fewer bytes or another signature. A reader that knows it can take the rest of the
  /// header without looking at it again.
  public static func declaredV2Length(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= ProxyV2.fixedLength, bytes.starts(with: ProxyV2.signature) else {
      return nil
    }
    return ProxyV2.fixedLength + (Int(bytes[14]) << 8 | Int(bytes[15]))
  }

  private enum Signature {
    case undecided
    case rejected(ProxyHeaderError)
    case v1
    case v2
  }

  /// Which signature the input starts with, as soon as its first bytes tell: the two share no
  /// first byte, so one byte is enough to know which one it can still become.
  private func signature(_ head: [UInt8]) -> Signature {
    guard !head.isEmpty else { return .undecided }
    let candidates: [(ProxyVersion, [UInt8])] = [
      (.v1, ProxyV1.signature), (.v2, ProxyV2.signature),
    ]
    for (version, signature) in candidates {
      let seen = min(head.count, signature.count)
      guard head.prefix(seen).elementsEqual(signature.prefix(seen)) else { continue }
      guard accepts.contains(version) else { return .rejected(.versionNotAccepted(version)) }
      if seen < signature.count { return .undecided }
      return version == .v1 ? .v1 : .v2
    }
    return .rejected(.badSignature)
  }
}
