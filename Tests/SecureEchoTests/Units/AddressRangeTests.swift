import Sockets
import Testing

@Suite("AddressRange")
struct AddressRangeTests {
  private func address(_ host: String) throws -> SocketAddress {
    try #require(SocketAddress(numericHost: host, port: 1234))
  }

  @Test(
    "CIDR blocks hold what they should, and nothing else",
    arguments: [
      ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false),
      ("127.0.0.1", "127.0.0.1", true), ("127.0.0.1", "127.0.0.2", false),
      ("192.168.4.0/22", "192.168.7.255", true), ("192.168.4.0/22", "192.168.8.0", false),
      ("0.0.0.0/0", "203.0.113.9", true), ("0.0.0.0/0", "::1", false),
      ("::1", "::1", true), ("fd00::/8", "fdab::1", true), ("fd00::/8", "fe80::1", false),
      ("2001:db8::/33", "2001:db8:7fff::1", true), ("2001:db8::/33", "2001:db8:8000::1", false),
      // An IPv4 client seen on an IPv6 socket is still that IPv4 client.
      ("10.0.0.0/8", "::ffff:10.1.2.3", true), ("10.0.0.0/8", "::ffff:11.1.2.3", false),
    ] as [(String, String, Bool)])
  func contains(_ range: String, _ host: String, _ expected: Bool) throws {
    let block = try AddressRange.parse(range).get()
    #expect(block.contains(try address(host)) == expected, "\(range) ∋ \(host)")
  }

  @Test("written back as the network and its length")
  func description() throws {
    #expect(try AddressRange.parse("127.0.0.1").get().description == "127.0.0.1/32")
    #expect(try AddressRange.parse("fd00::/8").get().description == "fd00::/8")
  }

  @Test(
    "what is not a block, with the reason",
    arguments: [
      ("10.1.2.3/8", "the network is 10.0.0.0/8"), ("10.0.0.0/33", "from 0 to 32"),
      ("::/129", "from 0 to 128"), ("10.0.0.0/", "from 0 to 32"), ("10.0.0.0/+8", "from 0 to 32"),
      ("lb.example", "not a numeric"), ("[::1]/128", "not a numeric"), ("", "not a numeric"),
    ])
  func refuses(_ text: String, _ reason: String) {
    switch AddressRange.parse(text) {
    case .success(let range): Issue.record("\(text) parsed as \(range)")
    case .failure(let error): #expect(error.reason.contains(reason), "\(text): \(error.reason)")
    }
  }
}
