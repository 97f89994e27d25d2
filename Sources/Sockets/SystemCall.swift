#if canImport(Glibc)
  import Glibc
#endif

/// The one place that knows errno's rules. Every system call of the socket layer (and of the
/// executables, for descriptors they own) goes through here:
/// - `EINTR` is retried;
/// - `EAGAIN`/`EWOULDBLOCK`/`EINPROGRESS` are `.wouldBlock` on a non-blocking descriptor;
/// - `EBADF` and `EFAULT` mean the program passed a closed descriptor or a bad pointer: a bug
///   here, never the peer's doing, so they stop the process (precondition) instead of being
///   reported as a connection error that would hide it;
/// - anything else throws a `SocketError` naming the operation.
public enum SystemCall {
  /// Runs `call` on a non-blocking descriptor.
  @inline(__always)
  public static func nonBlocking<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ call: () -> T
  ) throws(SocketError) -> IOResult<T> {
    while true {
      let result = call()
      if result >= 0 { return .processed(result) }
      let code = errno
      switch code {
      case EINTR: continue
      case EAGAIN, EWOULDBLOCK, EINPROGRESS: return .wouldBlock
      default: throw failure(operation(), errno: code)
      }
    }
  }

  /// Runs `call` on a blocking descriptor, or a call that never blocks.
  @inline(__always)
  @discardableResult
  public static func blocking<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ call: () -> T
  ) throws(SocketError) -> T {
    while true {
      let result = call()
      if result >= 0 { return result }
      let code = errno
      if code == EINTR { continue }
      throw failure(operation(), errno: code)
    }
  }

  /// The error for a call that failed with `code`, after trapping on programmer errors. For
  /// layers that get errno second-hand (OpenSSL's `SSL_ERROR_SYSCALL`).
  public static func failure(_ operation: String, errno code: Int32) -> SocketError {
    precondition(
      code != EBADF && code != EFAULT,
      "\(operation): \(String(cString: strerror(code))): a closed descriptor or a bad pointer")
    return SocketError(operation, errno: code)
  }
}

/// Shorthands inside the socket layer.
@inline(__always)
func nonBlockingSyscall<T: FixedWidthInteger>(
  _ operation: @autoclosure () -> String, _ call: () -> T
) throws(SocketError) -> IOResult<T> {
  try SystemCall.nonBlocking(operation(), call)
}

@inline(__always)
@discardableResult
func syscall<T: FixedWidthInteger>(
  _ operation: @autoclosure () -> String, _ call: () -> T
) throws(SocketError) -> T {
  try SystemCall.blocking(operation(), call)
}
