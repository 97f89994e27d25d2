import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Reads a child's stdout pipe as it comes, without ever blocking: a test waits for output by
/// polling with a deadline, so a silent child cannot hang it.
struct PipeReader {
  private let descriptor: Int32
  private var bytes: [UInt8] = []
  private(set) var reachedEOF = false

  init(_ pipe: Pipe) { descriptor = pipe.fileHandleForReading.fileDescriptor }

  var text: String { String(decoding: bytes, as: UTF8.self) }

  /// Reads until `done(text so far)` holds or EOF (true), or the deadline passes (false).
  mutating func read(until deadline: Deadline, _ done: (String) -> Bool) async throws -> Bool {
    try await deadline.poll {
      readAvailable()
      return done(text) || reachedEOF
    }
  }

  /// Reads until EOF or the deadline, blocking in `poll(2)`: for `runBlocking`, when a child
  /// must not wait on the test's scheduler (a writer it gives up on after a few seconds).
  mutating func readToEnd(before deadline: Deadline) {
    while !reachedEOF && !deadline.hasPassed {
      var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
      guard poll(&entry, 1, min(100, deadline.remainingMilliseconds)) > 0 else { continue }
      readAvailable()
    }
  }

  /// Reads whatever the pipe holds now.
  mutating func readAvailable() {
    var chunk = [UInt8](repeating: 0, count: 4096)
    while !reachedEOF {
      var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
      guard poll(&entry, 1, 0) > 0 else { return }
      let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      if count <= 0 {
        reachedEOF = true
        return
      }
      bytes += chunk[0..<count]
    }
  }
}
