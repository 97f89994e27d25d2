/// What a `DeadlineHeap` holds: an object that knows its deadline and its place in the heap,
/// so that it can be moved or taken out in O(log n) when its deadline changes or it closes.
protocol DeadlineHeapElement: AnyObject {
  /// Milliseconds on the monotonic clock; set by the heap.
  var heapDeadline: Int64 { get set }
  /// Position in the heap, or -1 when not in it; maintained by the heap alone.
  var heapIndex: Int { get set }
}

/// A loop's timers: a binary min-heap of elements by deadline, O(log n) per insert, move,
/// removal and expiry, with no periodic scan. Each element is in it at most once, and leaves
/// it when it closes, so the heap holds only connections that are open.
struct DeadlineHeap<Element: DeadlineHeapElement> {
  private var elements: [Element] = []

  var count: Int { elements.count }
  var isEmpty: Bool { elements.isEmpty }
  var nextDeadline: Int64? { elements.first?.heapDeadline }

  /// Puts `element` in the heap due at `deadline`, or moves it there if it already is; nil
  /// takes it out.
  mutating func schedule(_ element: Element, at deadline: Int64?) {
    guard let deadline else { return remove(element) }
    if element.heapIndex < 0 {
      element.heapDeadline = deadline
      element.heapIndex = elements.count
      elements.append(element)
      siftUp(from: element.heapIndex)
    } else {
      let earlier = deadline < element.heapDeadline
      element.heapDeadline = deadline
      if earlier { siftUp(from: element.heapIndex) } else { siftDown(from: element.heapIndex) }
    }
  }

  /// Takes `element` out; nothing happens if it is not in the heap.
  mutating func remove(_ element: Element) {
    let index = element.heapIndex
    guard index >= 0 else { return }
    precondition(elements[index] === element, "an element of another heap")
    let last = elements.removeLast()
    element.heapIndex = -1
    guard index < elements.count else { return }
    elements[index] = last
    last.heapIndex = index
    siftDown(from: index)
    siftUp(from: last.heapIndex)
  }

  /// Removes and returns the element due first, if it is due at `now`.
  mutating func popDue(at now: Int64) -> Element? {
    guard let first = elements.first, first.heapDeadline <= now else { return nil }
    remove(first)
    return first
  }

  mutating func removeAll() {
    for element in elements { element.heapIndex = -1 }
    elements.removeAll()
  }

  private mutating func siftUp(from start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      guard elements[child].heapDeadline < elements[parent].heapDeadline else { return }
      swapAt(child, parent)
      child = parent
    }
  }

  private mutating func siftDown(from start: Int) {
    var parent = start
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < elements.count && elements[left].heapDeadline < elements[smallest].heapDeadline {
        smallest = left
      }
      if right < elements.count && elements[right].heapDeadline < elements[smallest].heapDeadline {
        smallest = right
      }
      if smallest == parent { return }
      swapAt(parent, smallest)
      parent = smallest
    }
  }

  private mutating func swapAt(_ a: Int, _ b: Int) {
    elements.swapAt(a, b)
    elements[a].heapIndex = a
    elements[b].heapIndex = b
  }
}
