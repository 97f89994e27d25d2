import Faults
import Sockets
import Testing

@testable import EchoServer

/// A plaintext connection's faults, stepped by hand with the loop's clock moved by the test:
/// what waits for the timer, with which interest, and what comes out when.
@Suite("Connection faults (no process, no epoll)")
struct ConnectionFaultTests {
  typealias Harness = ConnectionTests.Harness

  @Test("delay: held until the timer the connection asks for, then written")
  func delay() throws {
    let harness = try Harness(faults: [.delay(milliseconds: 200)])
    #expect(harness.step() == .wait(.readable))
    try harness.send("hi")
    let start = harness.loop.now
    #expect(harness.step() == .wait(.readable), "it may read more while the write waits")
    #expect(try harness.receiveAvailable().isEmpty)
    #expect(harness.connection.nextDeadline(harness.loop) == start + 200)
    harness.loop.now = start + 199
    #expect(harness.connection.deadlinePassed(harness.loop) == .runAgain, "armed for a wake-up")
    #expect(harness.step() == .wait(.readable))
    #expect(try harness.receiveAvailable().isEmpty, "not a millisecond early")
    harness.loop.now = start + 200
    #expect(harness.step() == .wait(.readable))
    #expect(try harness.receiveAvailable() == Array("hi".utf8))
  }

  @Test("stall: after its bytes, no read and no write, and no interest at all")
  func stall() throws {
    let harness = try Harness(faults: [.stall(afterBytes: 2)])
    _ = harness.step()
    try harness.send("abcdef")
    #expect(harness.step() == .wait([]))
    #expect(try harness.receiveAvailable() == Array("ab".utf8))
    let held = harness.connection.bytesIn
    try harness.send("more")
    harness.loop.now += 60_000
    #expect(harness.step() == .wait([]))
    #expect(harness.connection.bytesIn == held, "nothing more is read")
  }

  @Test("bandwidth: once the bucket is empty, the connection waits for its timer, not epoll")
  func bandwidth() throws {
    let harness = try Harness(faults: [.bandwidth(bytesPerSecond: 1000)])
    _ = harness.step()
    try harness.send(Array(repeating: 0x61, count: 3000))
    #expect(harness.step() == .wait([]))
    #expect(try harness.receiveAvailable().count == 1000, "one burst: a second's worth")
    let start = harness.loop.now
    #expect(harness.connection.nextDeadline(harness.loop) == start + 20)
    harness.loop.now = start + 500
    _ = harness.step()
    #expect(try harness.receiveAvailable().count == 500)
  }

  @Test("limit-N-rst: exactly N bytes, then a close that resets")
  func limitReset() throws {
    let harness = try Harness(faults: [.limit(bytes: 3, close: .rst)])
    _ = harness.step()
    try harness.send("abcdef")
    #expect(harness.step() == .close(.fault, detail: "limit-3-rst"))
    #expect(try harness.receiveAvailable() == Array("abc".utf8))
  }

  @Test("blackhole: nothing back, and the end of input is answered by the end alone")
  func blackhole() throws {
    let harness = try Harness(faults: [.blackhole])
    _ = harness.step()
    try harness.send("into the void")
    #expect(harness.step() == .wait(.readable))
    #expect(try harness.receiveAvailable().isEmpty)
    try harness.client.shutdownOutput()
    #expect(harness.step() == .close(.clientClosed, detail: nil))
    #expect(try harness.sawEndOfStream())
  }
}
