import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The server's two modes, and the command-line options that select them.
enum EchoMode: String, Sendable, CaseIterable, CustomStringConvertible {
  case tls
  case plaintext

  var description: String { rawValue }

  /// What the server names the mode as in its listening line.
  var label: String { self == .tls ? "TLS" : "plaintext" }
}

/// A running `echo-server` on a kernel-chosen loopback port.
///
/// The port comes from the one line the server prints once it accepts connections, so a test
/// never races the server's startup and never needs a fixed port.
final class ServerProcess {
  let child: ChildProcess
  let port: UInt16
  /// The server's announcement, e.g. `echo-server: listening on 127.0.0.1:43121 (TLS, 2 threads)`.
  let listeningLine: String
  private let stdout: Pipe
  /// Output that arrived in the same read as the listening line.
  private var stdoutAfterLine = ""
  private let scratch: TemporaryDirectory

  var pid: Int32 { child.pid }
  var isRunning: Bool { child.isRunning }

  /// Starts a server and waits (with a deadline) for its listening line.
  /// TLS servers use the development certificate unless `certificate` and `key` are given.
  /// `extraArguments` go at the end of the command line (limits, timeouts, log format); a later
  /// option overrides an earlier one (but `--host` and `--listen` add listeners).
  static func start(
    _ mode: EchoMode = .tls, host: String = "127.0.0.1", listen: [String] = [], threads: Int = 2,
    certificate: URL? = nil, key: URL? = nil, extraArguments: [String] = [],
    environment: [String: String] = [:]
  ) async throws -> ServerProcess {
    // A short drain keeps `stop()` quick when a test leaves clients connected.
    // `listen`: `--listen` values to use instead of `--host host --port 0`.
    var arguments =
      (listen.isEmpty ? ["--host", host, "--port", "0"] : listen.flatMap { ["--listen", $0] })
      + ["--threads", String(threads), "--drain-timeout", "1"]
    switch mode {
    case .plaintext:
      arguments.append("--plaintext")
    case .tls:
      try Locations.requireDevelopmentCertificates()
      arguments += [
        "--cert", (certificate ?? Locations.serverCertificate).path,
        "--key", (key ?? Locations.serverKey).path,
      ]
    }
    return try await ServerProcess(
      arguments: arguments + extraArguments, environment: environment)
  }

  private init(arguments: [String], environment: [String: String]) async throws {
    scratch = try TemporaryDirectory("server")
    stdout = Pipe()
    // stderr goes to a file: a chatty log level must never block the server on a full pipe.
    let stderrFile = scratch.file("stderr")
    try Data().write(to: stderrFile)
    let stderrHandle = try FileHandle(forWritingTo: stderrFile)
    defer { try? stderrHandle.close() }
    child = try ChildProcess(
      try Locations.executable("echo-server"), arguments, stdout: stdout, stderr: stderrHandle,
      environment: environment)
    do {
      (listeningLine, stdoutAfterLine) = try await Self.readLine(
        from: stdout, of: child, until: Deadline(seconds: 20))
      guard let match = listeningLine.firstMatch(of: /listening on [^ ,]*:(\d+)/),
        let port = UInt16(match.1), port != 0
      else {
        throw TestFailure("no port in the server's listening line: \(listeningLine)")
      }
      self.port = port
    } catch {
      let termination = child.stop()
      let log = String(decoding: (try? Data(contentsOf: stderrFile)) ?? Data(), as: UTF8.self)
      throw TestFailure(
        "echo-server \(arguments.joined(separator: " ")) did not start: \(error) (\(termination)); "
          + "stderr: \(log)")
    }
  }

  /// Reads the first line of the server's stdout, checking between reads whether the server
  /// died, so that a server that fails at start-up is reported at once with its stderr.
  private static func readLine(
    from pipe: Pipe, of child: ChildProcess, until deadline: Deadline
  ) async throws -> (line: String, rest: String) {
    var reader = PipeReader(pipe)
    let complete = try await reader.read(until: deadline) { text in
      text.contains("\n") || !child.isRunning
    }
    guard let newline = reader.text.firstIndex(of: "\n") else {
      throw TestFailure(
        complete ? "the server exited without a listening line" : "no listening line in time")
    }
    return (
      String(reader.text[..<newline]), String(reader.text[reader.text.index(after: newline)...])
    )
  }

  /// Stops the server (SIGTERM, then SIGKILL) and returns how it ended and whatever it wrote to
  /// stdout after the listening line.
  @discardableResult
  func stop() -> (termination: Termination, laterStdout: String) {
    let termination = child.stop()
    return (termination, drainStdout())
  }

  /// Waits (with a deadline) for the server to exit by itself, e.g. after a signal the test sent.
  func waitForExit(until deadline: Deadline) async throws -> Termination? {
    try await child.waitForExit(until: deadline)
  }

  /// What is left in the stdout pipe, read without ever blocking.
  private func drainStdout() -> String {
    var reader = PipeReader(stdout)
    reader.readAvailable()
    return stdoutAfterLine + reader.text
  }

  /// Everything the server has logged so far.
  var stderrText: String {
    String(decoding: (try? Data(contentsOf: scratch.file("stderr"))) ?? Data(), as: UTF8.self)
  }

  /// The number of threads of the server process, from `/proc/PID/status`.
  func threadCount() throws -> Int { try Self.threadCount(pid: pid) }

  /// The same for any process: usable off the test's task, where only the PID is at hand.
  static func threadCount(pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let match = status.firstMatch(of: /\nThreads:\s*(\d+)/), let count = Int(match.1) else {
      throw TestFailure("no Threads: line in /proc/\(pid)/status")
    }
    return count
  }

  /// The number of open file descriptors of the server process, from `/proc/PID/fd`.
  func openDescriptorCount() throws -> Int {
    try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
  }

  /// The server's resident memory in bytes (`VmRSS` in `/proc/PID/status`).
  func residentMemoryBytes() throws -> Int { try Self.residentMemoryBytes(pid: pid) }

  static func residentMemoryBytes(pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let match = status.firstMatch(of: /\nVmRSS:\s*(\d+) kB/), let kibibytes = Int(match.1)
    else {
      throw TestFailure("no VmRSS: line in /proc/\(pid)/status")
    }
    return kibibytes * 1024
  }

  deinit {
    // Only a backstop: tests stop their servers in a `defer`.
    child.stop(graceSeconds: 1)
  }
}
