import CLinux
import Sockets
import StreamServices
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// Pipe mode: stdin to the server, the echo to stdout, byte for byte.
///
/// Sending and receiving must overlap: an echo server stops reading from a client that does
/// not read its echo, so a client that wrote all its input before reading would deadlock on any
/// input larger than the socket buffers. One thread polls the socket and stdin instead.
final class PipeSession {
  private static let chunk = 64 * 1024

  private let stream: Transport
  private let mode: ServiceMode
  /// Sink mode: the start of what came back, where the report line is.
  private var replyStart: [UInt8] = []
  private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
  private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
  private var inputStart = 0
  private var inputEnd = 0
  private var inputEnded = false
  private var outputClosed = false
  private var sent = 0
  private var received = 0

  init(transport: Transport, mode: ServiceMode) {
    self.stream = transport
    self.mode = mode
  }

  deinit {
    input.deallocate()
    output.deallocate()
  }

  func run() throws(ClientFailure) {
    do {
      try stream.socket.setNonBlocking(true)
      try pump()
    } catch let failure as ClientFailure {
      throw failure
    } catch {
      throw ClientFailure(
        "connection failed after \(sent) bytes sent, \(received) received: \(error)",
        status: .ioError)
    }
    // A source or chargen server sends without reading: it may close before our input is all
    // out, and that is its normal end.
    if !mode.serverSpeaksFirst && (!inputEnded || inputStart < inputEnd) {
      throw ClientFailure(
        "the server closed the connection before all input was sent (\(sent) bytes sent)",
        status: .ioError)
    }
    try checkReply()
  }

  /// What the server's mode promises for what was sent.
  private func checkReply() throws(ClientFailure) {
    if mode.repliesWithSameLength && received != sent {
      throw ClientFailure(
        "the echo is incomplete: \(sent) bytes sent, \(received) echoed", status: .ioError)
    }
    guard mode == .sink else { return }
    let text = String(decoding: replyStart, as: UTF8.self)
    guard let report = SinkReport(line: text) else {
      throw ClientFailure("no sink report in the reply: '\(text.prefix(80))'", status: .ioError)
    }
    if report.bytes != sent {
      throw ClientFailure(
        "the sink counted \(report.bytes) bytes, \(sent) were sent", status: .ioError)
    }
  }

  /// Moves bytes until the server has closed its side. Each pass sends what it can, receives
  /// what it can, and only waits (poll) when neither moved a byte.
  private func pump() throws {
    while true {
      var progressed = false
      var needWritable = false

      if inputStart < inputEnd {
        switch try stream.write(UnsafeRawBufferPointer(rebasing: input[inputStart..<inputEnd])) {
        case .done(let count):
          inputStart += count
          sent += count
          progressed = true
        case .wantWrite: needWritable = true
        case .wantRead: break
        case .closed: return
        }
      } else if inputEnded && !outputClosed {
        switch try stream.closeOutput() {
        case .done, .closed:
          outputClosed = true
          progressed = true
        case .wantWrite: needWritable = true
        case .wantRead: break
        }
      }

      switch try stream.read(into: output) {
      case .done(let count):
        try StandardIO.writeAll(
          StandardIO.output, UnsafeRawBufferPointer(rebasing: output[..<count]))
        received += count
        if mode == .sink && replyStart.count < 256 {
          replyStart += UnsafeRawBufferPointer(rebasing: output[..<min(count, 256)])
        }
        progressed = true
      case .wantRead: break
      case .wantWrite: needWritable = true
      case .closed: return
      }

      if !progressed { try waitForEvents(needWritable: needWritable) }
    }
  }

  private func waitForEvents(needWritable: Bool) throws {
    let wantsInput = inputStart == inputEnd && !inputEnded
    var events = [
      pollfd(
        fd: stream.socket.descriptor, events: Int16(POLLIN | (needWritable ? POLLOUT : 0)),
        revents: 0),
      pollfd(fd: StandardIO.input, events: Int16(POLLIN), revents: 0),
    ]
    let count = wantsInput ? 2 : 1
    try SystemCall.blocking("poll") { poll(&events, nfds_t(count), -1) }
    if wantsInput && events[1].revents != 0 {
      let count = try StandardIO.read(StandardIO.input, into: input)
      inputStart = 0
      inputEnd = count
      if count == 0 { inputEnded = true }
    }
  }
}
