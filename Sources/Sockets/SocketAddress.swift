import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// An IPv4 or IPv6 socket address (address and port), as the kernel stores it.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
  private var storage: sockaddr_storage
  /// The length of the address inside `storage` (`socklen_t` in C).
  public private(set) var length: socklen_t

  public enum Family: Sendable {
    case ipv4, ipv6
  }

  /// An address from a sockaddr filled by the kernel (accept, getsockname).
  init(storage: sockaddr_storage, length: socklen_t) {
    self.storage = storage
    self.length = length
  }

  /// Parses a numeric IPv4 (`127.0.0.1`) or IPv6 (`::1`, with or without brackets) address.
  /// Returns nil when `host` is not a numeric address (it may be a name to resolve).
  public init?(numericHost host: String, port: UInt16) {
    var storage = sockaddr_storage()
    let bare =
      host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    var v4 = in_addr()
    var v6 = in6_addr()
    if inet_pton(AF_INET, bare, &v4) == 1 {
      withUnsafeMutableBytes(of: &storage) { raw in
        let sin = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
        sin.pointee.sin_family = sa_family_t(AF_INET)
        sin.pointee.sin_port = port.bigEndian
        sin.pointee.sin_addr = v4
      }
      self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in>.size))
    } else if inet_pton(AF_INET6, bare, &v6) == 1 {
      withUnsafeMutableBytes(of: &storage) { raw in
        let sin6 = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
        sin6.pointee.sin6_family = sa_family_t(AF_INET6)
        sin6.pointee.sin6_port = port.bigEndian
        sin6.pointee.sin6_addr = v6
      }
      self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
    } else {
      return nil
    }
  }

  /// Resolves `host` (a numeric address or a name) to its TCP addresses, in the resolver's order
  /// of preference. The corresponding C function is `getaddrinfo`.
  /// For listening, every address counts (`localhost`: 127.0.0.1 and ::1); for connecting, only
  /// families the machine has configured (AI_ADDRCONFIG).
  public static func resolve(
    host: String, port: UInt16, forListening: Bool = false
  ) throws(SocketError) -> [SocketAddress] {
    if let numeric = SocketAddress(numericHost: host, port: port) { return [numeric] }
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = forListening ? AI_PASSIVE : AI_ADDRCONFIG
    var list: UnsafeMutablePointer<addrinfo>?
    let status = getaddrinfo(host, String(port), &hints, &list)
    guard status == 0, let first = list else {
      if status == EAI_SYSTEM { throw SystemCall.failure("resolve host '\(host)'", errno: errno) }
      throw SocketError(
        "resolve host '\(host)'", resolverStatus: status,
        reason: String(cString: gai_strerror(status)))
    }
    defer { freeaddrinfo(list) }
    var result: [SocketAddress] = []
    var node: UnsafeMutablePointer<addrinfo>? = first
    while let entry = node {
      if let address = entry.pointee.ai_addr,
        entry.pointee.ai_family == AF_INET || entry.pointee.ai_family == AF_INET6
      {
        var storage = sockaddr_storage()
        let count = Int(entry.pointee.ai_addrlen)
        withUnsafeMutableBytes(of: &storage) { raw in
          raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: count))
        }
        let resolved = SocketAddress(storage: storage, length: entry.pointee.ai_addrlen)
        if !result.contains(resolved) { result.append(resolved) }
      }
      node = entry.pointee.ai_next
    }
    if result.isEmpty {
      throw SocketError(
        "resolve host '\(host)'", resolverStatus: EAI_NONAME, reason: "no IPv4 or IPv6 address")
    }
    return result
  }

  public var family: Family {
    Int32(storage.ss_family) == AF_INET6 ? .ipv6 : .ipv4
  }

  /// The port in host byte order.
  public var port: UInt16 {
    withUnsafeBytes(of: storage) { raw in
      switch family {
      case .ipv4: UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
      case .ipv6: UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
      }
    }
  }

  /// The same address (and IPv6 scope) with another port.
  public func withPort(_ port: UInt16) -> SocketAddress {
    var copy = self
    withUnsafeMutableBytes(of: &copy.storage) { raw in
      switch family {
      case .ipv4:
        raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port =
          port.bigEndian
      case .ipv6:
        raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port =
          port.bigEndian
      }
    }
    return copy
  }

  /// The address alone, numeric (`127.0.0.1`, `::1`).
  public var host: String {
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    withUnsafeBytes(of: storage) { raw in
      switch family {
      case .ipv4:
        var address = raw.load(as: sockaddr_in.self).sin_addr
        _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
      case .ipv6:
        var address = raw.load(as: sockaddr_in6.self).sin6_addr
        _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
      }
    }
    return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The address without its port, as a value to count by (a per-source limit): cheaper to
  /// hash than the text.
  public var hostKey: HostKey {
    withUnsafeBytes(of: storage) { raw in
      switch family {
      case .ipv4:
        let address = raw.load(as: sockaddr_in.self).sin_addr.s_addr
        return HostKey(family: 4, high: 0, low: UInt64(address))
      case .ipv6:
        let offset = MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
        return HostKey(
          family: 6, high: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self),
          low: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
      }
    }
  }

  /// `127.0.0.1:4433` or `[::1]:4433`.
  public var description: String {
    family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
  }

  /// Calls `body` with the address as the `sockaddr` pointer C functions take.
  @discardableResult
  public func withSockAddr<R, E: Error>(
    _ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R
  ) throws(E) -> R {
    var copy = storage
    return try withUnsafePointer(to: &copy) { pointer throws(E) in
      try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(E) in
        try body(address, length)
      }
    }
  }

  public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
    lhs.length == rhs.length
      && lhs.withSockAddr { l, n in
        rhs.withSockAddr { r, _ in memcmp(l, r, Int(n)) == 0 }
      }
  }

  public func hash(into hasher: inout Hasher) {
    withSockAddr { pointer, count in
      hasher.combine(bytes: UnsafeRawBufferPointer(start: pointer, count: Int(count)))
    }
  }
}

/// An IP address without its port, as a hashable value (`SocketAddress.hostKey`).
public struct HostKey: Hashable, Sendable {
  let family: UInt8
  let high: UInt64
  let low: UInt64
}
