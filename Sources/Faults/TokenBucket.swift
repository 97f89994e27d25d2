/// `bandwidth`: bytes a second, with bursts of at most `capacity`. Full at the start, so that
/// in any span of T milliseconds at most `rate × T / 1000 + capacity` bytes pass.
public struct TokenBucket: Sendable, Equatable {
  public let rate: Int
  public let capacity: Int
  private var tokens: Int
  /// Refill below one byte, in byte-milliseconds (rate × elapsed ms, not yet 1000 of them).
  private var fraction = 0
  private var refilledAt: Int64

  /// A burst is at most a record's worth (16 KiB), and at most one second's worth.
  public init(rate: Int, now: Int64) {
    self.init(rate: rate, capacity: min(max(1, rate), 16_384), now: now)
  }

  /// A bucket of `capacity` (at least 1), full at first.
  public init(rate: Int, capacity: Int, now: Int64) {
    self.rate = max(1, rate)
    self.capacity = max(1, capacity)
    self.tokens = self.capacity
    self.refilledAt = now
  }

  /// Whether it is full (as of the last refill): a bucket in this state is the same as a new
  /// one, so whoever keeps buckets for many sources may forget it.
  public var isFull: Bool { tokens == capacity }

  /// Bytes that may pass now.
  public mutating func available(_ now: Int64) -> Int {
    refill(now)
    return tokens
  }

  public mutating func take(_ count: Int, _ now: Int64) {
    refill(now)
    tokens = max(0, tokens - count)
  }

  /// A fiftieth of a second's worth (or a full bucket, if smaller): what is worth waking for,
  /// so that a slow rate is not served a byte per wake-up.
  private var worthWaking: Int { min(capacity, max(1, rate / 50)) }

  /// When enough will have come back to be worth waking for (`now` if it has).
  public func refilled(at now: Int64) -> Int64 {
    let wanted = worthWaking
    guard tokens < wanted else { return now }
    let missing = (wanted - tokens) * 1000 - fraction
    return max(now, refilledAt + Int64((missing + rate - 1) / rate))
  }

  private mutating func refill(_ now: Int64) {
    guard now > refilledAt else { return }
    let elapsed = Int(min(now - refilledAt, 3_600_000))
    refilledAt = now
    guard tokens < capacity else {
      fraction = 0
      return
    }
    let gained = elapsed * rate + fraction
    tokens = min(capacity, tokens + gained / 1000)
    fraction = tokens == capacity ? 0 : gained % 1000
  }
}
