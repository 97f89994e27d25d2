import Sockets
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The common start and deadline of every load thread: measurement starts once all of them have
/// set up their connections, so no thread measures while another is still handshaking. Any
/// thread may abort the run (a refused connection: there is no server).
final class BenchClock: Sendable {
  private let parties: Int
  private let arrived = Atomic<Int>(0)
  private let start = Atomic<UInt64>(0)
  private let aborted = Atomic<Bool>(false)
  private let durationNanoseconds: UInt64
  /// Setup that takes longer than this is abandoned (a server that handshakes but never echoes).
  private let setupDeadline: UInt64
  let setupSeconds: Int

  init(parties: Int, duration: Double, connections: Int, handshakeTimeout: Int64) {
    self.parties = parties
    self.durationNanoseconds = UInt64(duration * 1e9)
    self.setupSeconds = 30 + connections / 500 + Int(handshakeTimeout / 1000)
    self.setupDeadline = Self.now() + UInt64(setupSeconds) * 1_000_000_000
  }

  static func now() -> UInt64 { MonotonicClock.nanoseconds() }

  var setupExpired: Bool { Self.now() > setupDeadline }

  var isAborted: Bool { aborted.load(ordering: .acquiring) }

  func abort() { aborted.store(true, ordering: .releasing) }

  /// Blocks until every thread has arrived (or the run was aborted); the last one to arrive
  /// starts the clock. The wait is a short sleep loop: it happens once per run, before anything
  /// is measured.
  func arriveAndWaitForStart() {
    if arrived.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == parties {
      start.store(Self.now(), ordering: .releasing)
    }
    while start.load(ordering: .acquiring) == 0 && !isAborted { usleep(200) }
  }

  var deadline: UInt64 { start.load(ordering: .acquiring) + durationNanoseconds }
}

/// Runs a load plan on `plan.threads` event-loop threads and sums what they measured.
public enum LoadGenerator {
  public static func run(
    _ plan: BenchPlan, progress: (@Sendable (Double) -> Void)? = nil
  ) throws(SocketError) -> BenchResult {
    let threads = max(1, min(plan.threads, plan.connections))
    let clock = BenchClock(
      parties: threads, duration: plan.duration, connections: plan.connections,
      handshakeTimeout: plan.handshakeTimeout)
    let results = ThreadLock<[BenchResult]>([])
    var handles: [pthread_t] = []
    for index in 0..<threads {
      let slots =
        (plan.connections * index / threads)..<(plan.connections * (index + 1) / threads)
      do throws(SocketError) {
        let run: @Sendable () -> BenchResult
        if plan.datagram {
          let loop = Handover(
            value: try DatagramBenchLoop(plan: plan, slots: slots, clock: clock))
          run = { loop.value.run() }
        } else {
          let loop = Handover(value: try BenchLoop(plan: plan, slots: slots, clock: clock))
          run = { loop.value.run() }
        }
        handles.append(
          try LoopThread.spawn(name: "echo-bench-\(index)") {
            let result = run()
            results.withLock { $0.append(result) }
          })
      } catch {
        // The threads already started wait for all of them: let them go, then report.
        clock.abort()
        for handle in handles { LoopThread.join(handle) }
        throw error
      }
    }
    if let progress {
      while results.withLock({ $0.count }) < threads {
        usleep(250_000)
        let now = BenchClock.now()
        let deadline = clock.deadline
        let started = deadline > UInt64(plan.duration * 1e9)
        if started {
          progress(max(0, plan.duration - Double(deadline > now ? deadline - now : 0) / 1e9))
        }
      }
    }
    for handle in handles { LoopThread.join(handle) }
    var total = BenchResult(mode: plan.mode, connections: plan.connections, threads: threads)
    for result in results.withLock({ $0 }) { total.merge(result) }
    total.elapsed = plan.duration
    return total
  }
}
