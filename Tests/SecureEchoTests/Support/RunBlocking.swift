import Foundation

/// Runs `body`, which blocks (socket I/O with timeouts), on a thread of its own and awaits its
/// result.
///
/// Swift Testing starts every test's clock when it schedules it, and runs tests on the few
/// cooperative threads (two on a two-core machine). A test that blocks one of them for long,
/// say against a server that stopped answering, would make tests still waiting for a thread
/// exceed their time limits and bury the real failure. So tests do their blocking client work
/// here and make their assertions on the result. `body` reports problems by throwing: issues
/// recorded on this thread would not belong to the test.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    let thread = Thread { continuation.resume(with: Result(catching: body)) }
    thread.start()
  }
}

/// Carries values that are not `Sendable` (open client connections) out of `runBlocking` and
/// into a later one. Safe as the tests use it: one thread at a time touches the value, and the
/// hand-over itself (a continuation resuming, a thread starting) orders the accesses.
final class Handoff<Value>: @unchecked Sendable {
  var value: Value
  init(_ value: Value) { self.value = value }
}
