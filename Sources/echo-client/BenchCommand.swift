import ArgumentParser
import CommandLineSupport
import LoadGenerator
import Sockets
import StreamServices
import TLS

#if canImport(Glibc)
  import Glibc
#endif

extension BenchPlan.Mode: ExpressibleByArgument {}

/// `echo-client bench MODE`: many connections on a few event-loop threads, every echoed byte
/// verified.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Load an echo server and measure it; every echoed byte is verified.",
    discussion: """
      Modes: throughput (each connection streams --size chunks: MB/s of echoed payload), \
      latency (each connection sends a --size message and waits for its echo: round trips per \
      second and latency percentiles), handshakes (a new connection per iteration, full \
      handshake or --resume, one byte echoed: handshakes per second and handshake latency), \
      hold (open --connections, verify one echo on each, hold them for --duration).

      A wrong byte in any echo is an error. A run with any error, or in which nothing succeeded \
      (a server that accepts and never answers), ends with one line on stderr, the first error \
      and how many more there were, and a non-zero exit status. Connections that are not \
      accepted within --connect-timeout, or do not finish their handshake within \
      --handshake-timeout, are errors; a refused connection ends the run at once.

      throughput --mode source|sink measures one way: the server sends (--mode source) or \
      receives (--mode sink) and the client only reads or only writes (--size does not apply). \
      At the end of a sink run, each connection waits up to --handshake-timeout for the \
      server's report.
      """)

  @Argument(help: "throughput, latency, handshakes or hold.")
  var mode: BenchPlan.Mode

  @OptionGroup
  var server: ServerOptions

  @Option(help: "Connections at once (handshakes: connection slots).")
  var connections = 50

  @Option(help: "Seconds to measure, after the connections are set up.")
  var duration: Double = 5

  @Option(help: "Bytes per chunk (throughput) or message (latency, hold; default 16384, 64, 1).")
  var size: Int?

  @Option(help: "Load threads, each an event loop.")
  var threads = 1

  @Flag(help: "Handshakes mode: resume each slot's previous session with its ticket.")
  var resume = false

  @Flag(help: "Print one JSON object instead of the table.")
  var json = false

  @OptionGroup
  var serviceOption: ServiceModeOption

  private var service: ServiceMode { serviceOption.mode }

  /// Its options before `bench` are parsed too; those of a single session must not be
  /// silently ignored.
  @ParentCommand
  var session: EchoClientCommand

  func validate() throws {
    let sessionOnly = [
      ("--interactive", session.interactive), ("--sess-in", session.sessIn != nil),
      ("--sess-out", session.sessOut != nil),
    ].filter(\.1).map(\.0)
    if !sessionOnly.isEmpty {
      throw ValidationError(
        "\(sessionOnly.joined(separator: ", ")) "
          + (sessionOnly.count == 1 ? "is" : "are")
          + " for a single session; bench does not take "
          + (sessionOnly.count == 1 ? "it" : "them") + " (--resume reuses tickets)")
    }
    try RangeCheck.require("--connections", connections, in: 1...1_000_000)
    try RangeCheck.requirePositive("--duration", duration, atMost: 3600, unit: " seconds")
    if let size { try RangeCheck.require("--size", size, in: 1...BenchPlanLimits.maximumSize) }
    try RangeCheck.require("--threads", threads, in: 1...256)
    if server.isDatagram {
      guard [.latency, .throughput].contains(mode) else {
        throw ValidationError(
          "bench \(mode.rawValue) measures streams; --udp and --dtls take latency or throughput")
      }
      if let size {
        try RangeCheck.require(
          "--size", size,
          in: DatagramBench.minimumSize...(server.dtls ? 16_384 : Socket.maximumDatagram))
      }
    }
    if resume && (mode != .handshakes || server.plaintext) {
      throw ValidationError("--resume applies to TLS handshakes mode only")
    }
    if service != .echo && (mode != .throughput || ![.source, .sink].contains(service)) {
      throw ValidationError(
        "--mode \(service.rawValue) is not measured; bench throughput takes --mode echo, source "
          + "or sink, and the other bench modes need an echo server")
    }
  }

  func run() throws {
    ProcessSignals.prepare()
    // Every connection is a descriptor; the default soft limit (1,024) is far below what a
    // hold run needs, and raising it to the hard limit needs no privilege.
    var limit = rlimit()
    if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < limit.rlim_max {
      limit.rlim_cur = limit.rlim_max
      _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    var plan: BenchPlan
    do throws(ClientFailure) {
      plan = BenchPlan(
        mode: mode, service: service, addresses: try server.addresses(),
        tls: try server.tlsContext(), serverName: server.serverName, connections: connections,
        threads: threads, duration: duration, size: size ?? defaultSize, resume: resume)
    } catch {
      throw error.report()
    }
    plan.connectTimeout = Int64(server.connectTimeoutMilliseconds)
    plan.handshakeTimeout = Int64(server.handshakeTimeoutMilliseconds)
    plan.proxyHeader = server.proxyHeader?.version
    plan.datagram = server.isDatagram
    plan.datagramTimeout = Int64((session.datagramTimeout * 1000).rounded())
    let showProgress = !json && StandardIO.isTerminal(StandardIO.error) && duration >= 3
    let total = Int(plan.duration)
    let progress: (@Sendable (Double) -> Void)? =
      showProgress
      ? { @Sendable (elapsed: Double) in
        StandardIO.writeProgress("bench: \(Int(elapsed)) of \(total) s")
      }
      : nil
    let result: BenchResult
    do throws(SocketError) {
      result = try LoadGenerator.run(plan, progress: progress)
    } catch {
      throw ClientFailure(error.description, status: .osError).report()
    }
    if showProgress { StandardIO.writeProgress("") }
    if json || result.operations > 0 {
      let report =
        json
        ? BenchReport.json(result, plan: plan, target: server.target)
        : BenchReport.table(result, plan: plan, target: server.target)
      try? StandardIO.write(report, to: StandardIO.output)
    }
    if let failure = BenchReport.failure(result, plan: plan) { throw failure.report() }
  }

  private var defaultSize: Int {
    switch mode {
    // An Ethernet frame's worth of UDP payload: what a path test would send.
    case .throughput where server.isDatagram: 1472
    case .throughput: 16384
    case .latency: 64
    case .handshakes, .hold: 1
    }
  }
}

enum BenchPlanLimits {
  static let maximumSize = 64 * 1024
}

extension StandardIO {
  /// Rewrites the current line of stderr (a terminal): progress that leaves no trail.
  static func writeProgress(_ text: String) {
    try? write("\r\u{1B}[K" + text, to: error)
  }
}
