import Foundation

/// A fresh directory under the system's temporary directory, for one test's files.
/// Tests call `remove()` in a `defer`, which also keeps the directory alive until then.
final class TemporaryDirectory {
  let url: URL

  init(_ label: String) throws {
    url = FileManager.default.temporaryDirectory
      .appendingPathComponent("secureecho-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  func file(_ name: String) -> URL { url.appendingPathComponent(name) }

  func remove() {
    try? FileManager.default.removeItem(at: url)
  }

  deinit { remove() }
}
