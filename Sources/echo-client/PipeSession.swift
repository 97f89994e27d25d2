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
  /// How long to wait, once the input is all sent, for the rest of an echo before ending our
  /// side anyway (a server that keeps it would otherwise hold the client forever).
  private let replyTimeoutMilliseconds: Int32
  /// The start of what came back: the sink's report line, or a TLS alert from a TLS server
  /// that a plaintext client reached.
  private var replyStart: [UInt8] = []
  /// The server closed its side without a close_notify (TLS), or reset the connection once
  /// the reply was complete.
  private(set) var closedUncleanly = false
  private var resetAfterReply = false
  /// Reverse mode: the bytes sent up to the last line end. The server holds a line until it
  /// ends, so only that much can come back before our side is closed.
  private var sentThroughLastLine = 0
  private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
  private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
  private var inputStart = 0
  private var inputEnd = 0
  private var inputEnded = false
  private var outputClosed = false
  private var sent = 0
  private var received = 0
  private var lastReply: Int64 = 0
  private var inputEndedAt: Int64 = 0

  init(transport: Transport, mode: ServiceMode, replyTimeoutMilliseconds: Int32) {
    self.stream = transport
    self.mode = mode
    self.replyTimeoutMilliseconds = replyTimeoutMilliseconds
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
      // A refused client certificate is a handshake failure, even where TLS 1.3 reports it
      // on the first read.
      let hint = ClientHints.afterHandshake(error)
      throw ClientFailure(
        "connection failed after \(sent) bytes sent, \(received) received: \(error)" + hint,
        status: hint.isEmpty ? .ioError : .unavailable)
    }
    // (A complete echo of input that happens to start with those bytes is not an alert.)
    let completeEcho = mode.repliesWithSameLength && received == sent
    if case .plain = stream, replyStart.starts(with: [0x15, 0x03]), !completeEcho {
      throw ClientFailure(
        "the server answered with a TLS alert: it speaks TLS (leave out --plaintext)",
        status: .unavailable)
    }
    // A source or chargen server sends without reading: it may close before our input is all
    // out, and that is its normal end.
    if !mode.serverSpeaksFirst && (!inputEnded || inputStart < inputEnd) {
      throw ClientFailure(
        "the server closed the connection before all input was sent (\(sent) bytes sent, "
          + "\(received) received)" + plaintextToTLSHint, status: .ioError)
    }
    try checkReply()
    if closedUncleanly {
      // The reply is complete by the count the mode promises, so nothing was cut off; a
      // mode without such a count cannot tell truncation from the end.
      guard mode.repliesWithSameLength || mode == .sink || mode == .discard else {
        throw ClientFailure(
          "the server closed the connection without close_notify after \(received) bytes: "
            + "the reply may be truncated", status: .ioError)
      }
      let how = resetAfterReply ? "reset the connection" : "closed without close_notify"
      StandardIO.printError("echo-client: warning: the server \(how) (the reply was complete)")
    }
  }

  /// A TLS server drops a plaintext client that sent something that is not TLS, often without
  /// a word (what it sent was too short to be a record in error): nothing came back at all.
  private var plaintextToTLSHint: String {
    received == 0 && stream.tlsStream == nil
      ? " (if the server speaks TLS, leave out --plaintext)" : ""
  }

  /// What the server's mode promises for what was sent.
  private func checkReply() throws(ClientFailure) {
    if mode.repliesWithSameLength && received != sent {
      let ending = resetAfterReply ? "reset the connection" : "ended without close_notify"
      let hint =
        !plaintextToTLSHint.isEmpty
        ? plaintextToTLSHint
        : replyStart.starts(with: Array("sink: ".utf8))
          ? " (the server runs --mode sink: pass --mode sink)"
          : closedUncleanly
            ? " (the server \(ending))"
            : ""
      throw ClientFailure(
        "the echo is incomplete: \(sent) bytes sent, \(received) echoed" + hint, status: .ioError)
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
          if mode == .reverse,
            let end = input[inputStart..<inputStart + count].lastIndex(of: UInt8(ascii: "\n"))
          {
            sentThroughLastLine = sent + (end - inputStart) + 1
          }
          inputStart += count
          sent += count
          progressed = true
        case .wantWrite: needWritable = true
        case .wantRead: break
        case .closed: return
        }
      } else if inputEnded && !outputClosed && (echoIsBack || echoWaitExpired) {
        switch try stream.closeOutput() {
        case .done, .closed:
          outputClosed = true
          progressed = true
        case .wantWrite: needWritable = true
        case .wantRead: break
        }
      }

      let step: StreamStep
      do {
        step = try stream.read(into: output)
      } catch {
        // (A `catch .tls(let e) where` pattern here crashes the Swift 6.3 compiler.)
        guard endsWithoutCloseNotify(error) else { throw error }
        closedUncleanly = true
        return
      }
      switch step {
      case .done(let count):
        do {
          try StandardIO.writeAll(
            StandardIO.output, UnsafeRawBufferPointer(rebasing: output[..<count]))
        } catch {
          // Not the connection: whoever reads our output stopped (`| head`).
          throw ClientFailure("cannot write to stdout: \(error.reason)", status: .ioError)
        }
        received += count
        if replyStart.count < 256 {
          replyStart += UnsafeRawBufferPointer(rebasing: output[..<min(count, 256)])
        }
        lastReply = MonotonicClock.milliseconds()
        progressed = true
      case .wantRead: break
      case .wantWrite: needWritable = true
      case .closed: return
      }

      if !progressed { try waitForEvents(needWritable: needWritable) }
    }
  }

  /// The server ended without close_notify: it closed, or, once the whole echo is back and our
  /// close_notify went out, it reset (a server that closes with our close_notify unread sends
  /// a reset instead of a FIN). Either way nothing of the reply is missing.
  private func endsWithoutCloseNotify(_ error: TransportError) -> Bool {
    switch error {
    case .tls(let tls) where tls.kind == .uncleanEOF: return true
    case .tls(let tls) where tls.kind == .io && tls.code == ECONNRESET:
      resetAfterReply = outputClosed && mode.repliesWithSameLength && received == sent
      return resetAfterReply
    case .socket(let socket) where socket.isConnectionReset:
      resetAfterReply = outputClosed && mode.repliesWithSameLength && received == sent
      return resetAfterReply
    default: return false
    }
  }

  /// Whether everything sent has come back, for a mode that answers byte for byte. Until then
  /// our close_notify (or FIN) waits: a TLS 1.2 server may answer it by dropping what it still
  /// had to write (RFC 5246 7.2.1), and some servers stop echoing on a FIN.
  private var echoIsBack: Bool {
    switch mode {
    case .reverse: received >= sentThroughLastLine
    default: !mode.repliesWithSameLength || received >= sent
    }
  }

  private var echoWaitExpired: Bool {
    MonotonicClock.milliseconds() - max(lastReply, inputEndedAt) >= Int64(replyTimeoutMilliseconds)
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
    // Waiting for the rest of an echo is bounded; everything else waits for an event.
    let waitingForEcho = inputEnded && inputStart == inputEnd && !outputClosed
    let waited = MonotonicClock.milliseconds() - max(lastReply, inputEndedAt)
    // Once the wait is over, the close is under way and waits for the socket like any write.
    let timeout =
      waitingForEcho && !echoWaitExpired
      ? Int32(clamping: max(1, Int64(replyTimeoutMilliseconds) - waited)) : -1
    try SystemCall.blocking("poll") { poll(&events, nfds_t(count), timeout) }
    if wantsInput && events[1].revents != 0 {
      let count = try StandardIO.read(StandardIO.input, into: input)
      inputStart = 0
      inputEnd = count
      if count == 0 {
        inputEnded = true
        inputEndedAt = MonotonicClock.milliseconds()
      }
    }
  }
}
