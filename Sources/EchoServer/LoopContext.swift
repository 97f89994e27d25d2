import Logging
import ProxyProtocol
import Sockets
import StreamServices

/// What a loop lends the connections it steps: its scratch memory, its clock, its counters and
/// the limits and service they run under. One per loop; only its thread touches it.
final class LoopContext {
  /// One read's worth: larger than a TLS record (16 KiB), so that one TLS read drains a record,
  /// and what the coalescing echo gathers before writing.
  static let bufferSize = 64 * 1024
  /// How many reads one connection may do before the others get a turn.
  static let readBudget = 16

  /// Read scratch space shared by every connection: a read is written back at once, so only
  /// bytes the socket did not take are copied out (into the connection's pending output).
  let buffer: UnsafeMutableRawBufferPointer
  /// Scratch for services that transform what they read (reverse), reused by every connection.
  var output: [UInt8] = []
  /// Plaintext echo: the pipe for zero-copy echo (splice); nil to echo through `buffer`.
  let splicePipe: SplicePipe?
  let statistics: LoopStatistics
  let limits: ServerConfiguration.Limits
  let service: ServiceConfiguration
  /// `--report` for every TLS connection, or nil (then only `report.` server names get one).
  let report: ReportFormat?
  /// `--instance`: which server this is, in reports.
  let instance: String
  /// `--metrics`: where finished handshakes are timed; nil when off.
  let metrics: ServerMetrics?
  /// `--proxy-protocol`: who must send a header, and its parser; nil when off.
  let proxy: (settings: ProxySettings, parser: ProxyHeaderParser)?
  /// The loop's clock in milliseconds, read once per wake-up: timeouts need no finer grain.
  var now: Int64
  /// The loop's logger, and whether its level lets the per-connection lines below info
  /// through: checked as a stored flag, so that a server at info pays nothing per read.
  let logger: Logger
  let logsDebug: Bool
  let logsTrace: Bool
  /// Set when a connection freed much memory (a finished handshake, a close): the loop then
  /// hands free pages back to the system once it is quiet.
  var freedMemory = false

  /// The longest PROXY v2 header taken, its 16 fixed bytes included.
  static let maximumProxyHeader = 4096

  init(
    splicePipe: SplicePipe?, statistics: LoopStatistics, limits: ServerConfiguration.Limits,
    service: ServiceConfiguration, logger: Logger = Logger(label: "echo-server"),
    report: ReportFormat? = nil, instance: String = "", proxy: ProxySettings? = nil,
    metrics: ServerMetrics? = nil
  ) {
    self.metrics = metrics
    self.report = report
    self.instance = instance
    // Real headers take a few hundred bytes (HAProxy's with every TLV: under 1 KiB); the cap
    // bounds what a connection holds while its header comes in pieces.
    self.proxy = proxy.map {
      ($0, ProxyHeaderParser(accepting: $0.versions, maximumLength: Self.maximumProxyHeader))
    }
    self.logger = logger
    self.logsDebug = logger.logLevel <= .debug
    self.logsTrace = logger.logLevel <= .trace
    self.buffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
    self.splicePipe = splicePipe
    self.statistics = statistics
    self.limits = limits
    self.service = service
    self.now = MonotonicClock.milliseconds()
  }

  deinit { buffer.deallocate() }
}

/// What the service stage does for every connection: the mode, and its one parameter.
public struct ServiceConfiguration: Sendable {
  public var mode: ServiceMode
  /// `source`: bytes to send before closing; nil sends until the client closes.
  public var sourceBytes: Int?

  public init(mode: ServiceMode = .echo, sourceBytes: Int? = nil) {
    self.mode = mode
    self.sourceBytes = sourceBytes
  }
}
