import Foundation
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// The service manager's end of `sd_notify(3)`, for tests: a unix datagram socket bound where
/// `$NOTIFY_SOCKET` will point, whose messages a test awaits with a deadline. Built here with
/// plain socket calls, not with the server's `ServiceNotifier`, so that the two check each other.
final class NotifySocket {
  /// One datagram: `KEY=VALUE` lines.
  struct Message {
    var index: Int
    var text: String

    var fields: [String: String] {
      var fields: [String: String] = [:]
      for line in text.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
        if parts.count == 2 { fields[parts[0]] = parts[1] }
      }
      return fields
    }
  }

  /// Where it listens, as `$NOTIFY_SOCKET` says it: a path, or `@name` (abstract namespace).
  let name: String
  private let descriptor: Int32
  private(set) var messages: [Message] = []

  /// Binds at `path`, or, when `name` starts with `@`, in the abstract namespace under the rest
  /// of it with the exact address length (no padding NULs: those would be part of the name).
  init(name: String) throws {
    self.name = name
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(name.utf8)
    let abstract = bytes.first == UInt8(ascii: "@")
    if abstract { bytes[0] = 0 }
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw TestFailure("notify socket name too long: \(name)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
    let type =
      Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
    descriptor = socket(AF_UNIX, type, 0)
    guard descriptor >= 0 else { throw SocketError("notify socket", errno: errno) }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    if bound != 0 {
      let code = errno
      close(descriptor)
      throw SocketError("bind notify socket \(name)", errno: code)
    }
  }

  /// A fresh name in the abstract namespace, so that tests running at once never share one.
  static func abstractName() -> String { "@secureecho-notify-\(UUID().uuidString)" }

  deinit {
    close(descriptor)
    if !name.hasPrefix("@") { unlink(name) }
  }

  /// Takes every datagram that has arrived, without blocking.
  func receiveAvailable() {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
      if count < 0 && errno == EINTR { continue }
      guard count >= 0 else { return }
      messages.append(
        Message(index: messages.count, text: String(decoding: buffer[0..<count], as: UTF8.self)))
    }
  }

  /// Waits for the first message after `index` (or the first of all) that sets `key` to `value`,
  /// and returns it; nil if none came before `deadline`.
  func waitForMessage(
    setting key: String, to value: String = "1", after index: Int = -1,
    until deadline: Deadline = Deadline(seconds: 20)
  ) async throws -> Message? {
    var found: Message?
    _ = try await deadline.poll {
      receiveAvailable()
      found = messages.first { $0.index > index && $0.fields[key] == value }
      return found != nil
    }
    return found
  }

  /// Everything received, for failure messages.
  var transcript: String {
    receiveAvailable()
    return messages.map { $0.text.replacingOccurrences(of: "\n", with: "\\n") }
      .joined(separator: " | ")
  }
}
