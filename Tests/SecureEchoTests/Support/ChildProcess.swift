import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// How a process ended.
struct Termination: Equatable, CustomStringConvertible {
  /// The exit status, or the signal number when `bySignal`.
  var status: Int32
  var bySignal: Bool

  static func exit(_ status: Int32) -> Termination { Termination(status: status, bySignal: false) }

  var description: String { bySignal ? "killed by signal \(status)" : "exit \(status)" }
}

/// A process a test started. Every path must end in `stop()` (tests call it in a `defer`), so no
/// process outlives its test, even a failing one.
final class ChildProcess {
  let name: String
  private let process: Process

  /// Starts `executable`. `stdin`, `stdout` and `stderr` are a `FileHandle` or a `Pipe`; nil
  /// connects the stream to /dev/null, so nothing ever waits on a terminal or an unread pipe.
  init(
    _ executable: URL, _ arguments: [String], stdin: Any? = nil, stdout: Any? = nil,
    stderr: Any? = nil, currentDirectory: URL = Locations.repositoryRoot,
    environment: [String: String] = [:]
  ) throws {
    ignoreBrokenPipes()
    name = executable.lastPathComponent
    process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    process.currentDirectoryURL = currentDirectory
    process.standardInput = stdin ?? FileHandle.nullDevice
    process.standardOutput = stdout ?? FileHandle.nullDevice
    process.standardError = stderr ?? FileHandle.nullDevice
    try Self.withNoSignalsBlocked { try process.run() }
  }

  /// A child inherits the signal mask of the thread that spawns it, and tests spawn from the
  /// cooperative pool's threads, which block SIGTERM, SIGINT, SIGHUP and more. An `s_client` or
  /// a Python relay started from one ignored `stop()`'s SIGTERM until the SIGKILL 5 seconds
  /// later, holding a pool thread all that while (a run stalled every test for 45 seconds).
  private static func withNoSignalsBlocked<T>(_ body: () throws -> T) rethrows -> T {
    var none = sigset_t()
    var previous = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    return try body()
  }

  var pid: Int32 { process.processIdentifier }
  var isRunning: Bool { !hasEnded }

  /// Whether the process has ended, as Foundation knows it. It learns that from SIGCHLD, and
  /// one was lost in a run: the child a zombie, Foundation still counting it as running, and
  /// `waitUntilExit` spinning on a pool thread for good (the whole suite stalled). So a child
  /// that is a zombie while Foundation says it runs is reported again: the test process sends
  /// itself a SIGCHLD, and Foundation reaps its children that have ended.
  private var hasEnded: Bool {
    guard process.isRunning else { return true }
    if isZombie { kill(getpid(), SIGCHLD) }
    return !process.isRunning
  }

  /// The state letter in `/proc/PID/stat`, after the command name in parentheses.
  private var isZombie: Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let nameEnd = stat.lastIndex(of: ")")
    else { return false }
    return stat[nameEnd...].dropFirst().trimmingCharacters(in: .whitespaces).hasPrefix("Z")
  }

  /// Waits until the process exits or `deadline` passes; returns how it ended, or nil if it is
  /// still running.
  func waitForExit(until deadline: Deadline) async throws -> Termination? {
    guard try await deadline.poll({ hasEnded }) else { return nil }
    process.waitUntilExit()
    return termination
  }

  /// Sends `signal` (by PID) if the process still runs.
  func send(_ signal: Int32) {
    if !hasEnded { kill(process.processIdentifier, signal) }
  }

  /// Ends the process: SIGTERM, then SIGKILL if it has not exited within `graceSeconds`; always
  /// waits for it, so no zombie is left.
  @discardableResult
  func stop(graceSeconds: Int = 5) -> Termination {
    if !hasEnded {
      kill(process.processIdentifier, SIGTERM)
      if !Deadline(seconds: graceSeconds).pollBlocking({ hasEnded }) {
        kill(process.processIdentifier, SIGKILL)
      }
    }
    // Killed, it ends at once; the bound is only for a SIGCHLD lost again.
    _ = Deadline(seconds: 20).pollBlocking { hasEnded }
    process.waitUntilExit()
    return termination
  }

  private var termination: Termination {
    Termination(
      status: process.terminationStatus, bySignal: process.terminationReason == .uncaughtSignal)
  }
}

/// What a command that ran to completion left behind.
struct CommandResult {
  var termination: Termination
  var stdout: Data
  var stderr: String

  var stdoutText: String { String(decoding: stdout, as: UTF8.self) }

  /// The lines of stderr, without the final newline's empty remainder.
  var stderrLines: [String] {
    var lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
  }
}

/// What a command reads on stdin.
enum CommandInput {
  case none
  case bytes(Data)
  case file(URL)
}

/// Runs a command to completion with stdin from `input` and stdout and stderr captured through
/// files (a pipe nobody reads could block the command). A command still running after
/// `timeoutSeconds` is stopped and reported as a failure.
func runCommand(
  _ executable: URL, _ arguments: [String], input: CommandInput = .none,
  timeoutSeconds: Int = 30, currentDirectory: URL = Locations.repositoryRoot,
  environment: [String: String] = [:]
) async throws -> CommandResult {
  let scratch = try TemporaryDirectory("command")
  defer { scratch.remove() }
  let stdinHandle: FileHandle?
  switch input {
  case .none: stdinHandle = nil
  case .bytes(let data):
    let file = scratch.file("stdin")
    try data.write(to: file)
    stdinHandle = try FileHandle(forReadingFrom: file)
  case .file(let file):
    stdinHandle = try FileHandle(forReadingFrom: file)
  }
  let stdoutFile = scratch.file("stdout")
  let stderrFile = scratch.file("stderr")
  for file in [stdoutFile, stderrFile] { try Data().write(to: file) }
  let stdoutHandle = try FileHandle(forWritingTo: stdoutFile)
  let stderrHandle = try FileHandle(forWritingTo: stderrFile)
  defer {
    try? stdinHandle?.close()
    try? stdoutHandle.close()
    try? stderrHandle.close()
  }

  let child = try ChildProcess(
    executable, arguments, stdin: stdinHandle, stdout: stdoutHandle, stderr: stderrHandle,
    currentDirectory: currentDirectory, environment: environment)
  defer { child.stop() }
  let exited = try await child.waitForExit(until: Deadline(seconds: timeoutSeconds))
  let termination = child.stop()
  let stdout = try Data(contentsOf: stdoutFile)
  let stderr = String(decoding: try Data(contentsOf: stderrFile), as: UTF8.self)
  guard exited != nil else {
    throw TestFailure(
      "\(child.name) \(arguments.joined(separator: " ")) did not exit within "
        + "\(timeoutSeconds) s; stderr: \(stderr)")
  }
  return CommandResult(termination: termination, stdout: stdout, stderr: stderr)
}

/// A test writing to a peer that has gone (a pipe to a dead process; OpenSSL's socket writes,
/// which do not pass MSG_NOSIGNAL) must see EPIPE, not kill the whole test runner.
func ignoreBrokenPipes() {
  _ = signal(SIGPIPE, SIG_IGN)
}
