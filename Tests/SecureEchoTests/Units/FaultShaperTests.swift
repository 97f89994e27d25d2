import Faults
import Testing

/// The stream faults' schedule on its own, with a clock the test moves: what may be written and
/// read when, what wakes the connection, and how it ends.
@Suite("Fault schedule (no sockets)")
struct FaultShaperTests {
  private func shaper(_ specs: String, now: Int64 = 0) throws -> FaultShaper {
    let plan = try FaultPlan.parse([specs]).get()
    return try #require(FaultShaper(plan.chosen { 0 }, now: now))
  }

  @Test("faults that do not touch the stream make no schedule")
  func none() throws {
    let plan = try FaultPlan.parse(["no-close-notify.slow-close-5.small-records-512"]).get()
    #expect(FaultShaper(plan.chosen { 0 }, now: 0) == nil)
  }

  @Test("delay: nothing goes before its time, and then all of it")
  func delay() throws {
    var shaper = try shaper("delay-200")
    shaper.queued(100, now: 10)
    #expect(shaper.allowance(now: 10) == 0)
    #expect(shaper.nextWake(now: 10, readWanted: false) == 210)
    #expect(shaper.allowance(now: 209) == 0)
    shaper.queued(50, now: 100)
    #expect(shaper.allowance(now: 210) == 100, "only the first part is due")
    shaper.wrote(100, now: 210)
    #expect(shaper.nextWake(now: 210, readWanted: false) == 300)
    #expect(shaper.allowance(now: 300) == 50)
    shaper.wrote(50, now: 300)
    #expect(shaper.queuedBytes == 0)
    #expect(shaper.nextWake(now: 300, readWanted: false) == nil)
  }

  @Test("jitter moves a part's time, never before a part queued earlier")
  func jitterKeepsOrder() throws {
    var shaper = try shaper("delay-100.jitter-50")
    #expect(shaper.jitter == 50)
    shaper.queued(10, now: 0, jitter: 50)  // due at 150
    shaper.queued(10, now: 1, jitter: -50)  // would be 51: held to 150
    #expect(shaper.allowance(now: 149) == 0)
    #expect(shaper.allowance(now: 150) == 20)
  }

  @Test("a full socket waits for the socket, not for time")
  func socketFull() throws {
    var shaper = try shaper("delay-10")
    shaper.queued(10, now: 0)
    shaper.socketFull = true
    #expect(shaper.nextWake(now: 20, readWanted: false) == nil)
    shaper.socketFull = false
    #expect(shaper.nextWake(now: 20, readWanted: false) == 20, "due and not blocked: now")
  }

  @Test("slice: chunks of the size, each after the gap")
  func slice() throws {
    var shaper = try shaper("slice-100-30")
    shaper.queued(250, now: 0)
    #expect(shaper.allowance(now: 0) == 100)
    shaper.wrote(100, now: 0)
    #expect(shaper.allowance(now: 29) == 0)
    #expect(shaper.nextWake(now: 29, readWanted: false) == 30)
    #expect(shaper.allowance(now: 30) == 100)
    shaper.wrote(60, now: 30)
    #expect(shaper.allowance(now: 31) == 40, "the rest of the chunk, without a gap")
    shaper.wrote(40, now: 31)
    #expect(shaper.allowance(now: 61) == 50)
  }

  @Test("bandwidth: at most rate × T + one burst, both ways")
  func bandwidth() throws {
    var shaper = try shaper("bandwidth-1000")
    shaper.queued(100_000, now: 0)
    var written = 0
    var read = 0
    for now in stride(from: Int64(0), through: 5000, by: 10) {
      let allowed = shaper.allowance(now: now)
      shaper.wrote(allowed, now: now)
      written += allowed
      #expect(written <= 1000 * Int(now) / 1000 + 1000)
      let allowance = shaper.readAllowance(now: now)
      let readable = try #require(allowance)
      shaper.didRead(readable, now: now)
      read += readable
      #expect(read <= 1000 * Int(now) / 1000 + 1000)
    }
    #expect(written >= 5000, "the rate is reached: \(written)")
    #expect(read >= 5000)
    // Drained: the next wake is when a fiftieth of a second's worth has come back.
    #expect(shaper.allowance(now: 5000) == 0)
    #expect(shaper.nextWake(now: 5000, readWanted: true) == 5020)
  }

  @Test("a bucket is full at first, holds at most 16 KiB, and refills at the rate")
  func bucket() {
    var bucket = TokenBucket(rate: 1_000_000, now: 0)
    #expect(bucket.capacity == 16_384)
    #expect(bucket.available(0) == 16_384)
    bucket.take(16_384, 0)
    #expect(bucket.available(0) == 0)
    #expect(bucket.available(1) == 1000)
    #expect(bucket.available(100) == 16_384)
    var slow = TokenBucket(rate: 3, now: 0)
    #expect(slow.available(0) == 3)
    slow.take(3, 0)
    #expect(slow.available(333) == 0)
    #expect(slow.available(334) == 1, "fractions of a byte add up")
  }

  @Test("limit: exactly N bytes, then the end it names")
  func limit() throws {
    var shaper = try shaper("limit-100-rst")
    shaper.queued(150, now: 0)
    #expect(shaper.allowance(now: 0) == 100)
    #expect(shaper.ending(now: 0) == nil)
    shaper.wrote(100, now: 0)
    #expect(shaper.allowance(now: 0) == 0)
    #expect(shaper.ending(now: 0) == .limit(.rst))
    #expect(try self.shaper("limit-0").ending(now: 0) == .limit(.normal))
  }

  @Test("reset: after N bytes, or after a time")
  func reset() throws {
    var bytes = try shaper("reset-10")
    bytes.queued(20, now: 0)
    #expect(bytes.allowance(now: 0) == 10)
    bytes.wrote(10, now: 0)
    #expect(bytes.ending(now: 0) == .reset)
    var timed = try shaper("reset-500ms", now: 100)
    #expect(timed.ending(now: 599) == nil)
    #expect(timed.nextWake(now: 300, readWanted: false) == 600)
    #expect(timed.ending(now: 600) == .reset)
    // Once the connection's end is under way, the reset neither ends nor wakes it again.
    timed.markEnded()
    #expect(timed.ending(now: 700) == nil)
    #expect(timed.nextWake(now: 700, readWanted: true) == nil)
  }

  @Test("a bucket that refilled while nobody asked is seen as refilled; input wakes only a reader")
  func refilledUnasked() throws {
    var shaper = try shaper("bandwidth-1000")
    let allowance = shaper.readAllowance(now: 0)
    let drained = try #require(allowance)
    shaper.didRead(drained, now: 0)
    #expect(shaper.nextWake(now: 0, readWanted: true) == 20)
    #expect(shaper.nextWake(now: 0, readWanted: false) == nil, "no read waits: nothing to wake")
    #expect(shaper.nextWake(now: 5000, readWanted: true) == 5000, "full again: read now")
    shaper.queued(3000, now: 5000)
    shaper.wrote(shaper.allowance(now: 5000), now: 5000)
    #expect(shaper.nextWake(now: 9000, readWanted: false) == 9000, "the output bucket, too")
  }

  @Test("stall: after N bytes, nothing read or written, and nothing to wake for")
  func stall() throws {
    var shaper = try shaper("stall-5")
    #expect(shaper.readAllowance(now: 0) == nil)
    shaper.queued(8, now: 0)
    #expect(shaper.allowance(now: 0) == 5)
    shaper.wrote(5, now: 0)
    #expect(shaper.isStalled)
    #expect(shaper.allowance(now: 1000) == 0)
    #expect(shaper.readAllowance(now: 1000) == 0)
    #expect(shaper.nextWake(now: 1000, readWanted: false) == nil)
    #expect(shaper.ending(now: 1000) == nil, "a stall keeps the connection open")
  }

  @Test("truncate: the first record alone, or the one after a limit")
  func truncate() throws {
    var alone = try shaper("truncate")
    #expect(alone.ending(now: 0) == nil, "nothing to cut yet")
    alone.queued(10, now: 0)
    #expect(alone.allowance(now: 0) == 0)
    #expect(alone.ending(now: 0) == .truncate)
    var limited = try shaper("limit-4.truncate")
    limited.queued(10, now: 0)
    #expect(limited.allowance(now: 0) == 4)
    limited.wrote(4, now: 0)
    #expect(limited.ending(now: 0) == .truncate)
  }

  @Test("keyupdate: writes end at each boundary, and a KeyUpdate is owed after it")
  func keyUpdate() throws {
    var shaper = try shaper("keyupdate-100-requested")
    shaper.queued(250, now: 0)
    #expect(shaper.allowance(now: 0) == 100)
    #expect(shaper.takeKeyUpdate() == nil)
    shaper.wrote(100, now: 0)
    #expect(shaper.takeKeyUpdate() == true)
    #expect(shaper.takeKeyUpdate() == nil, "taken once")
    #expect(shaper.allowance(now: 0) == 100)
  }

  @Test("room: a byte bound, and a bound on parts however small they are")
  func room() throws {
    var shaper = try shaper("delay-1000")
    shaper.queued(60_000, now: 0)
    #expect(shaper.hasRoom(bound: 65_536))
    shaper.queued(6000, now: 0)
    #expect(!shaper.hasRoom(bound: 65_536))
    var small = try self.shaper("delay-1000")
    for now in 0..<Int64(FaultShaper.maximumSegments) { small.queued(1, now: now) }
    #expect(!small.hasRoom(bound: 65_536), "1,024 separately timed bytes are enough")
    small.discardQueued()
    #expect(small.queuedBytes == 0 && small.hasRoom(bound: 1))
  }
}
