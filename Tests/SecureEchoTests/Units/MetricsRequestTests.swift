import Testing

@testable import EchoServer

@Suite("MetricsRequest")
struct MetricsRequestTests {
  private func parse(_ text: String) -> MetricsRequest.Parse {
    MetricsRequest.parse(Array(text.utf8))
  }

  @Test("what scrapers send")
  func scrapes() {
    #expect(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n") == .complete(.metrics(head: false)))
    #expect(parse("HEAD /metrics HTTP/1.0\r\n\r\n") == .complete(.metrics(head: true)))
    #expect(parse("GET /metrics?x=1 HTTP/1.1\n\n") == .complete(.metrics(head: false)))
    #expect(parse("GET / HTTP/1.1\r\n\r\n") == .complete(.notFound(head: false)))
    #expect(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n") == .needMore)
  }

  @Test("what is refused, and with which status")
  func refusals() {
    let cases: [(String, Int)] = [
      ("POST /metrics HTTP/1.1\r\n\r\n", 405), ("GET metrics HTTP/1.1\r\n\r\n", 400),
      ("GET /metrics\r\n\r\n", 400), ("GET /metrics HTTP/2\r\n\r\n", 505),
      ("GET /metrics HTTP/1.1\r\n" + String(repeating: "X: y\r\n", count: 2000), 431),
    ]
    for (request, status) in cases {
      guard case .complete(.refused(let code, _)) = parse(request) else {
        Issue.record("\(request.prefix(30)) was not refused")
        continue
      }
      #expect(code == status, "\(request.prefix(30))")
    }
  }

  @Test("the answer: exact content type, length, no body for HEAD")
  func responses() {
    let body = Array("a 1\n".utf8)
    let get = String(decoding: MetricsRequest.metrics(head: false).response { body }, as: UTF8.self)
    #expect(get.hasPrefix("HTTP/1.1 200 OK\r\n"))
    #expect(get.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
    #expect(get.contains("\r\nContent-Length: 4\r\n"))
    #expect(get.hasSuffix("\r\n\r\na 1\n"))
    let head = String(decoding: MetricsRequest.metrics(head: true).response { body }, as: UTF8.self)
    #expect(head.hasSuffix("Content-Length: 4\r\nConnection: close\r\n\r\n"))
    let refused = MetricsRequest.refused(status: 405, reason: "Method Not Allowed")
    #expect(String(decoding: refused.response { [] }, as: UTF8.self).contains("Allow: GET, HEAD"))
  }
}
