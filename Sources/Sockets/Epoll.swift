import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// An epoll instance: the readiness set of one event loop. Owns its descriptor.
///
/// Level-triggered by default: a connection that still has bytes to read is reported again on
/// the next wait, so a loop may stop early for fairness without losing the event.
public final class Epoll {
  public let descriptor: Int32
  private var events: [epoll_event]

  public struct Interest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = Interest(rawValue: EPOLLIN.rawValue)
    public static let writable = Interest(rawValue: EPOLLOUT.rawValue)
    /// Wakes only one of the epoll sets waiting on a shared descriptor (a shared listener).
    public static let exclusive = Interest(rawValue: EPOLLEXCLUSIVE.rawValue)
    /// Reported, never asked for: an error on the socket (a reset).
    public static let error = Interest(rawValue: EPOLLERR.rawValue)
  }

  public init(capacity: Int = 256) throws(SocketError) {
    descriptor = try syscall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    events = Array(repeating: epoll_event(), count: capacity)
  }

  deinit { close(descriptor) }

  public func add(_ fd: Int32, _ interest: Interest, token: UInt64) throws(SocketError) {
    try control(EPOLL_CTL_ADD, fd, interest, token)
  }

  public func modify(_ fd: Int32, _ interest: Interest, token: UInt64) throws(SocketError) {
    try control(EPOLL_CTL_MOD, fd, interest, token)
  }

  /// Sets `fd`'s interest to `interest`, with `fd` as its token, unless `current` already
  /// says so: loops keep the registered interest and change it without a syscall when it
  /// has not changed.
  public func change(
    _ fd: Int32, _ current: inout Interest, to interest: Interest
  ) throws(SocketError) {
    guard current != interest else { return }
    try modify(fd, interest, token: UInt64(fd))
    current = interest
  }

  /// Stops watching `fd`, which must still be open (closing it first would already have removed
  /// it, and a reused number would then name another descriptor). Removing what is not watched
  /// is allowed: a listener paused after an accept failure is not in the set.
  public func remove(_ fd: Int32) {
    var event = epoll_event()
    if epoll_ctl(descriptor, EPOLL_CTL_DEL, fd, &event) != 0 && errno != ENOENT {
      // Only programmer errors are left (EBADF, EINVAL on our own epoll fd): stop.
      preconditionFailure("epoll_ctl(DEL) of \(fd): \(String(cString: strerror(errno)))")
    }
  }

  private func control(
    _ operation: Int32, _ fd: Int32, _ interest: Interest, _ token: UInt64
  ) throws(SocketError) {
    var event = epoll_event()
    event.events = interest.rawValue
    event.data.u64 = token
    try syscall("epoll_ctl") { epoll_ctl(descriptor, operation, fd, &event) }
  }

  /// Waits up to `timeoutMilliseconds` (-1: forever) and returns how many descriptors are
  /// ready; read each with `token(at:)`. An interrupted wait returns 0.
  public func wait(timeoutMilliseconds: Int32) throws(SocketError) -> Int {
    let result = try SystemCall.nonBlocking("epoll_wait") {
      events.withUnsafeMutableBufferPointer { buffer in
        epoll_wait(descriptor, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
      }
    }
    // EINTR is retried by SystemCall with the same timeout: a signal is rare here (they are
    // blocked in loop threads), so the small overshoot does not matter.
    guard case .processed(let count) = result else { return 0 }
    return Int(count)
  }

  /// The token of the `index`th ready descriptor of the last `wait`. Which readiness it was
  /// is not passed on: the loops answer any event by reading and writing until they would
  /// block, which also surfaces a hang-up or an error.
  public func token(at index: Int) -> UInt64 {
    events[index].data.u64
  }

  /// What the `index`th ready descriptor was ready for, for the rare caller that waits with no
  /// interest and must tell an error from a hang-up.
  public func readiness(at index: Int) -> Interest {
    Interest(rawValue: events[index].events)
  }

}

/// An eventfd: lets another thread (or the signal watcher) wake an event loop.
public final class EventFD: @unchecked Sendable {
  // Sendable: the descriptor never changes after init, and eventfd reads and writes are
  // atomic in the kernel, so any thread may signal it.
  public let descriptor: Int32

  public init() throws(SocketError) {
    descriptor = try syscall("eventfd") {
      eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
    }
  }

  deinit { close(descriptor) }

  /// Adds one to the counter. Cannot block: the counter would have to reach 2^64 - 1 first,
  /// and then the reader is awake anyway.
  public func signal() {
    var one: UInt64 = 1
    _ = try? SystemCall.nonBlocking("eventfd write") {
      Glibc.write(descriptor, &one, MemoryLayout<UInt64>.size)
    }
  }

  /// Clears pending signals so a level-triggered epoll stops reporting it.
  public func drain() {
    var value: UInt64 = 0
    _ = try? SystemCall.nonBlocking("eventfd read") {
      Glibc.read(descriptor, &value, MemoryLayout<UInt64>.size)
    }
  }
}
