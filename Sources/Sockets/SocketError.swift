#if canImport(Glibc)
  import Glibc
#endif

/// A failed system call on a socket: which operation, and the `errno` it left.
public struct SocketError: Error, Equatable, CustomStringConvertible {
  /// What was being done, in words a user can act on ("bind 127.0.0.1:4433").
  public var operation: String
  /// The `errno` value the call failed with; 0 when the failure had no errno (a resolver error).
  public var code: Int32
  /// The cause in words, from `strerror` or the resolver.
  public var reason: String

  public init(_ operation: String, errno code: Int32) {
    self.operation = operation
    self.code = code
    self.reason = String(cString: strerror(code))
  }

  public init(_ operation: String, reason: String) {
    self.operation = operation
    self.code = 0
    self.reason = reason
  }

  public var description: String { "\(operation): \(reason)" }

  /// The peer went away abruptly (RST, broken pipe): an ordinary end for a server, not a fault.
  public var isConnectionReset: Bool {
    code == ECONNRESET || code == EPIPE || code == ECONNABORTED || code == ETIMEDOUT
  }
}

/// What a non-blocking operation did: finished, or could not go on without waiting.
public enum IOResult<Value> {
  case processed(Value)
  case wouldBlock
}

extension IOResult: Equatable where Value: Equatable {}

/// Runs one system call and interprets its result in the one place that knows errno's rules:
/// EINTR is retried, EAGAIN becomes `.wouldBlock`, anything else throws with the operation named.
@inline(__always)
func nonBlockingSyscall<T: FixedWidthInteger>(
  _ operation: @autoclosure () -> String, _ call: () -> T
) throws(SocketError) -> IOResult<T> {
  while true {
    let result = call()
    if result >= 0 { return .processed(result) }
    let code = errno
    switch code {
    case EINTR: continue
    case EAGAIN, EWOULDBLOCK, EINPROGRESS: return .wouldBlock
    default: throw SocketError(operation(), errno: code)
    }
  }
}

/// Like `nonBlockingSyscall`, for calls on blocking descriptors or calls that never block.
@inline(__always)
@discardableResult
func syscall<T: FixedWidthInteger>(
  _ operation: @autoclosure () -> String, _ call: () -> T
) throws(SocketError) -> T {
  while true {
    let result = call()
    if result >= 0 { return result }
    let code = errno
    if code == EINTR { continue }
    throw SocketError(operation(), errno: code)
  }
}
