import Foundation
import Sockets
import TLS
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// No fault makes the server hold more than a connection's bound: the faults that hold bytes
/// back (a stall, a slow rate, a long delay) stop reading instead of buffering what the client
/// keeps sending. Many clients push as much as the server takes, none reads.
@Suite(
  "faults: memory stays bounded", .timeLimit(.minutes(3)),
  .enabled(if: !Sanitizer.isActive, "RSS is meaningless under a sanitizer"))
struct FaultMemoryTests {
  /// OpenSSL's read (65 KiB) and write (17 KiB) buffers, one read's worth held for the faults
  /// past their 64 KiB bound, and the 64 KiB read they stop after: under 256 KiB.
  static let perConnectionBound = 256 << 10

  @Test(
    "stall, bandwidth and delay: clients that push without reading cost a bounded amount each",
    arguments: ["stall-0", "bandwidth-1000", "delay-60000"])
  func pushers(_ faults: String) async throws {
    let server = try await ServerProcess.start(
      .tls, extraArguments: ["--scenarios", NetworkFaultTests.scenarios])
    defer { _ = server.stop() }
    let (port, pid) = (server.port, server.pid)
    let count = 100
    // Warm up: the first connections grow the heap for good (the issued certificate's cache).
    try await runBlocking {
      let client = try TLSClient(
        port: port, context: try TLSClient.developmentContext(),
        serverName: "fault.localhost")
      try client.send(Data("warm\n".utf8))
      _ = try client.receive(exactly: 5)
      _ = try client.closeGracefully()
    }
    let before = try server.residentMemoryBytes()
    let (pushed, after) = try await runBlocking {
      let context = try TLSClient.developmentContext()
      let clients = try (0..<count).map { _ in
        try TLSClient(port: port, context: context, serverName: "\(faults).fault.localhost")
      }
      let pushed = try pushUntilHeld(clients.map { .tls($0.stream) }, limit: 8 << 20)
      let after = try ServerProcess.residentMemoryBytes(pid: pid)
      for client in clients {
        try client.stream.socket.setResetOnClose()
        client.stream.socket.close()
      }
      return (pushed, after)
    }
    let growth = after - before
    print(
      "\(count) clients with \(faults): pushed \(pushed >> 10) KiB in all without reading; "
        + "server VmRSS \(before >> 10) KiB -> \(after >> 10) KiB, "
        + "\((growth / count) >> 10) KiB per connection")
    // The clients pushed far more than the bound allows the server to hold: the rest waits
    // in the kernel's socket buffers, and then at the clients.
    #expect(pushed > count * Self.perConnectionBound)
    #expect(growth < count * Self.perConnectionBound, "\(growth >> 10) KiB for \(count)")
    // And it still serves: no loop was left spinning or stuck by them.
    try await runBlocking {
      let client = try TLSClient(port: port, context: try TLSClient.developmentContext())
      let payload = try Payload.random(count: 10_000)
      try client.send(payload)
      #expect(try client.receive(exactly: payload.count) == payload)
    }
  }

  /// Writes to every stream, never reading, until each is full (its write would block: the
  /// server takes no more for now, and the kernel's buffers between are full too) or has taken
  /// `limit`; returns the bytes they took.
  private func pushUntilHeld(_ streams: [Transport], limit: Int) throws -> Int {
    let chunk = try Payload.random(count: 16 * 1024)
    var sent = Array(repeating: 0, count: streams.count)
    // After `.wantWrite`, TLS wants the same bytes offered again: each stream goes on from
    // where its last write of the chunk ended.
    var offsets = Array(repeating: 0, count: streams.count)
    var full = Array(repeating: false, count: streams.count)
    for stream in streams { try stream.socket.setNonBlocking(true) }
    let deadline = Deadline(seconds: 60)
    while full.contains(false) {
      guard !deadline.hasPassed else { throw TestFailure("the sockets never filled up") }
      for (index, stream) in streams.enumerated() where !full[index] {
        let step = try chunk.withUnsafeBytes { bytes in
          try stream.write(UnsafeRawBufferPointer(rebasing: bytes[offsets[index]...]))
        }
        switch step {
        case .done(let count):
          sent[index] += count
          offsets[index] = (offsets[index] + count) % chunk.count
          full[index] = sent[index] >= limit
        case .wantWrite, .wantRead, .closed: full[index] = true
        }
      }
    }
    return sent.reduce(0, +)
  }
}
