import Logging
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// Formats log lines as text or as one JSON object per line, and hands each to a `LogSink`,
/// which writes them to stderr without ever blocking the caller.
public struct ServerLogHandler: LogHandler {
  public enum Format: String, Sendable, CaseIterable {
    case text, json
  }

  public var logLevel: Logger.Level
  public var metadata: Logger.Metadata = [:]
  private let format: Format
  private let sink: LogSink

  public init(format: Format, level: Logger.Level, sink: LogSink) {
    self.format = format
    self.logLevel = level
    self.sink = sink
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var fields = metadata
    if let extra = event.metadata { fields.merge(extra) { _, new in new } }
    let line =
      switch format {
      case .text: textLine(event, fields)
      case .json: jsonLine(event, fields)
      }
    sink.write(line, essential: event.level >= .notice)
  }

  private func textLine(_ event: LogEvent, _ fields: Logger.Metadata) -> String {
    var line = "\(Self.timestamp()) \(event.level) \(event.message)"
    for key in fields.keys.sorted() {
      let value = "\(fields[key]!)"
      let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "\"" || $0 == "=" }
      line += " \(key)=" + (needsQuotes ? Self.quote(value) : value)
    }
    if let error = event.error { line += " error=\"\(error)\"" }
    return line + "\n"
  }

  private func jsonLine(_ event: LogEvent, _ fields: Logger.Metadata) -> String {
    var line = "{\"time\":\(Self.quote(Self.timestamp())),\"level\":\"\(event.level)\""
    line += ",\"message\":\(Self.quote(event.message.description))"
    for key in fields.keys.sorted() {
      line += ",\(Self.quote(key)):\(Self.json(fields[key]!))"
    }
    if let error = event.error { line += ",\"error\":\(Self.quote("\(error)"))" }
    return line + "}\n"
  }

  /// Numbers and booleans keep their JSON types, so that scripts can add them up and test them
  /// without parsing strings; everything else is a string.
  static func json(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .stringConvertible(let number as any BinaryInteger): "\(number)"
    case .stringConvertible(let flag as Bool): flag ? "true" : "false"
    case .stringConvertible(let number as Double) where number.isFinite: "\(number)"
    case .string(let text): quote(text)
    case .stringConvertible(let other): quote(other.description)
    case .array(let items): "[" + items.map(json).joined(separator: ",") + "]"
    case .dictionary(let entries):
      "{"
        + entries.keys.sorted().map { "\(quote($0)):\(json(entries[$0]!))" }.joined(separator: ",")
        + "}"
    }
  }

  static func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }

  /// UTC, ISO 8601 with milliseconds.
  static func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let millis = Int(now.tv_nsec / 1_000_000)
    let milliText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
    return
      "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
      + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(milliText)Z"
  }
}
