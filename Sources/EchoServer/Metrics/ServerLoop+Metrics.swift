import Logging
import Sockets

/// One scrape: its socket, the request head read so far, then the response going out.
final class MetricsExchange {
  let socket: Socket
  /// Monotonic milliseconds by which the scraper must have sent its request and read the answer.
  let deadline: Int64
  var request: [UInt8] = []
  var response: [UInt8] = []
  var sent = 0
  var interest: Epoll.Interest = .readable

  init(_ socket: Socket, deadline: Int64) {
    self.socket = socket
    self.deadline = deadline
  }
}

/// A loop's share of the `--metrics` listener: every loop watches it (EPOLLEXCLUSIVE, like the
/// echo listeners) and answers the scrapes it accepts itself, so a scrape waits for no other
/// thread and the echo connections of a busy loop are not held up by a slow scraper. The
/// limits: a head of `MetricsRequest.maximumHead` bytes, the handshake timeout for the whole
/// exchange, `maximumOpen` scrapes at once per loop.
struct MetricsEndpoint {
  static let maximumOpen = 16

  let listener: Int32
  let metrics: ServerMetrics
  /// The counters of every loop, summed at the time of the scrape.
  let statistics: @Sendable () -> ServerStatistics
  var exchanges: [Int32: MetricsExchange] = [:]
  /// Set while the listener is out of epoll after an accept failure (out of descriptors).
  var resumeAt: Int64?

  /// Asked on every wake-up of the loop: no allocation.
  var nextDeadline: Int64? {
    var next = resumeAt
    for exchange in exchanges.values { next = min(next ?? .max, exchange.deadline) }
    return next
  }
}

extension ServerLoop {
  /// Handles `fd` if it is the metrics listener or one of its scrapes; false if it is neither.
  func handleMetrics(_ fd: Int32) -> Bool {
    guard let endpoint = metricsEndpoint else { return false }
    if fd == endpoint.listener {
      acceptScrapes()
      return true
    }
    guard let exchange = endpoint.exchanges[fd] else { return false }
    serve(exchange)
    return true
  }

  private func acceptScrapes() {
    guard let listener = metricsEndpoint?.listener else { return }
    for _ in 0..<MetricsEndpoint.maximumOpen {
      let socket: Socket
      do {
        guard case .processed(let (accepted, _)) = try Socket.accept(listener: listener) else {
          return
        }
        socket = accepted
      } catch  where error.isConnectionReset {
        continue
      } catch {
        // Level-triggered: the failure would repeat at once. Listen again in 100 ms.
        logger.warning("metrics: accept failed; pausing scrapes for 100 ms: \(error)")
        epoll.remove(listener)
        metricsEndpoint?.resumeAt = now + 100
        return
      }
      guard (metricsEndpoint?.exchanges.count ?? 0) < MetricsEndpoint.maximumOpen else {
        socket.close()
        continue
      }
      do {
        try epoll.add(socket.descriptor, .readable, token: UInt64(socket.descriptor))
      } catch {
        socket.close()
        continue
      }
      let exchange = MetricsExchange(socket, deadline: now + Self.scrapeTime(context.limits))
      metricsEndpoint?.exchanges[socket.descriptor] = exchange
    }
  }

  /// How long a scrape may take, request and answer: the handshake timeout, at most 10 s, so
  /// that a long `--handshake-timeout` does not let silent scrapers hold every slot.
  static func scrapeTime(_ limits: ServerConfiguration.Limits) -> Int64 {
    min(limits.handshakeTimeout, 10_000)
  }

  /// Reads the request head, then writes the answer, as far as the socket lets it go now.
  private func serve(_ exchange: MetricsExchange) {
    do throws(SocketError) {
      if exchange.response.isEmpty {
        guard let request = try readRequest(exchange) else { return }
        exchange.response = request.response {
          guard let endpoint = metricsEndpoint else { return [] }
          return endpoint.metrics.render(endpoint.statistics())
        }
      }
      while exchange.sent < exchange.response.count {
        let step = try exchange.response.withBytes { (bytes) throws(SocketError) in
          try exchange.socket.write(UnsafeRawBufferPointer(rebasing: bytes[exchange.sent...]))
        }
        guard case .processed(let count) = step else {
          try epoll.change(exchange.socket.descriptor, &exchange.interest, to: .writable)
          return
        }
        exchange.sent += count
      }
      endScrape(exchange)
    } catch {
      endScrape(exchange)
    }
  }

  /// The request, once its head is complete; nil while more is to come. A scraper that goes
  /// away first is let go.
  private func readRequest(_ exchange: MetricsExchange) throws(SocketError) -> MetricsRequest? {
    while true {
      let room = UnsafeMutableRawBufferPointer(
        rebasing: context.buffer[..<(MetricsRequest.maximumHead - exchange.request.count)])
      switch try exchange.socket.read(into: room) {
      case .wouldBlock: return nil
      case .processed(0):
        endScrape(exchange)
        return nil
      case .processed(let count):
        exchange.request.append(contentsOf: room[..<count])
      }
      if case .complete(let request) = MetricsRequest.parse(exchange.request) { return request }
    }
  }

  /// Closes the scrape. Over a request body it never read, the kernel resets the connection:
  /// that is how an oversized request is cut off.
  func endScrape(_ exchange: MetricsExchange) {
    metricsEndpoint?.exchanges[exchange.socket.descriptor] = nil
    exchange.socket.close()
  }

  /// Ends scrapes past their deadline, and listens again after a pause.
  func expireScrapes() {
    guard let endpoint = metricsEndpoint, endpoint.nextDeadline.map({ $0 <= now }) == true else {
      return
    }
    for exchange in endpoint.exchanges.values where exchange.deadline <= now {
      endScrape(exchange)
    }
    if let resumeAt = endpoint.resumeAt, resumeAt <= now {
      metricsEndpoint?.resumeAt = nil
      do {
        try epoll.add(endpoint.listener, [.readable, .exclusive], token: UInt64(endpoint.listener))
      } catch {
        logger.error("metrics: cannot watch the listener again: \(error)")
      }
    }
  }

  /// Every scrape still open, at the end of the loop.
  func endAllScrapes() {
    for exchange in metricsEndpoint?.exchanges.values.map({ $0 }) ?? [] { endScrape(exchange) }
  }
}
