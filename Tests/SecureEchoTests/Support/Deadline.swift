#if canImport(Glibc)
  import Glibc
#endif

/// A point in time after which a test stops waiting and fails, so that a broken server makes a
/// test fail with a message instead of hanging the suite.
struct Deadline {
  private let end: ContinuousClock.Instant

  /// Under a sanitizer every process runs several times slower, and the suite runs many of
  /// them at once on two cores, so the bounds stretch (they only catch hangs; no test asserts
  /// on time).
  init(seconds: Int) {
    end = .now + .seconds(seconds * Sanitizer.slowdown)
  }

  var hasPassed: Bool { ContinuousClock.now >= end }

  /// What is left, for `poll(2)`-style timeouts; never negative.
  var remainingMilliseconds: Int32 {
    let left = end - ContinuousClock.now
    let milliseconds =
      left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
    return Int32(clamping: max(0, milliseconds))
  }

  /// Checks `condition` until it holds (true) or the deadline passes (false). Waits a few
  /// milliseconds between checks: what is polled (a process's state, /proc) has no event to
  /// wait on. The wait suspends rather than blocks, so that other tests run meanwhile: Swift
  /// Testing counts a test's time limit from when it is scheduled, and a test blocking one of
  /// the few cooperative threads would eat into the time of tests still waiting for one.
  func poll(_ condition: () throws -> Bool) async throws -> Bool {
    while true {
      if try condition() { return true }
      if hasPassed { return false }
      try await Task.sleep(for: .milliseconds(5))
    }
  }

  /// Like `poll`, blocking: only for `defer` blocks, which cannot await.
  func pollBlocking(_ condition: () -> Bool) -> Bool {
    while true {
      if condition() { return true }
      if hasPassed { return false }
      usleep(5_000)
    }
  }
}
