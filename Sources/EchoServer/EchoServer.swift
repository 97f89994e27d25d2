import CLinux
import Logging
import Sockets
import Synchronization
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// What the server is told to do: where to listen, in which mode, on how many threads.
public struct ServerConfiguration: Sendable {
  public enum Mode: Sendable {
    case plaintext
    case tls(TLSContext)
  }

  /// A name (resolved; every address it has gets a listener) or a numeric IPv4/IPv6 address.
  public var host: String
  /// 0: the kernel picks a free port (the same one for every address of `host`).
  public var port: UInt16
  public var mode: Mode
  /// Event loops, each a thread. The number of threads stays this whatever the number of clients.
  public var threads: Int
  public var backlog: Int32 = 1024

  public init(host: String, port: UInt16, mode: Mode, threads: Int) {
    self.host = host
    self.port = port
    self.mode = mode
    self.threads = threads
  }
}

/// The echo service: listeners shared by a fixed set of event loops.
///
/// Lifecycle: `start()` binds and starts the loops; `stop()` (from any thread) asks them to
/// finish; `wait()` joins them. The server owns the listening sockets and keeps them open until
/// every loop has been joined, because the loops borrow their descriptors.
public final class EchoServer: Sendable {
  public let configuration: ServerConfiguration
  private let logger: Logger
  private let control = ServerControl()
  private let state = ServerState()

  public init(configuration: ServerConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
  }

  /// Binds every address, starts the loops, and returns the addresses really listened on
  /// (with the kernel's port when the configuration asked for port 0).
  public func start() throws(ServerError) -> [SocketAddress] {
    let listeners = try bind()
    let descriptors = listeners.map(\.descriptor)
    var addresses: [SocketAddress] = []
    for listener in listeners {
      do { addresses.append(try listener.localAddress()) } catch {
        throw ServerError.startup(error.operation, error.reason)
      }
    }
    let tls: TLSContext? =
      switch configuration.mode {
      case .plaintext: nil
      case .tls(let context): context
      }
    var loops: [(EventFD, pthread_t)] = []
    for index in 0..<max(1, configuration.threads) {
      let wakeup: EventFD
      let loop: ServerLoop
      do {
        wakeup = try EventFD()
        loop = try ServerLoop(
          index: index, listeners: descriptors, wakeup: wakeup, control: control, tls: tls,
          logger: logger)
      } catch {
        stopLoops(loops)
        throw ServerError.startup("set up event loop", "\(error)")
      }
      let handover = Handover(value: loop)
      do {
        let thread = try LoopThread.spawn(name: "echo-loop-\(index)") { handover.value.run() }
        loops.append((wakeup, thread))
      } catch {
        stopLoops(loops)
        throw error
      }
    }
    state.started(listeners: Handover(value: listeners), loops: loops)
    return addresses
  }

  /// Asks every loop to stop; they close their connections and return. Safe from any thread.
  public func stop() {
    control.requestStop()
    for wakeup in state.wakeups { wakeup.signal() }
  }

  /// Blocks until every loop has stopped, then closes the listeners.
  public func wait() {
    for thread in state.threads { LoopThread.join(thread) }
    state.finished()
  }

  private func stopLoops(_ loops: [(EventFD, pthread_t)]) {
    control.requestStop()
    for (wakeup, thread) in loops {
      wakeup.signal()
      LoopThread.join(thread)
    }
  }

  private func bind() throws(ServerError) -> [Socket] {
    let resolved: [SocketAddress]
    do {
      resolved = try SocketAddress.resolve(host: configuration.host, port: configuration.port)
    } catch {
      throw ServerError.startup("--host \(configuration.host)", error.reason)
    }
    var listeners: [Socket] = []
    var port = configuration.port
    for address in resolved {
      // With port 0, every address of the host gets the port the kernel gave the first one.
      let target = SocketAddress(numericHost: address.host, port: port) ?? address
      do {
        let listener = try Socket.listening(on: target, backlog: configuration.backlog)
        if port == 0 { port = try listener.localAddress().port }
        listeners.append(listener)
      } catch {
        throw ServerError.startup(error.operation, error.reason)
      }
    }
    return listeners
  }
}

/// What `start` creates and `stop`/`wait` use, behind a lock because they may run on
/// different threads.
private final class ServerState: Sendable {
  private struct Running {
    var listeners: Handover<[Socket]>?
    var loops: [(EventFD, pthread_t)] = []
  }

  private let running = Mutex(Running())

  func started(listeners: Handover<[Socket]>, loops: [(EventFD, pthread_t)]) {
    running.withLock {
      $0.listeners = listeners
      $0.loops = loops
    }
  }

  var wakeups: [EventFD] { running.withLock { $0.loops.map(\.0) } }
  var threads: [pthread_t] { running.withLock { $0.loops.map(\.1) } }

  func finished() {
    running.withLock {
      for listener in $0.listeners?.value ?? [] { listener.close() }
      $0.listeners = nil
      $0.loops = []
    }
  }
}
