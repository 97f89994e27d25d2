import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// A TCP socket: the sole owner of one file descriptor, which it closes exactly once
/// (in `close()` or, failing that, in `deinit`).
///
/// Not `Sendable`: a socket belongs to one thread at a time (one event loop, or the client).
public final class Socket {
  /// The descriptor, or -1 once closed. Borrow it only while the socket is alive.
  public private(set) var descriptor: Int32

  /// Takes ownership of `descriptor`.
  public init(owning descriptor: Int32) {
    precondition(descriptor >= 0, "Socket needs an open descriptor")
    self.descriptor = descriptor
  }

  deinit {
    if descriptor >= 0 { Socket.release(descriptor) }
  }

  /// Closes the descriptor now. Closing twice is a no-op, so every path may call it; any I/O
  /// after it is a programmer error and stops the process (see `open`).
  public func close() {
    guard descriptor >= 0 else { return }
    Socket.release(descriptor)
    descriptor = -1
  }

  /// `close(2)`, not retried: on Linux the descriptor is gone even on EINTR. EBADF would mean a
  /// descriptor closed twice behind this object's back.
  static func release(_ descriptor: Int32) {
    if Glibc.close(descriptor) != 0 && errno != EINTR {
      _ = SystemCall.failure("close", errno: errno)
    }
  }

  /// The descriptor, for a call that needs an open one.
  @inline(__always)
  var open: Int32 {
    precondition(descriptor >= 0, "I/O on a closed socket")
    return descriptor
  }

  public var isOpen: Bool { descriptor >= 0 }

  // MARK: Creating

  /// A new TCP socket for `family`, close-on-exec, optionally non-blocking.
  public static func tcp(
    _ family: SocketAddress.Family, nonBlocking: Bool = false
  ) throws(SocketError) -> Socket {
    try create(family, Int32(SOCK_STREAM.rawValue), nonBlocking, "create socket")
  }

  /// A new socket of `type` (`SOCK_STREAM`, `SOCK_DGRAM`), close-on-exec.
  static func create(
    _ family: SocketAddress.Family, _ type: Int32, _ nonBlocking: Bool, _ operation: String
  ) throws(SocketError) -> Socket {
    var type = type | Int32(SOCK_CLOEXEC.rawValue)
    if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
    let domain = family == .ipv6 ? AF_INET6 : AF_INET
    let fd = try syscall(operation) { Glibc.socket(domain, type, 0) }
    return Socket(owning: fd)
  }

  /// A listening socket bound to `address` (port 0: the kernel picks a free port).
  /// `SO_REUSEADDR` lets a restarted server bind while old connections sit in TIME_WAIT;
  /// `reusePort` (`SO_REUSEPORT`) lets several processes listen on one port, the kernel
  /// spreading new connections over them.
  public static func listening(
    on address: SocketAddress, backlog: Int32 = 1024, reusePort: Bool = false
  ) throws(SocketError) -> Socket {
    let socket = try Socket.tcp(address.family, nonBlocking: true)
    try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
    if reusePort { try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT") }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: set once here rather
    // than once per connection (an echo is latency-bound; Nagle would hold small writes).
    try socket.setNoDelay()
    if address.family == .ipv6 {
      // `::1` or `::` means IPv6 only; IPv4 clients use an IPv4 address.
      try socket.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY")
    }
    try address.withSockAddr { (pointer, length) throws(SocketError) in
      try syscall("bind \(address)") { Glibc.bind(socket.descriptor, pointer, length) }
    }
    try syscall("listen on \(address)") { Glibc.listen(socket.descriptor, backlog) }
    return socket
  }

  /// Connects a blocking socket to the first of `addresses` that accepts, and returns it.
  /// Each address gets up to `timeoutMilliseconds` (-1: the kernel's own, minutes), so a server
  /// whose accept queue is full cannot hang the caller.
  public static func connect(
    to addresses: [SocketAddress], timeoutMilliseconds: Int32 = -1
  ) throws(SocketError) -> Socket {
    var lastError = SocketError("connect", reason: "no address to connect to")
    for address in addresses {
      do throws(SocketError) {
        let (socket, connected) = try startConnect(to: address)
        if !connected {
          guard try socket.waitUntil(writable: true, timeoutMilliseconds: timeoutMilliseconds)
          else {
            throw SocketError(
              "connect to \(address)",
              reason: "no answer within \(seconds(timeoutMilliseconds)) s", errno: ETIMEDOUT)
          }
          try socket.finishConnect(to: address)
        }
        try socket.setNonBlocking(false)
        return socket
      } catch {
        lastError = error
      }
    }
    throw lastError
  }

  /// Starts connecting a non-blocking socket to `address`. Returns the socket and whether the
  /// connection is already established; if not, wait until it is writable and call
  /// `finishConnect()`.
  public static func startConnect(
    to address: SocketAddress
  ) throws(SocketError) -> (socket: Socket, connected: Bool) {
    let socket = try Socket.tcp(address.family, nonBlocking: true)
    let result = try address.withSockAddr { (pointer, length) throws(SocketError) in
      try nonBlockingSyscall("connect to \(address)") {
        Glibc.connect(socket.descriptor, pointer, length)
      }
    }
    return (socket, result != .wouldBlock)
  }

  /// Reports how a connection started by `startConnect` ended up, once the socket is writable.
  public func finishConnect(to address: SocketAddress? = nil) throws(SocketError) {
    var code: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    try syscall("getsockopt(SO_ERROR)") {
      getsockopt(open, SOL_SOCKET, SO_ERROR, &code, &length)
    }
    if code != 0 {
      throw SystemCall.failure(address.map { "connect to \($0)" } ?? "connect", errno: code)
    }
  }

  /// Accepts one pending connection as a non-blocking, close-on-exec socket.
  /// Errors that concern only the connection being accepted (it was reset before we got to it)
  /// are reported as `.wouldBlock`-free retries by the caller: they throw with `isConnectionReset`.
  /// The corresponding C function is `accept4`.
  public static func accept(
    listener descriptor: Int32
  ) throws(SocketError) -> IOResult<(Socket, SocketAddress)> {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    let result = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SocketError) in
      try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        (address) throws(SocketError) in
        try nonBlockingSyscall("accept") { accept4(descriptor, address, &length, flags) }
      }
    }
    switch result {
    case .wouldBlock: return .wouldBlock
    case .processed(let fd):
      return .processed((Socket(owning: fd), SocketAddress(storage: storage, length: length)))
    }
  }

  // MARK: Data

  /// Reads into `buffer`. `.processed(0)` means the peer closed its side (EOF).
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> IOResult<Int>
  {
    try nonBlockingSyscall("read") { Glibc.read(open, buffer.baseAddress, buffer.count) }
  }

  /// Copies what has arrived into `buffer` and leaves it queued: the next read gets it again.
  /// `.processed(0)` means the peer closed its side (EOF).
  public func peek(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> IOResult<Int>
  {
    try nonBlockingSyscall("read") {
      Glibc.recv(open, buffer.baseAddress, buffer.count, Int32(MSG_PEEK))
    }
  }

  /// Writes what the kernel takes of `buffer` now: possibly only part of it. Never raises SIGPIPE.
  public func write(_ buffer: UnsafeRawBufferPointer) throws(SocketError) -> IOResult<Int> {
    try nonBlockingSyscall("write") {
      Glibc.send(open, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
    }
  }

  /// Writes all of `buffer` on a blocking socket, looping over partial writes.
  public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(SocketError) {
    var offset = 0
    while offset < buffer.count {
      switch try write(UnsafeRawBufferPointer(rebasing: buffer[offset...])) {
      case .processed(let count): offset += count
      case .wouldBlock: try waitUntil(writable: true)
      }
    }
  }

  /// Closes the sending direction (TCP FIN); reads still work. The corresponding C function is
  /// `shutdown(SHUT_WR)`.
  public func shutdownOutput() throws(SocketError) {
    try syscall("shutdown") { Glibc.shutdown(open, Int32(SHUT_WR)) }
  }

  /// Blocks until the socket is readable or writable, or `timeoutMilliseconds` pass (-1: no
  /// limit). Returns false on the timeout. Used by blocking callers of a non-blocking socket.
  @discardableResult
  public func waitUntil(writable: Bool, timeoutMilliseconds: Int32 = -1) throws(SocketError)
    -> Bool
  {
    var entry = pollfd(fd: open, events: Int16(writable ? POLLOUT : POLLIN), revents: 0)
    return try syscall("poll") { poll(&entry, 1, timeoutMilliseconds) } > 0
  }

  // MARK: Options

  public func setNonBlocking(_ on: Bool) throws(SocketError) {
    let flags = try syscall("fcntl(F_GETFL)") { fcntl(open, F_GETFL) }
    let updated = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
    try syscall("fcntl(F_SETFL)") { fcntl(open, F_SETFL, updated) }
  }

  /// Sends small writes at once instead of waiting to coalesce them (Nagle): an echo is
  /// latency-bound.
  public func setNoDelay() throws(SocketError) {
    try setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY")
  }

  /// Makes `close` send RST at once instead of FIN (SO_LINGER with a zero timeout).
  public func setResetOnClose() throws(SocketError) {
    var value = linger(l_onoff: 1, l_linger: 0)
    try syscall("setsockopt(SO_LINGER)") {
      setsockopt(open, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }
  }

  public func setOption(
    _ level: Int32, _ name: Int32, _ value: Int32, _ label: String
  ) throws(SocketError) {
    var value = value
    try syscall("setsockopt(\(label))") {
      setsockopt(open, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }
  }

  /// The address this socket is bound to; for a listener on port 0, it holds the real port.
  public func localAddress() throws(SocketError) -> SocketAddress {
    try address("getsockname", getsockname)
  }

  /// The address of the other end of a connected socket: of several a name resolved to, the
  /// one that accepted.
  public func peerAddress() throws(SocketError) -> SocketAddress {
    try address("getpeername", getpeername)
  }

  /// An address the kernel fills in: `getsockname` or `getpeername`.
  private func address(
    _ name: String,
    _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
  ) throws(SocketError) -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SocketError) in
      try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        (address) throws(SocketError) in
        _ = try syscall(name) { call(open, address, &length) }
      }
    }
    return SocketAddress(storage: storage, length: length)
  }
}

/// `1.5`, `10`: milliseconds as seconds, for messages.
public func seconds(_ milliseconds: some BinaryInteger) -> String {
  let whole = Int(milliseconds) / 1000
  let fraction = Int(milliseconds) % 1000
  guard fraction != 0 else { return "\(whole)" }
  var digits = String(1000 + fraction).dropFirst()
  while digits.hasSuffix("0") { digits = digits.dropLast() }
  return "\(whole).\(digits)"
}
