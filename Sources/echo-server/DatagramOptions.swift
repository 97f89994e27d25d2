import ArgumentParser
import CommandLineSupport
import EchoServer

/// The options for datagrams: UDP echo (RFC 862) and its reflection guard, and DTLS.
struct DatagramOptions: ParsableArguments {
  @Flag(
    help: """
      Echo UDP datagrams instead of TCP streams (plaintext; default port 8080): each datagram \
      back to its sender, whole, within the rate limits below. Datagrams from port 0, from the \
      server's own address, or from the ports of services that answer UDP themselves (7, 19, \
      53, 123, 1900, 11211) are dropped.
      """)
  var udp = false

  @Flag(
    help: """
      Serve DTLS 1.2 over UDP instead of TLS over TCP (same certificates; default port 4433): \
      a client is kept only once it has returned the server's stateless cookie, and each \
      record's payload goes back as one record.
      """)
  var dtls = false

  @Option(help: "DTLS: the path MTU handshake datagrams are sized for, in bytes (default: 1400).")
  var dtlsMtu: Int?

  @Option(
    help: ArgumentHelp(
      """
      UDP: at most PACKETS datagrams and BYTES bytes a second from one source address \
      (default: 1000,1000000); more are dropped and counted.
      """, valueName: "packets,bytes"))
  var udpSourceLimit: String?

  @Option(
    help: ArgumentHelp(
      "UDP: at most PACKETS datagrams and BYTES bytes a second in all (default: 100000,100000000).",
      valueName: "packets,bytes"))
  var udpGlobalLimit: String?

  /// The guard's rates from the command line.
  func limits() throws(ValidationError) -> UDPLimits {
    var limits = UDPLimits()
    if let udpSourceLimit {
      (limits.sourcePackets, limits.sourceBytes) = try Self.rates(
        udpSourceLimit, option: "--udp-source-limit")
    }
    if let udpGlobalLimit {
      (limits.globalPackets, limits.globalBytes) = try Self.rates(
        udpGlobalLimit, option: "--udp-global-limit")
    }
    return limits
  }

  /// `--udp` or `--dtls`.
  var isDatagram: Bool { udp || dtls }

  /// The options that mean something only with `--udp`, when given without it.
  var udpOnlyGiven: [String] {
    [("--udp-source-limit", udpSourceLimit != nil), ("--udp-global-limit", udpGlobalLimit != nil)]
      .filter(\.1).map(\.0)
  }

  private static func rates(_ text: String, option: String) throws(ValidationError) -> (Int, Int) {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    guard parts.count == 2, let packets = Int(parts[0]), let bytes = Int(parts[1]) else {
      throw ValidationError("\(option) must be PACKETS,BYTES (1000,1000000), not '\(text)'")
    }
    try RangeCheck.require("\(option) packets", packets, in: 1...100_000_000)
    try RangeCheck.require("\(option) bytes", bytes, in: 1...100_000_000_000)
    return (packets, bytes)
  }
}
