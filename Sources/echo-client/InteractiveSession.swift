import Sockets
import TLS

/// Interactive mode: a prompt `:`, one line out, its echo shown as `>line`.
final class InteractiveSession {
  private let stream: Transport

  init(transport: Transport) { self.stream = transport }

  func run() throws(ClientFailure) {
    do {
      try converse()
    } catch let failure as ClientFailure {
      throw failure
    } catch {
      let hint = ClientHints.afterHandshake(error)
      throw ClientFailure(
        "connection failed: \(error)" + hint, status: hint.isEmpty ? .ioError : .unavailable)
    }
  }

  private func converse() throws {
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
      try StandardIO.write(":", to: StandardIO.output)
      guard let line = readLine(strippingNewline: true), !line.isEmpty else { break }
      let message = Array((line + "\n").utf8)
      try message.withUnsafeBytes { try stream.sendAll($0) }
      var reply: [UInt8] = []
      while reply.count < message.count {
        let count = try buffer.withUnsafeMutableBytes { try stream.receive(into: $0) }
        if count == 0 {
          throw ClientFailure(
            "the server closed the connection before echoing the line", status: .ioError)
        }
        reply.append(contentsOf: buffer[..<count])
      }
      if reply.last == UInt8(ascii: "\n") { reply.removeLast() }
      try StandardIO.write(
        ">" + String(decoding: reply, as: UTF8.self) + "\n", to: StandardIO.output)
    }
    // End the session politely: our close first, then the server's.
    _ = try? stream.closeOutput()
    while let count = try? buffer.withUnsafeMutableBytes({ try stream.receive(into: $0) }),
      count > 0
    {}
  }
}
