import Sockets
import Testing

@Suite("ListenAddress")
struct ListenAddressTests {
  @Test(
    "ADDRESS:PORT as users write it",
    arguments: [
      ("127.0.0.1:4433", "127.0.0.1", 4433), ("[::]:4433", "::", 4433), ("[::1]:0", "::1", 0),
      ("localhost:0", "localhost", 0), ("*:8080", "*", 8080),
      ("example.test:65535", "example.test", 65535),
    ] as [(String, String, UInt16)])
  func parses(_ text: String, _ host: String, _ port: UInt16) throws {
    let address = try ListenAddress.parse(text).get()
    #expect(address == ListenAddress(host: host, port: port))
    #expect(address.description == text)
  }

  @Test(
    "what is not ADDRESS:PORT, with the reason",
    arguments: [
      ("localhost", "port is missing"), ("::1:4433", "brackets"), ("[::1", "closing ']'"),
      ("[::1]", "port is missing"), ("[127.0.0.1]:1", "not an IPv6 address"), (":4433", "'*'"),
      ("localhost:http", "number"), ("localhost:65536", "number"), ("localhost:-1", "number"),
    ])
  func refuses(_ text: String, _ reason: String) {
    switch ListenAddress.parse(text) {
    case .success(let address): Issue.record("\(text) parsed as \(address)")
    case .failure(let error): #expect(error.reason.contains(reason), "\(text): \(error.reason)")
    }
  }

  @Test("listeners overlap on the same address, or under a wildcard of the same family")
  func overlaps() throws {
    func address(_ host: String, _ port: UInt16 = 4433) throws -> SocketAddress {
      try #require(SocketAddress(numericHost: host, port: port))
    }
    #expect(try address("127.0.0.1").overlaps(address("127.0.0.1")))
    #expect(try address("0.0.0.0").overlaps(address("127.0.0.1")))
    #expect(try address("::1").overlaps(address("::")))
    #expect(try !address("::").overlaps(address("127.0.0.1")))
    #expect(try !address("0.0.0.0").overlaps(address("127.0.0.1", 4434)))
    #expect(try !address("127.0.0.1").overlaps(address("127.0.0.2")))
  }

  @Test("* is every IPv4 and every IPv6 interface, each its own listener")
  func wildcard() throws {
    let resolved = try ListenAddress(host: "*", port: 4433).resolve()
    #expect(resolved.map(\.description) == ["0.0.0.0:4433", "[::]:4433"])
  }
}
