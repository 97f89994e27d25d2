import Testing

@testable import EchoServer

/// The timer heap against a plain model: whatever mix of schedules, moves and removals, it
/// pops exactly the due elements in deadline order and holds exactly those still scheduled.
@Suite("Deadline heap")
struct DeadlineHeapTests {
  final class Timer: DeadlineHeapElement {
    let id: Int
    var heapDeadline: Int64 = 0
    var heapIndex = -1
    init(_ id: Int) { self.id = id }
  }

  /// xorshift, so that a failure is reproducible from the seed.
  struct Random {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return Int(state % UInt64(bound))
    }
  }

  @Test("random schedules, moves and removals match a model", arguments: [1, 2, 3, 42])
  func againstModel(seed: UInt64) {
    var random = Random(state: seed &* 0x9E37_79B9_7F4A_7C15 | 1)
    let timers = (0..<200).map(Timer.init)
    var heap = DeadlineHeap<Timer>()
    var model: [Int: Int64] = [:]
    var now: Int64 = 0
    // Mismatches are collected and checked once: an #expect per step would make this test
    // hold a thread of the test pool for many seconds under a sanitizer.
    var mismatches: [String] = []
    for step in 0..<Sanitizer.scaled(5000, reduced: 800) where mismatches.count < 5 {
      let timer = timers[random.next(timers.count)]
      switch random.next(4) {
      case 0, 1:
        let deadline = now + Int64(random.next(1000))
        heap.schedule(timer, at: deadline)
        model[timer.id] = deadline
      case 2:
        heap.remove(timer)
        model[timer.id] = nil
      default:
        now += Int64(random.next(50))
        var popped: [Timer] = []
        while let due = heap.popDue(at: now) { popped.append(due) }
        let expected = model.filter { $0.value <= now }
        if Set(popped.map(\.id)) != Set(expected.keys) {
          mismatches.append("step \(step): popped \(popped.map(\.id)), due \(expected.keys)")
        }
        if popped.map(\.heapDeadline) != popped.map(\.heapDeadline).sorted() {
          mismatches.append("step \(step): popped out of order")
        }
        for timer in popped { model[timer.id] = nil }
      }
      if heap.count != model.count || heap.nextDeadline != model.values.min() {
        mismatches.append("step \(step): \(heap.count) held, \(model.count) scheduled")
      }
    }
    #expect(mismatches.isEmpty, "\(mismatches)")
    let misplaced = timers.filter { ($0.heapIndex >= 0) != (model[$0.id] != nil) }.map(\.id)
    #expect(misplaced.isEmpty, "timers in the heap or not, against the model: \(misplaced)")
  }

  @Test("removing every element leaves nothing behind")
  func removal() {
    var heap = DeadlineHeap<Timer>()
    let timers = (0..<100).map(Timer.init)
    for timer in timers { heap.schedule(timer, at: Int64(100 - timer.id)) }
    for timer in timers.reversed() { heap.remove(timer) }
    #expect(heap.isEmpty)
    #expect(timers.allSatisfy { $0.heapIndex == -1 })
    heap.remove(timers[0])  // not in the heap: nothing happens
    #expect(heap.isEmpty)
  }
}
