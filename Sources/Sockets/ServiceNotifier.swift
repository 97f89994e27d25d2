#if canImport(Glibc)
  import Glibc
#endif

/// The service manager's readiness protocol (`sd_notify(3)`), spoken without libsystemd: one
/// datagram of newline-separated assignments (`READY=1`, `STATUS=...`, `STOPPING=1`) to the unix
/// socket that systemd names in `$NOTIFY_SOCKET` for a `Type=notify` service.
///
/// Owns one non-blocking, close-on-exec datagram socket, opened when the notifier is made and
/// closed in `deinit`. One socket for the process's life rather than one per message: a server
/// whose connections take every descriptor it may have (`--max-connections` defaults to what
/// the limit allows) must still be able to say `STOPPING=1` on SIGTERM, and a socket opened at
/// start-up cannot fail then with EMFILE.
///
/// `$NOTIFY_SOCKET` is left set. sd_notify can unset it so that child processes do not notify
/// in the service's name, but the server starts none.
///
/// Sendable: the descriptor and the address never change after `init`, and each `sendto(2)` on
/// a datagram socket is one whole message, whichever thread makes it.
public final class ServiceNotifier: Sendable {
  /// `$NOTIFY_SOCKET` as given: a path (`/run/systemd/notify`) or an abstract name (`@name`).
  public let socketName: String
  private let address: sockaddr_un
  private let addressLength: socklen_t
  private let descriptor: Int32

  /// The notifier for `$NOTIFY_SOCKET`, or nil when it is unset or empty (the process was not
  /// started by a service manager waiting to hear from it). Throws when the variable names no
  /// socket this process can send to (see `init(socketName:)`).
  public static func fromEnvironment() throws(SocketError) -> ServiceNotifier? {
    guard let value = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !value.isEmpty else {
      return nil
    }
    return try ServiceNotifier(socketName: value)
  }

  /// A notifier for `name`, as `$NOTIFY_SOCKET` spells it: an absolute path, or `@` followed by
  /// a name in the abstract namespace (the `@` stands for the leading NUL byte of `sun_path`).
  /// Opens the socket; sends nothing yet.
  public init(socketName name: String) throws(SocketError) {
    let operation = "NOTIFY_SOCKET '\(name)'"
    var bytes = Array(name.utf8)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    let pathLength: Int
    switch bytes.first {
    case UInt8(ascii: "/"):
      // A path ends with a NUL inside sun_path (systemd's own sd_notify insists on it too).
      guard bytes.count < capacity else {
        throw SocketError(
          operation,
          reason: "a socket path has at most \(capacity - 1) bytes, this one has \(bytes.count)")
      }
      pathLength = bytes.count + 1
    case UInt8(ascii: "@"):
      // An abstract name has no terminator: the address length says where it ends, so it must
      // be exact. `sizeof(sockaddr_un)` would name another socket, padded with NULs.
      guard bytes.count <= capacity else {
        throw SocketError(
          operation,
          reason: "an abstract socket name has at most \(capacity - 1) bytes after '@', this one "
            + "has \(bytes.count - 1)")
      }
      bytes[0] = 0
      pathLength = bytes.count
    default:
      throw SocketError(
        operation, reason: "neither an absolute path nor an @abstract name (vsock is not supported)"
      )
    }
    guard !bytes.dropFirst().contains(0) else {
      throw SocketError(operation, reason: "contains a NUL byte")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    self.socketName = name
    self.address = address
    self.addressLength = socklen_t(MemoryLayout<sa_family_t>.size + pathLength)
    // Non-blocking: if the service manager stops reading, its queue fills and a blocking send
    // would hold up the thread that also answers signals. A full queue is reported instead.
    let type =
      Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
    self.descriptor = try syscall("create a socket for \(operation)") {
      Glibc.socket(AF_UNIX, type, 0)
    }
  }

  deinit { Socket.release(descriptor) }

  /// Sends `assignments` (`"READY=1\nSTATUS=listening"`) as one datagram, without waiting: a
  /// service manager whose queue is full gets nothing, and that is reported as an error (EAGAIN),
  /// not retried. The corresponding C function is `sendto`.
  public func notify(_ assignments: String) throws(SocketError) {
    let operation = "notify NOTIFY_SOCKET '\(socketName)'"
    let message = Array(assignments.utf8)
    let result = try SystemCall.nonBlocking(operation) {
      message.withUnsafeBytes { bytes in
        withUnsafePointer(to: address) { pointer in
          pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
            sendto(
              descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), target,
              addressLength)
          }
        }
      }
    }
    switch result {
    case .wouldBlock:
      throw SocketError(
        operation, reason: "the service manager's queue is full; the message was dropped",
        errno: EAGAIN)
    case .processed(let sent) where sent != message.count:
      throw SocketError(operation, reason: "sent \(sent) of \(message.count) bytes")
    case .processed:
      return
    }
  }
}
