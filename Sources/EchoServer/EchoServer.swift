import CLinux
import Faults
import Logging
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// What the server is told to do: where to listen, in which mode, on how many threads, within
/// which limits.
public struct ServerConfiguration: Sendable {
  public enum Mode: Sendable {
    case plaintext
    case tls(TLSContext)
  }

  /// Bounds on what clients may cost. Durations in milliseconds.
  public struct Limits: Sendable {
    /// Connections open at once, over all loops; more are accepted and closed at once.
    public var maxConnections: Int
    /// How long a client has to finish the TLS handshake (plaintext: to send its first byte).
    public var handshakeTimeout: Int64 = 10_000
    /// How long a connection may go without traffic; 0 turns the check off.
    public var idleTimeout: Int64 = 300_000
    /// How long open connections may go on after SIGINT/SIGTERM.
    public var drainTimeout: Int64 = 10_000
    /// How long a closing connection may go without traffic (flushing its last bytes, or
    /// waiting for the peer's end after ours) before it is closed anyway.
    public var closeLinger: Int64 = 10_000
    /// How long a TLS connection may go without traffic before it gives its record buffers
    /// back (a busy one keeps them, an idle one costs what OpenSSL's idle `SSL` costs).
    public var bufferRelease: Int64 = 200

    public init(maxConnections: Int) { self.maxConnections = maxConnections }
  }

  /// Where to listen: each entry a name (every address it has gets a listener), a numeric
  /// IPv4/IPv6 address or `*`, with its port (0: the kernel picks one).
  public var listen: [ListenAddress]
  public var mode: Mode
  /// What the server does with each connection's data.
  public var service = ServiceConfiguration()
  /// Event loops, each a thread. The number of threads stays this whatever the number of clients.
  public var threads: Int
  public var limits: Limits
  public var backlog: Int32 = 1024
  /// `--report`: the handshake report before every TLS connection's service; nil: only for a
  /// client asking for a `report.` server name.
  public var report: ReportFormat?
  /// `--instance`: names this server in reports.
  public var instance = ""
  /// `--proxy-protocol`: connections from balancers start with a PROXY header; nil: none do.
  public var proxy: ProxySettings?
  /// `--reuse-port`: listen with SO_REUSEPORT, so that other processes may share the port.
  public var reusePort = false
  /// `--metrics`: where to answer Prometheus scrapes (the first address of the name), and what
  /// they show; nil: no metrics listener.
  public var metrics: (address: ListenAddress, metrics: ServerMetrics)?
  /// `--fault`: the faults of every connection to the `listen` listeners (a TLS client's
  /// server name may ask for others).
  public var faults = FaultPlan.none
  /// `--fault-port`: more listeners, each giving its connections faults of its own.
  public var faultListeners: [(address: ListenAddress, faults: FaultPlan)] = []
  /// `--udp` (plaintext) or `--dtls` (TLS): datagram sockets on the listen addresses instead
  /// of TCP listeners.
  public var datagram = false
  /// `--udp`: the reflection guard's rates.
  public var udpLimits = UDPLimits()

  public init(listen: [ListenAddress], mode: Mode, threads: Int, limits: Limits) {
    self.listen = listen
    self.mode = mode
    self.threads = threads
    self.limits = limits
  }
}

/// The echo service: listeners shared by a fixed set of event loops.
///
/// Lifecycle: `start()` binds and starts the loops; `drain()` stops accepting and lets open
/// connections finish within the drain timeout; `stop()` closes everything now; `wait()` joins
/// the loops. Any thread may call `drain`, `stop`, `replaceTLS` and `statistics`. The server owns
/// the listening sockets and keeps them open until every loop has been joined, because the
/// loops borrow their descriptors.
public final class EchoServer: Sendable {
  public let configuration: ServerConfiguration
  private let logger: Logger
  private let control: ServerControl
  private let state = ServerState()

  public init(configuration: ServerConfiguration, logger: Logger) throws(ServerError) {
    self.configuration = configuration
    self.logger = logger
    let tls: TLSContext? =
      switch configuration.mode {
      case .plaintext: nil
      case .tls(let context): context
      }
    do {
      self.control = try ServerControl(
        maxConnections: configuration.limits.maxConnections, tls: tls)
    } catch {
      throw ServerError.resources(error.operation, error.reason)
    }
  }

  /// Binds every address, starts the loops, and returns the addresses really listened on
  /// (with the kernel's port when the configuration asked for port 0), each with the faults
  /// of its connections.
  public func start() throws(ServerError) -> [BoundListener] {
    let bound = try bind()
    let loopCount = max(1, configuration.threads)
    var listeners = bound.map(\.socket)
    // Datagram sockets are not listeners: each loop reads them itself (`UDPEcho`).
    let descriptors = configuration.datagram ? [] : listeners.map(\.descriptor)
    // Datagrams: a socket per address for each loop, sharing the port (SO_REUSEPORT), so that
    // the kernel keeps each client (its address and port) on one loop and in order.
    var datagramSockets = Array(repeating: [Int32: SocketAddress](), count: loopCount)
    var listenerFaults: [Int32: FaultPlan] = [:]
    for (socket, faults, _) in bound where !faults.isEmpty {
      listenerFaults[socket.descriptor] = faults
    }
    var addresses: [BoundListener] = []
    for (listener, faults, faultPort) in bound {
      do {
        let address = try listener.localAddress()
        addresses.append(BoundListener(address: address, faults: faults, isFaultPort: faultPort))
        if configuration.datagram {
          datagramSockets[0][listener.descriptor] = address
          for index in 1..<loopCount {
            let sibling = try Socket.datagramListening(on: address, packetInfo: true)
            datagramSockets[index][sibling.descriptor] = address
            listeners.append(sibling)
          }
        }
      } catch {
        throw .listen(error)
      }
    }
    // UDP's guard is shared by the loops; DTLS needs none (its cookie exchange comes first,
    // and a peer's replies never exceed what it sent encrypted).
    let guardian =
      configuration.datagram && control.currentTLS == nil
      ? SharedReflectionGuard(configuration.udpLimits) : nil
    let datagramPeers =
      configuration.datagram && control.currentTLS != nil ? SharedDatagramPeers() : nil
    var endpoint: MetricsEndpoint?
    var metricsAddress: SocketAddress?
    if let (address, metrics) = configuration.metrics {
      let listener = try bindMetrics(address)
      do { metricsAddress = try listener.localAddress() } catch { throw .listen(error) }
      // Closed with the others, after the loops; not shut down by a drain, so that the
      // counters can be read while connections finish.
      listeners.append(listener)
      let state = self.state
      endpoint = MetricsEndpoint(
        listener: listener.descriptor, metrics: metrics,
        statistics: { state.statistics.reduce(ServerStatistics()) { $0 + $1.snapshot() } })
    }
    var loops: [RunningLoop] = []
    control.expectLoops(loopCount)
    for index in 0..<loopCount {
      let wakeup: EventFD
      let loop: ServerLoop
      do {
        wakeup = try EventFD()
        let udp = guardian.map { UDPEcho(sockets: datagramSockets[index], guardian: $0) }
        let dtls =
          configuration.datagram && control.currentTLS != nil
          ? datagramSockets[index].map { DTLSListener(descriptor: $0, local: $1) } : []
        loop = try ServerLoop(
          index: index, listeners: descriptors, listenerFaults: listenerFaults, wakeup: wakeup,
          control: control, configuration: configuration, metrics: endpoint, udp: udp,
          dtls: dtls, datagramPeers: datagramPeers, logger: logger)
      } catch {
        abandon(loops)
        throw ServerError.resources("set up event loop", "\(error)")
      }
      let statistics = loop.statistics
      let handover = Handover(value: loop)
      do {
        let control = self.control
        let thread = try LoopThread.spawn(name: "echo-loop-\(index)") {
          handover.value.run()
          control.loopReturned()
        }
        loops.append(RunningLoop(wakeup: wakeup, thread: thread, statistics: statistics))
      } catch {
        abandon(loops)
        throw ServerError.resources(error.operation, error.reason)
      }
    }
    state.started(
      listeners: Handover(value: listeners), echoListeners: descriptors.count, loops: loops,
      metricsAddress: metricsAddress)
    return addresses
  }

  /// Where scrapes are answered, once started with `--metrics`.
  public var metricsAddress: SocketAddress? { state.metricsAddress }

  private func bindMetrics(_ entry: ListenAddress) throws(ServerError) -> Socket {
    do throws(SocketError) {
      guard let address = try entry.resolve().first else {
        throw SocketError("listen on \(entry)", reason: "no address", errno: EADDRNOTAVAIL)
      }
      return try Socket.listening(on: address, backlog: 64)
    } catch {
      var named = error
      named.operation = "listen for metrics on \(entry): \(error.operation)"
      throw .listen(named)
    }
  }

  /// Stops accepting at once (new connection attempts are refused by the kernel) and lets open
  /// connections finish; each loop closes what is left at the drain deadline and returns.
  public func drain() {
    control.advance(to: .draining)
    // shutdown(2) on a listener makes it stop listening right away, while its descriptor stays
    // valid for the loops that still have it registered; they drop it on their next wake-up.
    for listener in state.listenerDescriptors { _ = Glibc.shutdown(listener, Int32(SHUT_RD)) }
    wakeLoops()
  }

  /// Closes every connection now and makes the loops return.
  public func stop() {
    control.advance(to: .stopping)
    for listener in state.listenerDescriptors { _ = Glibc.shutdown(listener, Int32(SHUT_RD)) }
    wakeLoops()
  }

  /// New handshakes use `context` from now on; connections already open keep theirs.
  public func replaceTLS(_ context: TLSContext) {
    control.replaceTLS(context)
  }

  /// The counters of every loop, summed now.
  public func statistics() -> ServerStatistics {
    state.statistics.reduce(ServerStatistics()) { $0 + $1.snapshot() }
  }

  /// Becomes readable once every loop has returned (after a drain or a stop), so that a caller
  /// can wait for it together with other events (signals) in one `poll`.
  public var finishedDescriptor: Int32 { control.finished.descriptor }

  /// Blocks until every loop has returned, then closes the listeners.
  public func wait() {
    for thread in state.threads { LoopThread.join(thread) }
    state.finished()
  }

  private func wakeLoops() {
    for wakeup in state.wakeups { wakeup.signal() }
  }

  private func abandon(_ loops: [RunningLoop]) {
    control.advance(to: .stopping)
    for loop in loops {
      loop.wakeup.signal()
      LoopThread.join(loop.thread)
    }
  }

  /// Every listener, with the faults of its connections and whether it is a `--fault-port`.
  private func bind() throws(ServerError) -> [(socket: Socket, faults: FaultPlan, faultPort: Bool)]
  {
    var listeners: [(socket: Socket, faults: FaultPlan, faultPort: Bool)] = []
    var bound: [SocketAddress: ListenAddress] = [:]
    let entries =
      configuration.listen.map { ($0, configuration.faults, false) }
      + configuration.faultListeners.map { ($0.address, $0.faults, true) }
    for (entry, faults, faultPort) in entries {
      let resolved: [SocketAddress]
      do { resolved = try entry.resolve() } catch {
        var named = error
        named.operation = "listen on \(entry)"
        throw .listen(named)
      }
      var port = entry.port
      var served = 0
      for address in resolved {
        // With port 0, every address of a name gets the port the kernel gave the first one.
        let target = SocketAddress(numericHost: address.host, port: port) ?? address
        if target.port != 0, let (other, earlier) = bound.first(where: { $0.key.overlaps(target) })
        {
          // Said here rather than as the kernel's "Address already in use", which reads as if
          // another process had the port.
          throw .listen(
            SocketError(
              "listen on \(entry)",
              reason: other == target
                ? "\(target) is already a listener (from \(earlier)); name each address once"
                : "\(target) overlaps \(other) (from \(earlier)), which already listens on it",
              errno: EADDRINUSE))
        }
        do {
          let listener =
            configuration.datagram
            ? try Socket.datagramListening(
              on: target, packetInfo: true, exclusive: !configuration.reusePort)
            : try Socket.listening(
              on: target, backlog: configuration.backlog, reusePort: configuration.reusePort)
          if port == 0 { port = try listener.localAddress().port }
          bound[SocketAddress(numericHost: address.host, port: port) ?? target] = entry
          listeners.append((listener, faults, faultPort))
          served += 1
        } catch
          where resolved.count > 1 && (error.code == EADDRNOTAVAIL || error.code == EAFNOSUPPORT)
        {
          // A name may resolve to a family this machine cannot serve (::1 without IPv6); the
          // other addresses are enough.
          logger.notice("not listening on \(target): \(error.reason)")
        } catch {
          throw .listen(error)
        }
      }
      if served == 0 {
        throw .listen(
          SocketError("listen on \(entry)", reason: "no address to listen on", errno: EADDRNOTAVAIL)
        )
      }
    }
    return listeners
  }
}

/// One address the server listens on, and what its connections get.
public struct BoundListener: Sendable {
  public let address: SocketAddress
  public let faults: FaultPlan
  /// A `--fault-port` listener, not one of `listen`'s.
  public let isFaultPort: Bool
}

/// A started loop as the server sees it from outside.
private struct RunningLoop: Sendable {
  var wakeup: EventFD
  var thread: pthread_t
  var statistics: LoopStatistics
}

/// What `start` creates and the other calls use, behind a lock because they may run on
/// different threads.
private final class ServerState: Sendable {
  private struct Running {
    var listeners: Handover<[Socket]>?
    var listenerDescriptors: [Int32] = []
    var loops: [RunningLoop] = []
    var metricsAddress: SocketAddress?
    var joined = false
  }

  private let running = ThreadLock(Running())

  /// `listeners`: the first `echoListeners` are the echo service's, then the metrics one.
  func started(
    listeners: Handover<[Socket]>, echoListeners: Int, loops: [RunningLoop],
    metricsAddress: SocketAddress?
  ) {
    running.withLock {
      $0.listeners = listeners
      $0.listenerDescriptors = listeners.value.prefix(echoListeners).map(\.descriptor)
      $0.loops = loops
      $0.metricsAddress = metricsAddress
    }
  }

  var metricsAddress: SocketAddress? { running.withLock { $0.metricsAddress } }

  var listenerDescriptors: [Int32] { running.withLock { $0.joined ? [] : $0.listenerDescriptors } }
  var wakeups: [EventFD] { running.withLock { $0.loops.map(\.wakeup) } }
  var threads: [pthread_t] { running.withLock { $0.loops.map(\.thread) } }
  var statistics: [LoopStatistics] { running.withLock { $0.loops.map(\.statistics) } }

  func finished() {
    running.withLock {
      for listener in $0.listeners?.value ?? [] { listener.close() }
      $0.listeners = nil
      $0.joined = true
    }
  }
}
