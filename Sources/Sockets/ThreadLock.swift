#if canImport(Glibc)
  import Glibc
#endif

/// A value behind a pthread mutex, for state that several threads change often (the log
/// buffer). `Synchronization.Mutex` would be the first choice, but on Linux its lock and unlock
/// run in the standard library's uninstrumented code, so Thread Sanitizer cannot see them order
/// the accesses they guard and reports each one as a race; `pthread_mutex_lock` is intercepted
/// by the sanitizer, so it sees this lock for what it is.
///
/// `@unchecked Sendable`: `value` is only reached inside `withLock`, under the mutex.
public final class ThreadLock<Value: Sendable>: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private var value: Value

  public init(_ value: Value) {
    self.value = value
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body(&value)
  }
}
