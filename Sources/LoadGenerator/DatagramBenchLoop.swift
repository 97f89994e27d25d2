import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// `bench latency|throughput --udp|--dtls`: one load thread's UDP sockets (each connected to
/// the server, over DTLS once its handshake is done) in one epoll set. Every datagram carries
/// its sequence number and a pattern that follows from it, so that each echo is checked byte
/// for byte, and tells what was lost (no echo within `datagramTimeout`) and what came out of
/// order (a sequence number below one already seen).
final class DatagramBenchLoop {
  private final class Peer {
    let transport: Transport
    var handshakeDone: Bool
    var nextSequence: UInt64 = 0
    /// Sequence numbers sent and not echoed yet, with when they went.
    var inFlight: [UInt64: UInt64] = [:]
    var highestEchoed: UInt64?

    init(_ transport: Transport) {
      self.transport = transport
      handshakeDone = !transport.isTLS
    }
  }

  /// Sequence number and at least one byte of pattern.
  static let minimumSize = 9
  /// Datagrams each throughput peer keeps in flight.
  static let window = 32

  private let plan: BenchPlan
  private let slots: Range<Int>
  private let clock: BenchClock
  private let epoll: Epoll
  private var peers: [Int32: Peer] = [:]
  private var result: BenchResult
  private let buffer = UnsafeMutableRawBufferPointer.allocate(
    byteCount: Socket.maximumDatagram + 1, alignment: 16)
  private var outgoing: [UInt8]

  init(plan: BenchPlan, slots: Range<Int>, clock: BenchClock) throws(SocketError) {
    self.plan = plan
    self.slots = slots
    self.clock = clock
    epoll = try Epoll(capacity: 1024)
    result = BenchResult(mode: plan.mode, connections: slots.count, threads: 1)
    outgoing = [UInt8](repeating: 0, count: plan.size)
  }

  deinit { buffer.deallocate() }

  func run() -> BenchResult {
    // A DTLS server keeps a peer until its idle timeout unless told it ended.
    defer { closeAll() }
    for slot in slots { open(slot) }
    handshake()
    clock.arriveAndWaitForStart()
    let ready = peers.values.filter(\.handshakeDone).count
    result.opened = ready
    if clock.isAborted || ready == 0 { return result }
    for peer in peers.values where peer.handshakeDone { send(peer) }
    while !clock.isAborted && BenchClock.now() < clock.deadline {
      let left = (clock.deadline - BenchClock.now()) / 1_000_000
      wait(milliseconds: Int32(clamping: min(10, max(1, left))))
      expire()
    }
    return result
  }

  /// Sends each peer's close_notify (one datagram, which may be lost: the server's idle
  /// timeout is the fallback) and closes its socket.
  private func closeAll() {
    for descriptor in peers.keys {
      if let peer = peers[descriptor], peer.handshakeDone, peer.transport.isTLS {
        _ = try? peer.transport.closeOutput()
      }
      drop(descriptor)
    }
  }

  private func open(_ slot: Int) {
    let address = plan.addresses[slot % plan.addresses.count]
    do {
      let socket = try Socket.connectedClient(to: address)
      try socket.setNonBlocking(true)
      let transport: Transport
      if let tls = plan.tls {
        transport = .tls(
          try TLSStream(
            datagramSocket: socket, context: tls, peer: address, serverName: plan.serverName))
      } else {
        transport = .plain(socket)
      }
      try epoll.add(socket.descriptor, .readable, token: UInt64(socket.descriptor))
      peers[socket.descriptor] = Peer(transport)
    } catch {
      result.record(error: "\(address): \(error)", kind: "setup")
    }
  }

  /// Every DTLS handshake, all at once, each with its retransmission timer, within the
  /// handshake timeout.
  private func handshake() {
    let deadline = BenchClock.now() + UInt64(plan.handshakeTimeout) * 1_000_000
    while !clock.isAborted {
      var pending = 0
      var nextTimer: Int64 = 100
      for (descriptor, peer) in peers where !peer.handshakeDone {
        guard case .tls(let stream) = peer.transport else { continue }
        do {
          if case .done = try peer.transport.handshake() {
            peer.handshakeDone = true
            result.handshakes += 1
            if result.tlsVersion == nil {
              result.tlsVersion = stream.protocolVersion
              result.cipher = stream.cipher
            }
            continue
          }
          if let due = stream.retransmissionDue {
            if due == 0 { try stream.retransmit() }
            nextTimer = min(nextTimer, max(1, due))
          }
          pending += 1
        } catch {
          result.record(error: "DTLS handshake: \(error)", kind: "handshake")
          drop(descriptor)
        }
      }
      guard pending > 0 else { return }
      guard BenchClock.now() < deadline else {
        result.record(
          error: "\(pending) DTLS handshakes did not finish within "
            + "\(plan.handshakeTimeout / 1000) s", kind: "timeout")
        return
      }
      _ = try? epoll.wait(timeoutMilliseconds: Int32(nextTimer))
    }
  }

  private func drop(_ descriptor: Int32) {
    peers[descriptor]?.transport.close()
    peers[descriptor] = nil
  }

  private func wait(milliseconds: Int32) {
    guard let ready = try? epoll.wait(timeoutMilliseconds: milliseconds) else { return }
    for index in 0..<ready {
      let descriptor = Int32(truncatingIfNeeded: epoll.token(at: index))
      if let peer = peers[descriptor] { receive(peer, descriptor) }
    }
  }

  private func receive(_ peer: Peer, _ descriptor: Int32) {
    while true {
      let step: StreamStep
      do { step = try peer.transport.read(into: buffer) } catch {
        // A refused port (ICMP) or a DTLS alert: this peer is done.
        result.record(error: "\(error)", kind: "receive")
        drop(descriptor)
        return
      }
      guard case .done(let count) = step else { return }
      arrived(peer, UnsafeRawBufferPointer(rebasing: buffer[..<count]))
    }
  }

  private func arrived(_ peer: Peer, _ bytes: UnsafeRawBufferPointer) {
    guard bytes.count == plan.size, let sequence = Self.sequence(in: bytes),
      Self.matches(bytes, sequence)
    else {
      result.record(error: "an echo that is not a datagram that was sent", kind: "echo_mismatch")
      return
    }
    if let highest = peer.highestEchoed, sequence < highest { result.reordered += 1 }
    peer.highestEchoed = max(peer.highestEchoed ?? 0, sequence)
    guard let sentAt = peer.inFlight.removeValue(forKey: sequence) else {
      // An echo that came after it was counted lost (or twice): late.
      result.late += 1
      return
    }
    result.datagrams += 1
    result.bytes += bytes.count
    result.roundTrips += 1
    if plan.mode == .latency {
      result.latency.record((BenchClock.now() - sentAt) / 1000)
    }
    send(peer)
  }

  /// What the mode keeps in flight: one datagram (latency), or a window (throughput).
  private var inFlightTarget: Int { plan.mode == .latency ? 1 : Self.window }

  private func send(_ peer: Peer) {
    while peer.inFlight.count < inFlightTarget && BenchClock.now() < clock.deadline {
      let sequence = peer.nextSequence
      Self.fill(&outgoing, sequence)
      let step: StreamStep
      do {
        step = try outgoing.withBytes { (bytes) throws(TransportError) in
          try peer.transport.write(UnsafeRawBufferPointer(bytes))
        }
      } catch {
        result.record(error: "\(error)", kind: "send")
        return
      }
      // The socket is full: `expire` tries again soon, with the same sequence number and so
      // the same bytes, as OpenSSL wants a DTLS write retried.
      guard case .done = step else { return }
      peer.nextSequence += 1
      peer.inFlight[sequence] = BenchClock.now()
      result.sent += 1
    }
  }

  /// Datagrams in flight longer than the datagram timeout are lost; their peers send on, as
  /// do those whose last send found the socket full.
  private func expire() {
    let now = BenchClock.now()
    let timeout = UInt64(plan.datagramTimeout) * 1_000_000
    for peer in peers.values where peer.handshakeDone {
      let expired = peer.inFlight.filter { now - $0.value >= timeout }.keys
      for sequence in expired { peer.inFlight[sequence] = nil }
      result.lost += expired.count
      if peer.inFlight.count < inFlightTarget { send(peer) }
    }
  }

  static func fill(_ bytes: inout [UInt8], _ sequence: UInt64) {
    withUnsafeBytes(of: sequence.bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
    for index in 8..<bytes.count {
      bytes[index] = UInt8(truncatingIfNeeded: sequence &+ UInt64(index))
    }
  }

  static func sequence(in bytes: UnsafeRawBufferPointer) -> UInt64? {
    guard bytes.count >= 8 else { return nil }
    return UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
  }

  static func matches(_ bytes: UnsafeRawBufferPointer, _ sequence: UInt64) -> Bool {
    for index in 8..<bytes.count
    where bytes[index] != UInt8(truncatingIfNeeded: sequence &+ UInt64(index)) {
      return false
    }
    return true
  }
}

/// What `bench --udp|--dtls` needs of its datagrams.
public enum DatagramBench {
  /// A sequence number (8 bytes) and at least one byte of pattern.
  public static let minimumSize = DatagramBenchLoop.minimumSize
}
