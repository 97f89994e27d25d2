#if canImport(Glibc)
  import Glibc
#endif

/// A failed system call on a socket (or a failed name lookup): which operation, and why.
public struct SocketError: Error, Equatable, CustomStringConvertible {
  /// Where the cause came from, which decides what `code` means.
  public enum Domain: Sendable, Equatable {
    /// `code` is an `errno` value.
    case system
    /// The resolver (`getaddrinfo`) failed; `code` is its `EAI_*` status.
    case resolver
    /// No call failed: the operation could not go on (a timeout, nothing to connect to).
    case logic
  }

  /// What was being done, in words a user can act on ("bind 127.0.0.1:4433").
  public var operation: String
  public var domain: Domain
  /// The `errno` value (`.system`), the resolver's status (`.resolver`), or 0.
  public var code: Int32
  /// The cause in words, from `strerror`, the resolver, or the caller.
  public var reason: String

  /// A call that failed with `errno` `code`. Use `SystemCall` to make one: it decides which
  /// codes are ordinary outcomes, which are failures and which are programmer errors.
  public init(_ operation: String, errno code: Int32) {
    self.operation = operation
    self.domain = .system
    self.code = code
    self.reason = String(cString: strerror(code))
  }

  public init(_ operation: String, resolverStatus status: Int32, reason: String) {
    self.operation = operation
    self.domain = .resolver
    self.code = status
    self.reason = reason
  }

  /// A failure that no system call reported (`ETIMEDOUT` is used for timeouts, so that they
  /// read and classify like the kernel's).
  public init(_ operation: String, reason: String, errno code: Int32 = 0) {
    self.operation = operation
    self.domain = code == 0 ? .logic : .system
    self.code = code
    self.reason = reason
  }

  public var description: String { "\(operation): \(reason)" }

  /// The peer went away abruptly (RST, broken pipe): an ordinary end for a server, not a fault.
  public var isConnectionReset: Bool {
    domain == .system
      && (code == ECONNRESET || code == EPIPE || code == ECONNABORTED || code == ETIMEDOUT)
  }

  /// The process or the system is out of descriptors.
  public var isDescriptorExhaustion: Bool {
    domain == .system && (code == EMFILE || code == ENFILE)
  }
}

/// What a non-blocking operation did: finished, or could not go on without waiting.
public enum IOResult<Value> {
  case processed(Value)
  case wouldBlock
}

extension IOResult: Equatable where Value: Equatable {}
