import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// Moves a value that is not `Sendable` to another thread that becomes its only user.
/// Safe only when the sender never touches the value again, which the callers guarantee by
/// handing over a value they created for that thread alone.
struct Handover<Value>: @unchecked Sendable {
  let value: Value
}

/// A plain OS thread, for event loops: they block in `epoll_wait`, which must not happen on
/// Swift's cooperative pool.
enum LoopThread {
  private final class Body {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
  }

  static func spawn(
    name: String, _ body: @escaping @Sendable () -> Void
  ) throws(ServerError) -> pthread_t {
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
      throw ServerError.startup("start thread \(name)", String(cString: strerror(result)))
    }
    _ = pthread_setname_np(thread, String(name.prefix(15)))
    return thread
  }

  static func join(_ thread: pthread_t) {
    _ = pthread_join(thread, nil)
  }
}
