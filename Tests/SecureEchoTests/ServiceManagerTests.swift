import Foundation
import Sockets
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The server as a systemd `Type=notify` service: it tells the socket in `$NOTIFY_SOCKET` when
/// it is ready, stopping and reloading, and a notify socket it cannot use never stops it serving.
@Suite("Service manager notifications (sd_notify)", .timeLimit(.minutes(1)))
struct ServiceManagerTests {
  /// The two kinds of `$NOTIFY_SOCKET`: a path, and a name in the abstract namespace.
  enum Namespace: String, CaseIterable, CustomStringConvertible {
    case path, abstract
    var description: String { rawValue }
  }

  @Test(
    "READY=1 names the port and the PID; the first SIGTERM sends STOPPING=1",
    arguments: Namespace.allCases)
  func readyThenStopping(namespace: Namespace) async throws {
    let scratch = try TemporaryDirectory("notify")
    defer { scratch.remove() }
    let notify = try NotifySocket(
      name: namespace == .path ? scratch.file("notify").path : NotifySocket.abstractName())
    let server = try await ServerProcess.start(
      .plaintext, environment: ["NOTIFY_SOCKET": notify.name])
    defer { server.stop() }

    // ServerProcess.start has read the listening line; READY=1 comes after it, with the same
    // addresses, and is the first thing the server says.
    let ready = try #require(
      await notify.waitForMessage(setting: "READY"), "no READY=1: \(notify.transcript)")
    #expect(ready.index == 0, "\(notify.transcript)")
    #expect(
      ready.fields["STATUS"] == "listening on 127.0.0.1:\(server.port)", "\(notify.transcript)")
    #expect(ready.fields["MAINPID"] == String(server.pid), "\(notify.transcript)")
    #expect(server.listeningLine.contains("127.0.0.1:\(server.port)"))

    server.child.send(SIGTERM)
    let stopping = try #require(
      await notify.waitForMessage(setting: "STOPPING", after: ready.index),
      "no STOPPING=1 after SIGTERM: \(notify.transcript)")
    #expect(stopping.fields["STATUS"]?.contains("draining") == true, "\(notify.transcript)")
    let termination = try await server.waitForExit(until: Deadline(seconds: 20))
    #expect(termination == .exit(0), "stderr: \(server.stderrText)")
    #expect(!server.stderrText.contains("NOTIFY_SOCKET"), "stderr: \(server.stderrText)")
  }

  /// ServerProcess reads the listening line before the test looks at the notify socket, so it
  /// cannot tell which came first. Here the test fills the server's stdout pipe first, so that
  /// writing the line blocks: while the server's main thread sits in that write, nothing may
  /// have arrived on the notify socket; once the test reads the pipe, READY=1 comes.
  @Test("READY=1 is not sent while the listening line cannot be written yet")
  func readyFollowsListeningLine() async throws {
    let scratch = try TemporaryDirectory("notify-order")
    defer { scratch.remove() }
    let notify = try NotifySocket(name: scratch.file("notify").path)
    let stdout = Pipe()
    try Self.fill(stdout)
    let child = try ChildProcess(
      try Locations.executable("echo-server"),
      ["--plaintext", "--host", "127.0.0.1", "--port", "0", "--threads", "1"],
      stdout: stdout, environment: ["NOTIFY_SOCKET": notify.name])
    defer { child.stop() }

    let blocked = try await Deadline(seconds: 20).poll {
      !child.isRunning || Self.isBlockedWritingStdout(pid: child.pid)
    }
    #expect(
      blocked && child.isRunning,
      "the server was never seen writing its listening line into the full pipe")
    notify.receiveAvailable()
    #expect(
      notify.messages.isEmpty, "sent before the listening line was written: \(notify.transcript)")

    var reader = PipeReader(stdout)
    let line = try await reader.read(until: Deadline(seconds: 20)) {
      $0.contains("echo-server: listening on 127.0.0.1:")
    }
    #expect(line, "no listening line after the filler")
    let ready = try await notify.waitForMessage(setting: "READY")
    #expect(ready != nil, "no READY=1 after the listening line: \(notify.transcript)")
  }

  /// Writes into `pipe` until it holds all it can (non-blocking for that, then blocking again:
  /// the flag belongs to the pipe, which the server's stdout shares).
  private static func fill(_ pipe: Pipe) throws {
    let descriptor = pipe.fileHandleForWriting.fileDescriptor
    let flags = fcntl(descriptor, F_GETFL)
    guard fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
      throw SocketError("fcntl(O_NONBLOCK)", errno: errno)
    }
    defer { _ = fcntl(descriptor, F_SETFL, flags) }
    // Pages first, then single bytes: a write of up to PIPE_BUF bytes goes in whole or not at
    // all, so the page-sized writes alone could leave room for the line.
    for size in [4096, 1] {
      let filler = [UInt8](repeating: UInt8(ascii: "."), count: size)
      while filler.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
      guard errno == EAGAIN else { throw SocketError("fill the stdout pipe", errno: errno) }
    }
  }

  /// Whether the main thread of `pid` is inside `write(1, ...)`, from /proc/PID/syscall (the
  /// call's number, then its arguments).
  private static func isBlockedWritingStdout(pid: Int32) -> Bool {
    #if arch(x86_64)
      let write = "1"
    #elseif arch(arm64)
      let write = "64"
    #endif
    let call = (try? String(contentsOfFile: "/proc/\(pid)/syscall", encoding: .utf8)) ?? ""
    return call.split(separator: " ").prefix(2) == [Substring(write), "0x1"]
  }

  @Test("SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again")
  func reloading() async throws {
    let notify = try NotifySocket(name: NotifySocket.abstractName())
    let server = try await ServerProcess.start(.tls, environment: ["NOTIFY_SOCKET": notify.name])
    defer { server.stop() }
    let ready = try #require(
      await notify.waitForMessage(setting: "READY"), "no READY=1: \(notify.transcript)")

    // CLOCK_MONOTONIC is one clock for every process on the machine: the server's stamp falls
    // between the moment the signal went and the moment its message arrived.
    let sent = MonotonicClock.nanoseconds() / 1000
    server.child.send(SIGHUP)
    let reloading = try #require(
      await notify.waitForMessage(setting: "RELOADING", after: ready.index),
      "no RELOADING=1 after SIGHUP: \(notify.transcript)")
    let received = MonotonicClock.nanoseconds() / 1000
    let stamp = try #require(
      reloading.fields["MONOTONIC_USEC"].flatMap { UInt64($0) },
      "no MONOTONIC_USEC number: \(notify.transcript)")
    #expect((sent...received).contains(stamp), "sent \(sent), received \(received): \(stamp)")

    let readyAgain = try #require(
      await notify.waitForMessage(setting: "READY", after: reloading.index),
      "no READY=1 after the reload: \(notify.transcript)")
    #expect(readyAgain.fields["STATUS"] == "listening on 127.0.0.1:\(server.port)")
    #expect(
      try await server.waitForLogLine(
        containing: "certificate reloaded", until: Deadline(seconds: 20)),
      "stderr: \(server.stderrText)")
    #expect(server.isRunning)
  }

  /// What `$NOTIFY_SOCKET` may hold that the server cannot use.
  enum UnusableSocket: String, CaseIterable, CustomStringConvertible {
    /// A path where no socket is: every send fails (ENOENT).
    case missing
    /// Not a path nor an @name: it cannot even be parsed.
    case relative
    /// Longer than `sun_path` holds.
    case tooLong
    var description: String { rawValue }

    func value(in scratch: TemporaryDirectory) -> String {
      switch self {
      case .missing: scratch.file("no-such-socket").path
      case .relative: "run/notify"
      case .tooLong: "/" + String(repeating: "n", count: 200)
      }
    }
  }

  @Test(
    "an unusable NOTIFY_SOCKET: the server serves, with one warning",
    arguments: UnusableSocket.allCases)
  func unusableSocket(socket: UnusableSocket) async throws {
    let scratch = try TemporaryDirectory("notify-unusable")
    defer { scratch.remove() }
    let value = socket.value(in: scratch)
    let server = try await ServerProcess.start(.plaintext, environment: ["NOTIFY_SOCKET": value])
    defer { server.stop() }

    let port = server.port
    let payload = Data("still serving\n".utf8)
    let reply = try await runBlocking {
      let client = try connectTCP(port: port)
      defer { client.close() }
      try client.send(payload)
      return try client.receive(exactly: payload.count)
    }
    #expect(reply == payload)

    let warned = try await Deadline(seconds: 20).poll {
      server.logLines.contains { $0.contains("NOTIFY_SOCKET") }
    }
    let warnings = server.logLines.filter { $0.contains("NOTIFY_SOCKET") }
    #expect(warned && warnings.count == 1, "stderr: \(server.stderrText)")
    if let warning = warnings.first {
      #expect(warning.contains("warning"), "\(warning)")
      #expect(warning.contains(value), "the warning does not name the value: \(warning)")
    }
    #expect(server.isRunning)
    Diagnostics.expectNoCrash(server.stderrText)
  }

  @Test(
    "ServiceNotifier: what fits sun_path is taken; anything else is an error naming NOTIFY_SOCKET")
  func parsing() throws {
    #expect(throws: Never.self) {
      try ServiceNotifier(socketName: "@" + String(repeating: "a", count: 107))
    }
    #expect(throws: Never.self) {
      try ServiceNotifier(socketName: "/" + String(repeating: "a", count: 106))
    }
    for bad in [
      "/" + String(repeating: "a", count: 107), "@" + String(repeating: "a", count: 108),
      "relative", "vsock:2:1234",
    ] {
      do {
        _ = try ServiceNotifier(socketName: bad)
        Issue.record("accepted NOTIFY_SOCKET \(bad)")
      } catch {
        #expect(error.description.hasPrefix("NOTIFY_SOCKET '\(bad)'"), "\(error)")
      }
    }
  }
}
