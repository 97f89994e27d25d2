import CLinux
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// Where log lines go: a bounded buffer, emptied into stderr by a thread of its own, so that a
/// slow or stuck stderr (a pipe nobody reads) never blocks an event loop. When the buffer is
/// full, lines are dropped and counted (`log_lines_dropped`): losing log lines is better than
/// stalling every client of a loop. Only routine lines are dropped (one per connection); the
/// `essential` ones (notice and above: start, statistics, stop, warnings) are few and always
/// kept. Lines from different threads never interleave: each is appended whole, and only the
/// writer thread writes.
public final class LogSink: Sendable {
  private struct Buffer {
    var bytes: [UInt8] = []
    var lines = 0
    var dropped = 0
    /// Lines taken in, and lines written or dropped since: for `flush`.
    var accepted = 0
    var settled = 0
    /// Shutting down: the last lines must get through, so the bound no longer applies.
    var unbounded = false
    var stopping = false
  }

  private let buffer = ThreadLock(Buffer())
  private let capacity: Int
  /// nil when stderr is not open: lines are counted as dropped.
  private let descriptor: Int32?
  private let wakeup: EventFD
  /// Signalled after each batch the writer has written.
  private let progress: EventFD
  private let finished: EventFD
  /// Joined when it has finished, detached when it did not finish in time.
  private let writer = ThreadLock<pthread_t?>(nil)

  /// Starts the writer thread. Call after blocking signals, so that it inherits the mask.
  public init(descriptor: Int32 = StandardIO.error, capacity: Int = 256 << 10) throws(SocketError) {
    self.capacity = capacity
    // A process started with stderr closed (2>&-) has nothing to write to.
    self.descriptor = fcntl(descriptor, F_GETFD) >= 0 ? descriptor : nil
    self.wakeup = try EventFD()
    self.progress = try EventFD()
    self.finished = try EventFD()
    let sink = Handover(value: self)
    let thread = try LoopThread.spawn(name: "echo-log") { sink.value.writeLoop() }
    writer.withLock { $0 = thread }
  }

  /// Queues `line` (newline included) without blocking; drops it when the buffer is full,
  /// unless it is `essential`.
  public func write(_ line: String, essential: Bool = false) {
    var line = line
    let wasEmpty = line.withUTF8 { bytes in
      buffer.withLock { buffer -> Bool? in
        guard essential || buffer.unbounded || buffer.bytes.count + bytes.count <= capacity else {
          buffer.dropped += 1
          return nil
        }
        let wasEmpty = buffer.bytes.isEmpty
        buffer.bytes.append(contentsOf: bytes)
        buffer.lines += 1
        buffer.accepted += 1
        return wasEmpty
      }
    }
    // The writer sleeps only when it has emptied the buffer, so only the first line after that
    // needs to wake it.
    if wasEmpty == true { wakeup.signal() }
  }

  /// Lines dropped so far, because the buffer was full or stderr failed.
  public var dropped: Int { buffer.withLock { $0.dropped } }

  /// From now on nothing is dropped for want of room: for the last lines before exit.
  public func lift() { buffer.withLock { $0.unbounded = true } }

  /// Waits until every line queued so far is written (or dropped), at most `milliseconds`:
  /// for start-up, so that its lines come before the listening line scripts wait for.
  public func flush(waitingAtMost milliseconds: Int32) {
    let target = buffer.withLock { $0.accepted }
    let end = MonotonicClock.milliseconds() + Int64(milliseconds)
    while buffer.withLock({ $0.settled < target }) {
      let left = Int32(clamping: end - MonotonicClock.milliseconds())
      guard left > 0 else { return }
      var entry = pollfd(fd: progress.descriptor, events: Int16(POLLIN), revents: 0)
      _ = try? SystemCall.blocking("poll") { poll(&entry, 1, left) }
      progress.drain()
    }
  }

  /// Writes out what is queued and stops the writer, waiting at most `milliseconds` for a
  /// stderr that does not drain; the process exits after this either way.
  public func finish(waitingAtMost milliseconds: Int32) {
    buffer.withLock { $0.stopping = true }
    wakeup.signal()
    var entry = pollfd(fd: finished.descriptor, events: Int16(POLLIN), revents: 0)
    let done = (try? SystemCall.blocking("poll") { poll(&entry, 1, milliseconds) }) == 1
    guard
      let thread = writer.withLock({ (thread) -> pthread_t? in
        defer { thread = nil }
        return thread
      })
    else { return }
    // A writer still blocked on stderr is left to the process exit.
    if done { LoopThread.join(thread) } else { _ = pthread_detach(thread) }
  }

  private func writeLoop() {
    while true {
      var entry = pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)
      _ = try? SystemCall.blocking("poll") { poll(&entry, 1, -1) }
      wakeup.drain()
      let (batch, lines, stopping) = buffer.withLock { buffer in
        defer {
          buffer.bytes.removeAll(keepingCapacity: false)
          buffer.lines = 0
        }
        return (buffer.bytes, buffer.lines, buffer.stopping)
      }
      if !batch.isEmpty {
        let written = writeOut(batch)
        buffer.withLock {
          if !written { $0.dropped += lines }
          $0.settled += lines
        }
        progress.signal()
      }
      if stopping && buffer.withLock({ $0.bytes.isEmpty }) {
        finished.signal()
        return
      }
    }
  }

  /// Writes `batch`, blocking as long as stderr does; false if stderr failed (a closed pipe).
  private func writeOut(_ batch: [UInt8]) -> Bool {
    guard let descriptor else { return false }
    do {
      try batch.withBytes { (bytes) throws(SocketError) in
        try StandardIO.writeAll(descriptor, bytes)
      }
      return true
    } catch {
      return false
    }
  }
}
