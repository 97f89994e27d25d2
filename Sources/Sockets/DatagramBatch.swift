import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// A batch of datagrams received with one `recvmmsg(2)` and echoed with one `sendmmsg(2)`: the
/// memory for `capacity` datagrams of up to `bufferSize` bytes, their senders' addresses and
/// their packet info, allocated once per loop and reused. An echo goes back from the buffer it
/// arrived in, to the address it came from, from the local address it was sent to.
///
/// Not `Sendable`: one loop's scratch memory.
public final class DatagramBatch {
  /// One received datagram. Valid until the next `receive`.
  public struct Datagram {
    public let bytes: UnsafeRawBufferPointer
    public let peer: SocketAddress
    /// The local address it was sent to (port 0), when the socket reports it (`packetInfo`).
    public let local: SocketAddress?
    /// It was longer than the buffer (and so is cut): not a datagram to echo.
    public let truncated: Bool
  }

  public let capacity: Int
  public let bufferSize: Int
  /// Datagrams the last `receive` took.
  public private(set) var count = 0
  private let packetInfo: Bool
  private let controlSpace: Int
  private let buffers: UnsafeMutableRawPointer
  private let vectors: UnsafeMutablePointer<iovec>
  private let names: UnsafeMutablePointer<sockaddr_storage>
  private let controls: UnsafeMutableRawPointer
  private let received: UnsafeMutablePointer<clinux_mmsghdr>
  private let replies: UnsafeMutablePointer<clinux_mmsghdr>
  private var marked: [Bool]

  /// `bufferSize` one more than the largest datagram, so that a longer one shows as truncated.
  /// `packetInfo`: the socket reports each datagram's local address (a wildcard socket).
  public init(capacity: Int = 32, bufferSize: Int = Socket.maximumDatagram + 1, packetInfo: Bool) {
    self.capacity = capacity
    self.bufferSize = bufferSize
    self.packetInfo = packetInfo
    controlSpace = packetInfo ? Int(clinux_pktinfo_space()) : 0
    buffers = .allocate(byteCount: capacity * bufferSize, alignment: 16)
    vectors = .allocate(capacity: capacity)
    names = .allocate(capacity: capacity)
    controls = .allocate(byteCount: max(1, capacity * controlSpace), alignment: 16)
    received = .allocate(capacity: capacity)
    replies = .allocate(capacity: capacity)
    marked = Array(repeating: false, count: capacity)
  }

  deinit {
    buffers.deallocate()
    vectors.deallocate()
    names.deallocate()
    controls.deallocate()
    received.deallocate()
    replies.deallocate()
  }

  /// Receives what is waiting on the socket `descriptor` (borrowed: the loops share it), up
  /// to `capacity` datagrams; 0 when nothing is.
  public func receive(from descriptor: Int32) throws(SocketError) -> Int {
    for index in 0..<capacity {
      vectors[index] = iovec(iov_base: buffers + index * bufferSize, iov_len: bufferSize)
      received[index] = clinux_mmsghdr(
        msg_hdr: msghdr(
          msg_name: UnsafeMutableRawPointer(names + index),
          msg_namelen: socklen_t(MemoryLayout<sockaddr_storage>.size),
          msg_iov: vectors + index, msg_iovlen: 1,
          msg_control: packetInfo ? controls + index * controlSpace : nil,
          msg_controllen: controlSpace, msg_flags: 0),
        msg_len: 0)
      marked[index] = false
    }
    let result = try nonBlockingSyscall("recvmmsg") {
      recvmmsg(descriptor, received, UInt32(capacity), 0, nil)
    }
    switch result {
    case .wouldBlock: count = 0
    case .processed(let taken): count = Int(taken)
    }
    return count
  }

  public func datagram(_ index: Int) -> Datagram {
    precondition(index < count, "datagram \(index) of \(count)")
    var local: SocketAddress?
    if packetInfo {
      var storage = sockaddr_storage()
      if clinux_pktinfo_destination(&received[index].msg_hdr, &storage) == 1 {
        local = SocketAddress(
          storage: storage,
          length: socklen_t(
            Int32(storage.ss_family) == AF_INET6
              ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size))
      }
    }
    let header = received[index]
    return Datagram(
      bytes: UnsafeRawBufferPointer(
        start: buffers + index * bufferSize, count: Int(header.msg_len)),
      peer: SocketAddress(storage: names[index], length: header.msg_hdr.msg_namelen),
      local: local, truncated: header.msg_hdr.msg_flags & clinux_MSG_TRUNC() != 0)
  }

  /// Chooses the datagram at `index` to be echoed by the next `echoMarked`.
  public func mark(_ index: Int) { marked[index] = true }

  /// Chooses `reply` to go back instead of the datagram at `index`, to its sender and from
  /// the address it was sent to; never larger than the datagram (false, and nothing chosen).
  public func mark(_ index: Int, replyingWith reply: UnsafeRawBufferPointer) -> Bool {
    precondition(index < count, "datagram \(index) of \(count)")
    guard reply.count <= Int(received[index].msg_len), let source = reply.baseAddress else {
      return false
    }
    (buffers + index * bufferSize).copyMemory(from: source, byteCount: reply.count)
    received[index].msg_len = UInt32(reply.count)
    marked[index] = true
    return true
  }

  /// Sends every marked datagram back to its sender, unchanged (or as replaced). Returns how many went, with
  /// their bytes, and how many did not: those found the socket full (or failed on their own)
  /// and are dropped, as UDP may.
  public func echoMarked(on descriptor: Int32) -> (sent: Int, bytes: Int, failed: Int) {
    var pending = 0
    for index in 0..<count where marked[index] {
      var header = received[index].msg_hdr
      vectors[index].iov_len = Int(received[index].msg_len)
      if packetInfo {
        header.msg_controllen = withUnsafeMutablePointer(to: &header) { clinux_pktinfo_reply($0) }
        if header.msg_controllen == 0 { header.msg_control = nil }
      } else {
        header.msg_control = nil
        header.msg_controllen = 0
      }
      header.msg_flags = 0
      replies[pending] = clinux_mmsghdr(msg_hdr: header, msg_len: 0)
      pending += 1
    }
    var sent = 0
    var bytes = 0
    var next = 0
    while next < pending {
      let start = next
      let result: IOResult<Int32>
      do {
        result = try nonBlockingSyscall("sendmmsg") {
          sendmmsg(descriptor, replies + start, UInt32(pending - start), 0)
        }
      } catch {
        // One datagram the kernel refused (a peer it has no route to): skip it, send the rest.
        next += 1
        continue
      }
      guard case .processed(let count) = result, count > 0 else { break }
      for index in start..<(start + Int(count)) { bytes += Int(replies[index].msg_len) }
      sent += Int(count)
      next += Int(count)
    }
    return (sent, bytes, pending - sent)
  }
}
