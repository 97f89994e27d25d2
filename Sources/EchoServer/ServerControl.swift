import Synchronization

/// The one piece of state the server's threads share: whether to stop.
final class ServerControl: Sendable {
  private let stopping = Atomic<Bool>(false)

  var isStopping: Bool { stopping.load(ordering: .acquiring) }

  func requestStop() { stopping.store(true, ordering: .releasing) }
}
