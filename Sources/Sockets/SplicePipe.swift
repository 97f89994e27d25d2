import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// A kernel pipe for moving bytes from one socket to another without copying them through user
/// memory (splice(2)). Owns both descriptors. An event loop keeps one and leaves it empty
/// between uses, so that every connection can share it.
public final class SplicePipe {
  private let readEnd: Int32
  private let writeEnd: Int32

  public init() throws(SocketError) {
    var fds: [Int32] = [0, 0]
    try syscall("pipe2") { pipe2(&fds, O_NONBLOCK | O_CLOEXEC) }
    readEnd = fds[0]
    writeEnd = fds[1]
  }

  deinit {
    close(readEnd)
    close(writeEnd)
  }

  /// Moves up to `count` bytes from `socket` into the pipe. `.processed(0)` means EOF.
  public func fill(from socket: Socket, count: Int) throws(SocketError) -> IOResult<Int> {
    try nonBlockingSyscall("splice") {
      splice(
        socket.open, nil, writeEnd, nil, count,
        clinux_SPLICE_F_MOVE() | clinux_SPLICE_F_NONBLOCK())
    }
  }

  /// Moves up to `count` bytes from the pipe to `socket`.
  public func drain(to socket: Socket, count: Int) throws(SocketError) -> IOResult<Int> {
    try nonBlockingSyscall("splice") {
      splice(
        readEnd, nil, socket.open, nil, count,
        clinux_SPLICE_F_MOVE() | clinux_SPLICE_F_NONBLOCK())
    }
  }

  /// Reads what is left in the pipe into `buffer` (for bytes the socket did not take).
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int {
    switch try nonBlockingSyscall(
      "read pipe", { Glibc.read(readEnd, buffer.baseAddress, buffer.count) })
    {
    case .processed(let count): count
    case .wouldBlock: 0
    }
  }

  /// Empties the pipe whatever is in it, reading through `scratch`. After a failed echo, so that
  /// no byte of one connection is left for the next one.
  public func discardAll(using scratch: UnsafeMutableRawBufferPointer) {
    while let count = try? read(into: scratch), count > 0 {}
  }
}
