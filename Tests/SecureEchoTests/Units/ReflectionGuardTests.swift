import Sockets
import Testing

@testable import EchoServer

/// The UDP reflection guard on its own, with a clock the test moves.
@Suite("UDP reflection guard (no sockets)")
struct ReflectionGuardTests {
  static let local = SocketAddress(numericHost: "127.0.0.1", port: 7007)!

  private func judge(
    _ guardian: inout ReflectionGuard, from peer: String, port: UInt16, size: Int = 100,
    truncated: Bool = false, now: Int64 = 0
  ) -> ReflectionGuard.Drop? {
    guardian.judge(
      size, from: SocketAddress(numericHost: peer, port: port)!, truncated: truncated,
      localPort: Self.local.port, now: now)
  }

  @Test("sources no client has are refused, whatever the rates")
  func forged() {
    var guardian = ReflectionGuard(UDPLimits(), now: 0)
    #expect(judge(&guardian, from: "10.0.0.1", port: 0) == .portZero)
    for port: UInt16 in [7, 19, 53, 123, 1900, 11_211] {
      #expect(judge(&guardian, from: "10.0.0.1", port: port) == .reflectorPort)
    }
    #expect(judge(&guardian, from: "127.0.0.1", port: 7007) == .ownPort)
    // Another of the host's addresses (forged as the source: the echo would come back to the
    // server there), or another echo server on the same port.
    #expect(judge(&guardian, from: "127.0.0.2", port: 7007) == .ownPort)
    #expect(judge(&guardian, from: "::1", port: 7007) == .ownPort)
    #expect(judge(&guardian, from: "127.0.0.1", port: 7008) == nil, "another port is a client")
    #expect(judge(&guardian, from: "10.0.0.1", port: 4000, truncated: true) == .truncated)
  }

  @Test("a source's packets and bytes, then all sources', each a second's worth at most")
  func rates() {
    var limits = UDPLimits()
    limits.sourcePackets = 3
    limits.sourceBytes = 100_000
    limits.globalPackets = 5
    var guardian = ReflectionGuard(limits, now: 0)
    for _ in 0..<3 { #expect(judge(&guardian, from: "10.0.0.1", port: 4000) == nil) }
    #expect(judge(&guardian, from: "10.0.0.1", port: 4001) == .sourceRate, "any port of it")
    for _ in 0..<2 { #expect(judge(&guardian, from: "10.0.0.2", port: 4000) == nil) }
    #expect(judge(&guardian, from: "10.0.0.3", port: 4000) == .globalRate)
    // A third of a second later, one more packet for the first source.
    #expect(judge(&guardian, from: "10.0.0.1", port: 4000, now: 334) == nil)
    #expect(judge(&guardian, from: "10.0.0.1", port: 4000, now: 334) == .sourceRate)
    // The largest datagram passes a byte rate smaller than itself, once a second.
    var bytes = UDPLimits()
    bytes.sourceBytes = 1000
    var small = ReflectionGuard(bytes, now: 0)
    #expect(judge(&small, from: "10.0.0.1", port: 4000, size: Socket.maximumDatagram) == nil)
    #expect(judge(&small, from: "10.0.0.1", port: 4000, size: 1) == .sourceRate)
  }

  @Test("sources whose buckets filled again are forgotten: the table stays small")
  func bounded() {
    var guardian = ReflectionGuard(UDPLimits(), now: 0)
    for index in 0..<1000 {
      _ = judge(&guardian, from: "10.0.\(index / 256).\(index % 256)", port: 4000)
    }
    #expect(guardian.trackedSources == 1000)
    _ = judge(&guardian, from: "10.9.9.9", port: 4000, now: 5000)
    #expect(guardian.trackedSources == 1, "only the one just seen")
  }

  @Test("past the table's room, new sources share one source's limit instead of having none")
  func overflow() {
    var limits = UDPLimits()
    limits.sourcePackets = 10
    limits.globalPackets = 1_000_000
    var guardian = ReflectionGuard(limits, now: 0)
    for index in 0..<ReflectionGuard.maximumSources {
      let address = "10.\(index >> 16).\((index >> 8) & 255).\(index & 255)"
      #expect(judge(&guardian, from: address, port: 4000) == nil)
    }
    #expect(guardian.trackedSources == ReflectionGuard.maximumSources)
    // Each of these is new, and not kept: together they get what one source gets.
    let verdicts = (0..<20).map { judge(&guardian, from: "192.0.2.\($0)", port: 4000) }
    #expect(verdicts.prefix(10).allSatisfy { $0 == nil })
    #expect(verdicts.dropFirst(10).allSatisfy { $0 == .sourceRate })
    // A tracked source keeps its own buckets.
    #expect(judge(&guardian, from: "10.0.0.1", port: 4000) == nil)
  }
}
