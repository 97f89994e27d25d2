import CTLS
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

/// The socket under a server's TLS connection, as OpenSSL sees it: a BIO of our own instead of
/// OpenSSL's socket BIO. An echo of 64 KiB is four records, and OpenSSL writes each with its own
/// `write(2)`; on loopback each write that pushes data wakes the peer and runs its receive path.
/// This BIO sends every record of a write but the last with MSG_MORE, so the kernel holds them
/// until a full segment or the last record: the peer is woken once per write, and no byte is
/// copied in user space to get there (copying the records into one buffer for one `write(2)`
/// was measured too, and cost more than the system calls it saved). What OpenSSL writes by
/// itself (a handshake flight, a ticket, an alert) leaves at once. It also tells the loop when
/// a read found the socket empty, and counts its system calls.
final class SocketEndpoint {
  let descriptor: Int32
  /// Sent with MSG_MORE and not pushed yet: a write that stopped halfway (the socket was full)
  /// leaves its records held; `push` sends them before the connection waits.
  private var unpushed = false
  /// Inside `SSL_write`: the records still to come of it (by their plaintext), so that the
  /// last one is sent without MSG_MORE and pushes them all.
  private var recordsToCome = 0
  /// The peer closed its side: OpenSSL asks (BIO_CTRL_EOF) to tell an unclean EOF.
  private(set) var atEOF = false
  /// The last read took less than it asked for, or found nothing: the socket is empty (until
  /// epoll says otherwise), so reading again now would only find EAGAIN.
  private(set) var drained = false
  /// System calls made, for the counters: reads, sends (one per record, or part of one), the
  /// sends of them with MSG_MORE, and pushes.
  private(set) var reads = 0
  private(set) var sends = 0
  private(set) var heldSends = 0
  private(set) var pushes = 0

  /// Records sent with MSG_MORE wait for a push: never so once a connection's step is over.
  var holdsBackOutput: Bool { unpushed }

  init(descriptor: Int32) { self.descriptor = descriptor }

  /// An `SSL_write` of `count` plaintext bytes begins: it makes ⌈count / recordSize⌉ records.
  func beginWrite(_ count: Int, recordSize: Int) {
    recordsToCome = (count + recordSize - 1) / recordSize
  }

  /// `truncate`: where the connection is in cutting a record.
  private enum Cut: Equatable {
    case none
    /// The next record is cut: this many of its bytes still go out (nil: half of it, worked
    /// out when it comes).
    case armed(Int?)
    /// A record was cut: nothing more reaches the socket.
    case done
  }

  private var cut = Cut.none

  var hasCut: Bool { cut == .done }

  func cutNextRecord() { if cut == .none { cut = .armed(nil) } }

  func endWrite() { recordsToCome = 0 }

  /// Sends what MSG_MORE held back: setting TCP_NODELAY (already on) makes the kernel send the
  /// pending partial segment now.
  func push() throws(SocketError) {
    guard unpushed else { return }
    unpushed = false
    pushes += 1
    var on: Int32 = 1
    try SystemCall.blocking("setsockopt(TCP_NODELAY)") {
      setsockopt(
        descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    }
  }

  /// Sends a record (or the rest of one) that OpenSSL wrote; nil when the socket is full.
  func send(_ bytes: UnsafeRawBufferPointer) throws(SocketError) -> Int? {
    switch cut {
    case .none: break
    case .armed(let left):
      // The header and half the body: the peer is left waiting inside a record. Until that
      // much has gone, OpenSSL is told the truth (and retries the rest); then that it all
      // went, so that it never sends the remainder.
      recordsToCome = 0
      let part = left ?? max(6, bytes.count / 2)
      guard
        let sent = try transmit(UnsafeRawBufferPointer(rebasing: bytes[..<min(part, bytes.count)]))
      else { return nil }
      guard sent >= part else {
        cut = .armed(part - sent)
        return sent
      }
      cut = .done
      return bytes.count
    case .done: return bytes.count
    }
    return try transmit(bytes)
  }

  private func transmit(_ bytes: UnsafeRawBufferPointer) throws(SocketError) -> Int? {
    sends += 1
    let more = recordsToCome > 1
    if more { heldSends += 1 }
    let flags = Int32(MSG_NOSIGNAL) | (more ? Int32(MSG_MORE) : 0)
    let result = try SystemCall.nonBlocking("write") {
      Glibc.send(descriptor, bytes.baseAddress, bytes.count, flags)
    }
    guard case .processed(let count) = result else { return nil }
    unpushed = more
    if more && count == bytes.count { recordsToCome -= 1 }
    return count
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError)
    -> IOResult<Int>
  {
    reads += 1
    let result = try SystemCall.nonBlocking("read") {
      Glibc.read(descriptor, buffer.baseAddress, buffer.count)
    }
    switch result {
    case .processed(0): atEOF = true
    case .processed(let count): drained = count < buffer.count
    case .wouldBlock: drained = true
    }
    return result
  }
}

/// The BIO_METHOD of `SocketEndpoint`, made once and shared (it is only read after that).
/// `@unchecked Sendable`: the method table is immutable once built.
final class SocketBIOMethod: @unchecked Sendable {
  static let shared = SocketBIOMethod()

  let method: OpaquePointer

  private init() {
    let type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR
    guard let method = BIO_meth_new(type, "secureecho socket") else {
      preconditionFailure("BIO_meth_new failed")
    }
    _ = BIO_meth_set_write_ex(method, Self.write)
    _ = BIO_meth_set_read_ex(method, Self.read)
    _ = BIO_meth_set_ctrl(method, Self.control)
    _ = BIO_meth_set_create(method, Self.create)
    self.method = method
  }

  /// A BIO over `endpoint`, which must outlive it (the `TLSStream` owns both).
  func makeBIO(for endpoint: SocketEndpoint) -> OpaquePointer? {
    guard let bio = BIO_new(method) else { return nil }
    BIO_set_data(bio, Unmanaged.passUnretained(endpoint).toOpaque())
    BIO_set_init(bio, 1)
    return bio
  }

  private static func endpoint(_ bio: OpaquePointer?) -> SocketEndpoint {
    Unmanaged<SocketEndpoint>.fromOpaque(BIO_get_data(bio)!).takeUnretainedValue()
  }

  /// A failed call: errno for OpenSSL's `SSL_ERROR_SYSCALL`, as its own socket BIO leaves it.
  private static func fail(_ error: SocketError) -> Int32 {
    errno = error.code
    return 0
  }

  private static let create: @convention(c) (OpaquePointer?) -> Int32 = { _ in 1 }

  private static let write:
    @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32 =
      { bio, data, length, written in
        ctls_BIO_clear_retry_flags(bio)
        guard let data, let written else { return 0 }
        do throws(SocketError) {
          guard
            let count = try endpoint(bio).send(UnsafeRawBufferPointer(start: data, count: length))
          else {
            ctls_BIO_set_retry_write(bio)
            return 0
          }
          written.pointee = count
          return 1
        } catch {
          return fail(error)
        }
      }

  private static let read:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>?)
      ->
      Int32 = { bio, data, length, readBytes in
        ctls_BIO_clear_retry_flags(bio)
        guard let data, let readBytes else { return 0 }
        do throws(SocketError) {
          switch try endpoint(bio).read(
            into: UnsafeMutableRawBufferPointer(start: data, count: length))
          {
          case .wouldBlock:
            ctls_BIO_set_retry_read(bio)
            return 0
          case .processed(let count):
            readBytes.pointee = count
            return count > 0 ? 1 : 0
          }
        } catch {
          return fail(error)
        }
      }

  private static let control:
    @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int = {
      bio, command, _, _ in
      let endpoint = endpoint(bio)
      switch command {
      // Every write goes to the kernel at once: nothing to flush, nothing pending.
      case BIO_CTRL_FLUSH: return 1
      case BIO_CTRL_EOF: return endpoint.atEOF ? 1 : 0
      case BIO_CTRL_WPENDING, BIO_CTRL_PENDING: return 0
      case BIO_C_GET_FD: return Int(endpoint.descriptor)
      default: return 0
      }
    }
}
