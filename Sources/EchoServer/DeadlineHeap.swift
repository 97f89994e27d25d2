/// A loop's timers: a binary min-heap of (deadline, connection), O(log n) per insert and per
/// expiry, with no periodic scan of connections. An entry names its connection by descriptor
/// and generation rather than holding it, so that a closed connection's memory (its `SSL`,
/// its buffers) is freed at once, not when a timer it no longer needs comes due.
///
/// Entries are never removed early: activity only updates `Connection.lastActivity`, and an
/// entry that comes due for a connection that has closed or moved on is dropped or re-armed
/// then. So a busy connection costs one heap operation per idle period, not one per read.
struct DeadlineHeap {
  enum Kind {
    case handshake, idle
  }

  struct Entry {
    var deadline: Int64
    var kind: Kind
    var descriptor: Int32
    /// Tells this connection from a later one that reuses the descriptor.
    var generation: UInt64
  }

  private var entries: [Entry] = []

  var isEmpty: Bool { entries.isEmpty }
  var count: Int { entries.count }
  var nextDeadline: Int64? { entries.first?.deadline }

  mutating func insert(_ entry: Entry) {
    entries.append(entry)
    var child = entries.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard entries[child].deadline < entries[parent].deadline else { break }
      entries.swapAt(child, parent)
      child = parent
    }
  }

  /// Removes and returns the earliest entry if it is due at `now`.
  mutating func popDue(at now: Int64) -> Entry? {
    guard let first = entries.first, first.deadline <= now else { return nil }
    let last = entries.removeLast()
    if !entries.isEmpty {
      entries[0] = last
      siftDown(from: 0)
    }
    return first
  }

  private mutating func siftDown(from start: Int) {
    var parent = start
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < entries.count && entries[left].deadline < entries[smallest].deadline {
        smallest = left
      }
      if right < entries.count && entries[right].deadline < entries[smallest].deadline {
        smallest = right
      }
      if smallest == parent { return }
      entries.swapAt(parent, smallest)
      parent = smallest
    }
  }

  mutating func removeAll() { entries.removeAll() }
}
