/// Objects keyed by their file descriptor. Descriptors are small, dense integers, so an array
/// indexed by descriptor is the fastest map an event loop can have for "which connection is
/// this event for".
public struct DescriptorTable<Element: AnyObject> {
  private var slots: [Element?] = []
  /// How many objects are in the table.
  public private(set) var count = 0

  public init() {}

  public subscript(descriptor: Int32) -> Element? {
    let index = Int(descriptor)
    return index >= 0 && index < slots.count ? slots[index] : nil
  }

  public mutating func insert(_ element: Element, at descriptor: Int32) {
    let index = Int(descriptor)
    if index >= slots.count {
      slots.append(contentsOf: repeatElement(nil, count: index + 1 - slots.count))
    }
    if slots[index] == nil { count += 1 }
    slots[index] = element
  }

  public mutating func remove(at descriptor: Int32) {
    let index = Int(descriptor)
    guard index >= 0 && index < slots.count, slots[index] != nil else { return }
    slots[index] = nil
    count -= 1
  }

  /// Every object in the table, in descriptor order.
  public var elements: [Element] { slots.compactMap { $0 } }
}
