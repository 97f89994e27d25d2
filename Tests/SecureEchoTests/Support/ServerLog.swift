import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One line of the server's log on stderr, with its fields: from a JSON object
/// (`--log-format json`) or from `key=value` pairs (the text format).
struct LogRecord {
  var line: String
  var fields: [String: Any]

  var message: String? { fields["message"] as? String }

  func string(_ key: String) -> String? { fields[key] as? String }

  /// A field that is an integer: in JSON a number, not a string of digits.
  func integer(_ key: String) -> Int? {
    guard let value = fields[key], !(value is String) else { return nil }
    return value as? Int
  }

  /// Parses a `--log-format json` line; throws unless it is one JSON object.
  init(json line: String) throws {
    self.line = line
    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8))
    guard let fields = object as? [String: Any] else {
      throw TestFailure("log line is not a JSON object: \(line)")
    }
    self.fields = fields
  }

  /// Parses a text line, `TIME LEVEL MESSAGE key=value key="value with spaces"...`: the
  /// message is what comes before the first `key=`; every value is a string.
  init(text line: String) {
    self.line = line
    var fields: [String: Any] = [:]
    let pairs = line.matches(of: /\s([a-z_]+)=("[^"]*"|\S*)/)
    for pair in pairs {
      var value = String(pair.2)
      if value.hasPrefix("\"") { value = String(value.dropFirst().dropLast()) }
      fields[String(pair.1)] = value
    }
    let head = pairs.first.map { line[..<$0.range.lowerBound] } ?? line[...]
    let words = head.split(separator: " ", maxSplits: 2)
    if words.count == 3 {
      fields["time"] = String(words[0])
      fields["level"] = String(words[1])
      fields["message"] = String(words[2])
    }
    self.fields = fields
  }
}

extension ServerProcess {
  /// The complete lines the server has logged so far (a line still being written is left out).
  var logLines: [String] {
    var lines = stderrText.split(separator: "\n", omittingEmptySubsequences: false)
    lines.removeLast()  // after the last newline: empty, or a line not yet complete
    return lines.map(String.init).filter { !$0.isEmpty }
  }

  /// The log of a server started with `--log-format json`; every line must be a JSON object.
  func jsonLog() throws -> [LogRecord] {
    try logLines.map { try LogRecord(json: $0) }
  }

  /// The log of a server in the default text format.
  func textLog() -> [LogRecord] { logLines.map { LogRecord(text: $0) } }

  /// Waits until the JSON log holds a record for which `condition` holds, and returns the first
  /// such record (nil if the deadline passed first).
  func waitForJSONRecord(
    until deadline: Deadline, _ condition: (LogRecord) -> Bool
  ) async throws -> LogRecord? {
    var found: LogRecord?
    _ = try await deadline.poll {
      found = try jsonLog().first(where: condition)
      return found != nil
    }
    return found
  }

  /// Waits until the log holds `count` lines containing `text` and returns them; fails the
  /// test at the deadline with the whole log.
  func waitForLines(containing text: String, count: Int = 1) async throws -> [String] {
    var found: [String] = []
    _ = try await Deadline(seconds: 20).poll {
      found = logLines.filter { $0.contains(text) }
      return found.count >= count
    }
    guard found.count >= count else {
      throw TestFailure("\(found.count) of \(count) log lines with '\(text)': \(stderrText)")
    }
    return found
  }

  /// Waits until the log (any format) holds a line containing `text`.
  func waitForLogLine(containing text: String, until deadline: Deadline) async throws -> Bool {
    try await deadline.poll { logLines.contains { $0.contains(text) } }
  }

  /// Sends SIGUSR1 and returns the `statistics` record the server logs in answer (JSON log).
  /// Only records after those already logged count, so a test can ask several times.
  func requestStatistics() async throws -> LogRecord {
    let earlier = try jsonLog().filter { $0.message == "statistics" }.count
    child.send(SIGUSR1)
    var found: LogRecord?
    _ = try await Deadline(seconds: 20).poll {
      let records = try jsonLog().filter { $0.message == "statistics" }
      found = records.count > earlier ? records[earlier] : nil
      return found != nil
    }
    guard let found else { throw TestFailure("no statistics line after SIGUSR1: \(stderrText)") }
    return found
  }

  /// The counters (SIGUSR1) once `done` holds for them, or the last ones when the deadline
  /// passes: for counts of connections that may still be closing on another loop.
  func settledStatistics(_ done: (LogRecord) -> Bool) async throws -> LogRecord {
    let deadline = Deadline(seconds: 20)
    while true {
      let record = try await requestStatistics()
      if done(record) || deadline.hasPassed { return record }
      try await Task.sleep(for: .milliseconds(20))
    }
  }

  /// Serves one client with `warmUp`, then returns the descriptor count once it has settled:
  /// whatever the server opens once, on its first connection, is not a leak.
  func settledDescriptorCount(
    afterServing warmUp: @escaping @Sendable () throws -> Void
  ) async throws -> Int {
    let before = try openDescriptorCount()
    try await runBlocking(warmUp)
    _ = try await Deadline(seconds: 5).poll { try openDescriptorCount() <= before }
    return try openDescriptorCount()
  }

  /// Waits until the server has no more descriptors open than `baseline` and returns the count
  /// then (or at the deadline): connections end asynchronously in the server.
  func descriptorCountAfterSettling(to baseline: Int, seconds: Int = 20) async throws -> Int {
    _ = try await Deadline(seconds: seconds).poll { try openDescriptorCount() <= baseline }
    return try openDescriptorCount()
  }
}
