import Logging
import Sockets

/// Log lines for refused connections, at most one a second per reason: a client hammering a
/// full server must not turn into a line per attempt. Each line says how many refusals it
/// stands for (`refused`, this one and those not logged since the last line); refusals left
/// over when a second ends are logged then, so the sum of `refused` is every refusal.
struct RefusalLog {
  private struct Pending {
    var count = 0
    var lastPeer = ""
    var lastLine = Int64.min / 2
  }

  private var pending: [CloseReason: Pending] = [:]
  /// `--max-connections`, for the lines of refusals at the limit.
  private let limit: Int

  /// When the next summary line may be due.
  private(set) var nextFlush: Int64?

  init(limit: Int) { self.limit = limit }

  mutating func note(_ reason: CloseReason, peer: SocketAddress, now: Int64, logger: Logger) {
    var entry = pending[reason] ?? Pending()
    entry.count += 1
    entry.lastPeer = peer.description
    if now - entry.lastLine >= 1000 {
      Self.log(reason, entry, limit: limit, logger: logger)
      entry.count = 0
      entry.lastLine = now
    } else {
      nextFlush = min(nextFlush ?? .max, entry.lastLine + 1000)
    }
    pending[reason] = entry
  }

  /// Logs what a second that has ended left unlogged.
  mutating func flush(now: Int64, logger: Logger) {
    guard let due = nextFlush, now >= due else { return }
    nextFlush = nil
    for (reason, var entry) in pending where entry.count > 0 {
      if now - entry.lastLine >= 1000 {
        Self.log(reason, entry, limit: limit, logger: logger)
        entry.count = 0
        entry.lastLine = now
        pending[reason] = entry
      } else {
        nextFlush = min(nextFlush ?? .max, entry.lastLine + 1000)
      }
    }
  }

  private static func log(_ reason: CloseReason, _ entry: Pending, limit: Int, logger: Logger) {
    var metadata: Logger.Metadata = [
      "peer": "\(entry.lastPeer)", "reason": "\(reason.name)",
      "refused": .stringConvertible(entry.count),
    ]
    if reason == .refusedAtLimit { metadata["limit"] = .stringConvertible(limit) }
    logger.info("connection refused", metadata: metadata)
  }
}
