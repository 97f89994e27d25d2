/// The head of one HTTP/1.x request to the metrics listener, and the answer it gets. Only what
/// a scraper sends is understood: `GET` or `HEAD` of `/metrics`; everything else gets the
/// status that says why, and every answer closes the connection.
enum MetricsRequest: Equatable {
  /// The longest request head read; a longer one is answered 431 and cut off.
  static let maximumHead = 8192

  case metrics(head: Bool)
  case notFound(head: Bool)
  /// An HTTP status for a request not served: 400, 405, 431, 505.
  case refused(status: Int, reason: String)

  enum Parse: Equatable {
    case needMore
    case complete(MetricsRequest)
  }

  /// Parses what has arrived so far.
  static func parse(_ bytes: [UInt8]) -> Parse {
    guard let end = headEnd(bytes) else {
      return bytes.count >= maximumHead
        ? .complete(.refused(status: 431, reason: "Request Header Fields Too Large"))
        : .needMore
    }
    let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? end
    var line = bytes[..<lineEnd]
    if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
    let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
    guard parts.count == 3, !parts[0].isEmpty, parts[1].first == UInt8(ascii: "/") else {
      return .complete(.refused(status: 400, reason: "Bad Request"))
    }
    let version = String(decoding: parts[2], as: UTF8.self)
    guard version.hasPrefix("HTTP/1.") else {
      return .complete(.refused(status: 505, reason: "HTTP Version Not Supported"))
    }
    let method = String(decoding: parts[0], as: UTF8.self)
    guard method == "GET" || method == "HEAD" else {
      return .complete(.refused(status: 405, reason: "Method Not Allowed"))
    }
    // A query string (`?name[]=...` filters in some scrapers) does not change the answer.
    let path = parts[1].prefix { $0 != UInt8(ascii: "?") }
    let head = method == "HEAD"
    return .complete(
      path.elementsEqual("/metrics".utf8) ? .metrics(head: head) : .notFound(head: head))
  }

  /// The index just past the blank line that ends the head (CRLF CRLF, or bare LF LF).
  private static func headEnd(_ bytes: [UInt8]) -> Int? {
    var index = 0
    while let newline = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) {
      let next = newline + 1
      if next < bytes.count && bytes[next] == UInt8(ascii: "\n") { return next + 1 }
      if next + 1 < bytes.count && bytes[next] == UInt8(ascii: "\r")
        && bytes[next + 1] == UInt8(ascii: "\n")
      {
        return next + 2
      }
      index = next
    }
    return nil
  }

  /// The exact content type Prometheus 3 asks of the text format; it fails a scrape without it.
  static let contentType = "text/plain; version=0.0.4; charset=utf-8"

  /// The whole response; `body` is called only for a `/metrics` request.
  func response(body: () -> [UInt8]) -> [UInt8] {
    let (status, reason, type, content, head): (Int, String, String, [UInt8], Bool)
    switch self {
    case .metrics(let isHead):
      (status, reason, type, content, head) = (200, "OK", Self.contentType, body(), isHead)
    case .notFound(let isHead):
      let text = Array("Not found: the metrics are at /metrics\n".utf8)
      (status, reason, type, content, head) = (404, "Not Found", "text/plain", text, isHead)
    case .refused(let code, let why):
      (status, reason, type, content, head) = (
        code, why, "text/plain", Array("\(why)\n".utf8), false
      )
    }
    var lines = [
      "HTTP/1.1 \(status) \(reason)", "Content-Type: \(type)", "Content-Length: \(content.count)",
      "Connection: close",
    ]
    if status == 405 { lines.append("Allow: GET, HEAD") }
    var bytes = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    if !head { bytes += content }
    return bytes
  }
}
