/// What a connection's stream faults do to its bytes once the handshake is over, as a
/// schedule: how much of what the service handed over may be written now, how much may be
/// read, when that changes by itself, and when the connection is to end. Pure: the caller
/// passes the clock (milliseconds), draws the jitter and moves the bytes, so it is tested
/// without sockets.
///
/// It holds counts, never bytes: the connection keeps those, at most `hasRoom`'s bound.
public struct FaultShaper: Sendable {
  /// How the faults end a connection.
  public enum Ending: Sendable, Equatable {
    /// `limit-N`: N bytes written; end as it says (close_notify or FIN, a bare FIN, RST).
    case limit(Fault.LimitClose)
    /// `reset-N`, `reset-MSms`: RST, now.
    case reset
    /// `truncate`: cut the next record in the middle (or the close_notify, if nothing is
    /// left to write), then FIN.
    case truncate
  }

  /// The kinds that act on the stream after the handshake (the others act in the handshake,
  /// in the choice of service, or in how the connection closes).
  public static let kinds: Set<Fault.Kind> = [
    .delay, .jitter, .bandwidth, .slice, .limit, .reset, .stall, .truncate, .keyUpdate,
  ]

  /// At most this many separately timed parts held at once: a client sending a byte at a
  /// time must not make the schedule grow with its bytes.
  public static let maximumSegments = 1024

  private var delay = 0
  /// `jitter`: each write's delay varies by up to this much either way.
  public private(set) var jitter = 0
  private var slice: (bytes: Int, gap: Int)?
  private var sliceLeft = 0
  private var sliceReadyAt: Int64 = 0
  private var output: TokenBucket?
  private var input: TokenBucket?
  private var limit: (bytes: Int, close: Fault.LimitClose)?
  private var resetAfterBytes: Int?
  private var resetAt: Int64?
  private var stallAfter: Int?
  private var truncate = false
  private var keyUpdate: (every: Int, requested: Bool)?
  private var keyUpdateLeft = 0
  private var keyUpdateDue = false

  /// Handed over and not written yet, in order, each part with the time it may go.
  private var segments: [(due: Int64, count: Int)] = []
  private var head = 0
  private var lastDue = Int64.min
  public private(set) var queuedBytes = 0
  /// Written since the service started.
  public private(set) var written = 0
  /// The last write found the socket full: the caller waits for it, not for time.
  public var socketFull = false
  /// The connection's ending was taken (`markEnded`): nothing more ends it or wakes it.
  public private(set) var hasEnded = false

  /// nil when none of `faults` acts on the stream.
  public init?(_ faults: [Fault], now: Int64) {
    guard faults.contains(where: { Self.kinds.contains($0.kind) }) else { return nil }
    for fault in faults {
      switch fault {
      case .delay(let milliseconds): delay = milliseconds
      case .jitter(let milliseconds): jitter = milliseconds
      case .slice(let bytes, let gap):
        slice = (bytes, gap)
        sliceLeft = bytes
      case .bandwidth(let rate):
        output = TokenBucket(rate: rate, now: now)
        input = TokenBucket(rate: rate, now: now)
      case .limit(let bytes, let close): limit = (bytes, close)
      case .reset(.afterBytes(let bytes)): resetAfterBytes = bytes
      case .reset(.afterMilliseconds(let milliseconds)): resetAt = now + Int64(milliseconds)
      case .stall(let bytes): stallAfter = bytes
      case .truncate: truncate = true
      case .keyUpdate(let every, let requested):
        keyUpdate = (every, requested)
        keyUpdateLeft = every
      default: break
      }
    }
  }

  // MARK: Output

  /// The service handed over `count` bytes at `now`; `jitter` (within ±`self.jitter`) is the
  /// caller's draw. A part never goes before one handed over earlier: bytes keep their order.
  public mutating func queued(_ count: Int, now: Int64, jitter: Int = 0) {
    guard count > 0 else { return }
    let due = max(now + Int64(delay + jitter), lastDue)
    lastDue = due
    queuedBytes += count
    if head < segments.count, segments[segments.count - 1].due == due {
      segments[segments.count - 1].count += count
    } else {
      segments.append((due, count))
    }
  }

  /// Whether the service may hand over more: fewer than `bound` bytes held, and room in the
  /// schedule.
  public func hasRoom(bound: Int) -> Bool {
    queuedBytes < bound && segments.count - head < Self.maximumSegments
  }

  /// How many of the held bytes may be written now (0: none until `nextWake`, or ever).
  public mutating func allowance(now: Int64) -> Int {
    guard !isStalled else { return 0 }
    var count = 0
    var index = head
    // Parts are in order of time: the due ones come first.
    while index < segments.count && segments[index].due <= now {
      count += segments[index].count
      index += 1
    }
    if let cutoff { count = min(count, max(0, cutoff - written)) }
    if let slice {
      if sliceLeft == 0 {
        guard now >= sliceReadyAt else { return 0 }
        sliceLeft = slice.bytes
      }
      count = min(count, sliceLeft)
    }
    if output != nil { count = min(count, output!.available(now)) }
    if keyUpdate != nil { count = min(count, keyUpdateLeft) }
    return count
  }

  /// `count` of the held bytes were written at `now`.
  public mutating func wrote(_ count: Int, now: Int64) {
    written += count
    queuedBytes -= count
    var left = count
    while left > 0 && head < segments.count {
      let taken = min(left, segments[head].count)
      segments[head].count -= taken
      left -= taken
      if segments[head].count == 0 { head += 1 }
    }
    if head == segments.count {
      segments.removeAll(keepingCapacity: segments.count <= 64)
      head = 0
    } else if head > 256 && head * 2 > segments.count {
      segments.removeFirst(head)
      head = 0
    }
    if let slice {
      sliceLeft -= count
      if sliceLeft <= 0 {
        sliceLeft = 0
        sliceReadyAt = now + Int64(slice.gap)
      }
    }
    output?.take(count, now)
    if let keyUpdate {
      keyUpdateLeft -= count
      if keyUpdateLeft <= 0 {
        keyUpdateLeft = keyUpdate.every
        keyUpdateDue = true
      }
    }
  }

  /// The bytes held will never be written (the connection ends).
  public mutating func discardQueued() {
    segments.removeAll()
    head = 0
    queuedBytes = 0
  }

  /// `keyupdate`: a KeyUpdate is owed before the next write; the value says whether the peer
  /// is asked to update its keys too. Taken once.
  public mutating func takeKeyUpdate() -> Bool? {
    guard keyUpdateDue, let keyUpdate else { return nil }
    keyUpdateDue = false
    return keyUpdate.requested
  }

  // MARK: Input

  /// How many bytes may be read now; nil: any number.
  public mutating func readAllowance(now: Int64) -> Int? {
    if isStalled { return 0 }
    return input == nil ? nil : input!.available(now)
  }

  public mutating func didRead(_ count: Int, now: Int64) { input?.take(count, now) }

  // MARK: Time and the end

  /// `stall`: its bytes were written; nothing more is read or written.
  public var isStalled: Bool { stallAfter.map { written >= $0 } ?? false }

  /// The connection is to end now, and how.
  public func ending(now: Int64) -> Ending? {
    if hasEnded { return nil }
    if let resetAt, now >= resetAt { return .reset }
    if let resetAfterBytes, written >= resetAfterBytes { return .reset }
    if let limit, written >= limit.bytes { return truncate ? .truncate : .limit(limit.close) }
    // `truncate` alone cuts the first record the service writes.
    if truncate && limit == nil && queuedBytes > 0 { return .truncate }
    return nil
  }

  /// The connection's ending (or its closing) has begun: from now on nothing here ends it,
  /// and nothing wakes it.
  public mutating func markEnded() { hasEnded = true }

  /// When something held back becomes possible by itself (a delayed part comes due, a slice's
  /// gap ends, a bucket refills, the reset time comes): `now` when it already has, nil when
  /// nothing waits on time. Output held only by a full socket waits for the socket instead,
  /// and input counts only when a read is waiting for the bucket (`readWanted`): a connection
  /// that does not want to read has nothing to wake for when it refills.
  public mutating func nextWake(now: Int64, readWanted: Bool) -> Int64? {
    guard !hasEnded else { return nil }
    var earliest: Int64?
    func consider(_ time: Int64) { earliest = min(earliest ?? time, time) }
    if let resetAt { consider(max(now, resetAt)) }
    if queuedBytes > 0 && !socketFull && !isStalled && (cutoff.map { written < $0 } ?? true) {
      var ready = segments[head].due
      if slice != nil && sliceLeft == 0 { ready = max(ready, sliceReadyAt) }
      if output != nil {
        _ = output!.available(now)
        ready = max(ready, output!.refilled(at: now))
      }
      consider(max(now, ready))
    }
    if readWanted && !isStalled && input != nil {
      _ = input!.available(now)
      consider(input!.refilled(at: now))
    }
    return earliest
  }

  /// The byte count after which nothing more is written: the limit, the reset, the stall,
  /// and `truncate`'s cut (after the limit, or at once).
  private var cutoff: Int? {
    let cuts = [limit?.bytes, resetAfterBytes, stallAfter, truncate ? (limit?.bytes ?? 0) : nil]
    return cuts.compactMap { $0 }.min()
  }
}
