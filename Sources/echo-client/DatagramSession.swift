import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// `--udp` and `--dtls`: one datagram out, its echo back, each within the datagram timeout;
/// one that does not come back is lost, and counted. Interactive: a datagram per line, shown as
/// `>line` (or `(lost)`). Pipe: stdin in datagrams of `--datagram-size`, each echo written to
/// stdout as it comes, and a summary at the end; any loss is a failure, as the output is then
/// not the input.
final class DatagramSession {
  private let link: DatagramLink
  private let size: Int
  private let timeoutMilliseconds: Int32
  private var sent = 0
  private var echoed = 0
  private var lost = 0
  /// Datagrams that came back but were not the one awaited: a late echo of a lost one.
  private var strays = 0
  /// Room for any datagram and one byte more.
  private let buffer = UnsafeMutableRawBufferPointer.allocate(
    byteCount: Socket.maximumDatagram + 1, alignment: 16)

  init(link: DatagramLink, size: Int, timeoutMilliseconds: Int32) {
    self.link = link
    self.size = size
    self.timeoutMilliseconds = timeoutMilliseconds
  }

  deinit { buffer.deallocate() }

  func interactive() throws(ClientFailure) {
    while true {
      try write(":", to: StandardIO.output)
      guard let line = readLine(strippingNewline: true), !line.isEmpty else { break }
      let datagram = Array(line.utf8.prefix(Socket.maximumDatagram))
      if try exchange(datagram) {
        try write(">\(line)\n", to: StandardIO.output)
      } else {
        try write("(lost: no echo within \(seconds) s)\n", to: StandardIO.output)
      }
    }
    try summary(failOnLoss: false)
  }

  func pipe() throws(ClientFailure) {
    var chunk = [UInt8](repeating: 0, count: size)
    while true {
      let count = try readInput(into: &chunk)
      if count == 0 { break }
      let datagram = Array(chunk[..<count])
      if try exchange(datagram) {
        do {
          try datagram.withBytes { (bytes) throws(SocketError) in
            try StandardIO.writeAll(StandardIO.output, bytes)
          }
        } catch {
          throw ClientFailure("writing the echo to stdout: \(error)", status: .ioError)
        }
      }
    }
    try summary(failOnLoss: true)
  }

  /// Sends `datagram` and waits for the same bytes to come back. False: lost.
  private func exchange(_ datagram: [UInt8]) throws(ClientFailure) -> Bool {
    try datagram.withBytes { (bytes) throws(ClientFailure) in try link.send(bytes) }
    sent += 1
    let deadline = MonotonicClock.milliseconds() + Int64(timeoutMilliseconds)
    while true {
      let left = Int32(clamping: deadline - MonotonicClock.milliseconds())
      guard left > 0,
        let count = try link.receive(into: buffer, timeoutMilliseconds: left)
      else {
        lost += 1
        return false
      }
      if count == datagram.count && buffer[..<count].elementsEqual(datagram) {
        echoed += 1
        return true
      }
      strays += 1
    }
  }

  /// Up to `size` bytes of stdin: a full datagram unless input ends first.
  private func readInput(into chunk: inout [UInt8]) throws(ClientFailure) -> Int {
    var filled = 0
    while filled < chunk.count {
      let count = chunk.withUnsafeMutableBytes { space in
        Glibc.read(StandardIO.input, space.baseAddress! + filled, space.count - filled)
      }
      if count == 0 { break }
      if count < 0 {
        if errno == EINTR { continue }
        throw ClientFailure(
          "reading stdin: \(String(cString: strerror(errno)))", status: .ioError)
      }
      filled += count
    }
    return filled
  }

  private func summary(failOnLoss: Bool) throws(ClientFailure) {
    link.close()
    let line =
      "\(sent) datagram\(sent == 1 ? "" : "s") sent, \(echoed) echoed, \(lost) lost"
      + (strays > 0 ? ", \(strays) late or stray" : "")
    if failOnLoss && lost > 0 {
      throw ClientFailure(
        "\(line): the output misses what was lost (--datagram-timeout \(seconds) s)",
        status: .ioError)
    }
    StandardIO.printError("echo-client: \(line)")
  }

  private var seconds: String {
    let value = Double(timeoutMilliseconds) / 1000
    return value == value.rounded() ? "\(Int(value))" : "\(value)"
  }

  private func write(_ text: String, to descriptor: Int32) throws(ClientFailure) {
    do { try StandardIO.write(text, to: descriptor) } catch {
      throw ClientFailure("writing to the terminal: \(error)", status: .ioError)
    }
  }
}

/// What a datagram session sends through: a connected UDP socket, or DTLS over one.
enum DatagramLink {
  case udp(Socket)
  case dtls(TLSStream)

  func send(_ bytes: UnsafeRawBufferPointer) throws(ClientFailure) {
    do {
      switch self {
      case .udp(let socket):
        _ = try socket.write(bytes)
      case .dtls(let stream):
        try Transport.tls(stream).sendAll(bytes)
      }
    } catch {
      throw ClientFailure("sending a datagram: \(error)\(Self.hint(error))", status: .ioError)
    }
  }

  /// One datagram (the payload of one DTLS record) into `buffer`, or nil if none came within
  /// `timeoutMilliseconds`.
  func receive(
    into buffer: UnsafeMutableRawBufferPointer, timeoutMilliseconds: Int32
  ) throws(ClientFailure) -> Int? {
    do {
      switch self {
      case .udp(let socket):
        guard try socket.waitUntil(writable: false, timeoutMilliseconds: timeoutMilliseconds)
        else { return nil }
        guard case .processed(let count) = try socket.read(into: buffer) else { return nil }
        return count
      case .dtls(let stream):
        return try DTLSReceive.next(stream, into: buffer, timeoutMilliseconds: timeoutMilliseconds)
      }
    } catch let failure as ClientFailure {
      throw failure
    } catch {
      throw ClientFailure("receiving a datagram: \(error)\(Self.hint(error))", status: .ioError)
    }
  }

  /// Ends the session: DTLS tells the server with close_notify (without waiting for its own:
  /// nothing more is read), so that it need not wait for its idle timeout.
  func close() {
    if case .dtls(let stream) = self { _ = try? stream.shutdown() }
  }

  /// A connected UDP socket learns from the ICMP answer that nothing listens on the port.
  private static func hint(_ error: Error) -> String {
    "\(error)".contains("Connection refused")
      ? " (nothing listens on that UDP port: is the server running with --udp or --dtls?)" : ""
  }
}
