import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// Moves a value that is not `Sendable` to another thread that becomes its only user.
/// Safe only when the sender never touches the value again, which the callers guarantee by
/// handing over a value they created for that thread alone.
public struct Handover<Value>: @unchecked Sendable {
  public let value: Value

  public init(value: Value) { self.value = value }
}

/// A plain OS thread, for event loops (the server's and the load generator's): they block in
/// `epoll_wait`, which must not happen on Swift's cooperative pool.
public enum LoopThread {
  private final class Body {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
  }

  public static func spawn(
    name: String, _ body: @escaping @Sendable () -> Void
  ) throws(SocketError) -> pthread_t {
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    let result = pthread_create(
      &thread, nil,
      { raw in
        let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
        body.run()
        return nil
      }, context)
    guard result == 0 else {
      Unmanaged<Body>.fromOpaque(context).release()
      throw SocketError("start thread \(name)", errno: result)
    }
    _ = pthread_setname_np(thread, String(name.prefix(15)))
    return thread
  }

  public static func join(_ thread: pthread_t) {
    _ = pthread_join(thread, nil)
  }
}
