import Sockets
import TLS

/// `echo-client --report`: asks the server for its handshake report by the server name
/// `report.NAME` (so nothing else the client sends changes) and prints it: readable, or the
/// server's JSON line as it came with `--json`.
enum ReportSession {
  /// A report is a few KiB; a server sending more without a line end is not sending one.
  static let maximumLength = 256 * 1024

  static func run(_ transport: Transport, json: Bool) throws(ClientFailure) {
    var line: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    do {
      while !line.contains(UInt8(ascii: "\n")) {
        let count = try buffer.withUnsafeMutableBytes { (space) throws(TransportError) in
          try transport.receive(into: space)
        }
        guard count > 0, line.count + count <= maximumLength else {
          throw ClientFailure(
            "no handshake report from the server (is it echo-server with a certificate for "
              + "report.NAME?)", status: .unavailable)
        }
        line += buffer[..<count]
      }
      _ = try? transport.closeOutput()
    } catch let failure as ClientFailure {
      throw failure
    } catch {
      throw ClientFailure("reading the handshake report: \(error)", status: .ioError)
    }
    let text = String(decoding: line.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    guard text.hasPrefix("{") else {
      throw ClientFailure(
        "the server sent no JSON report: '\(text.prefix(60))'", status: .unavailable)
    }
    try? StandardIO.write((json ? text : indented(text)) + "\n", to: StandardIO.output)
  }

  /// The JSON laid out one field per line, nested objects indented: a reader for people that
  /// needs no JSON library, as the server writes no JSON it would need one for.
  static func indented(_ json: String) -> String {
    var out = ""
    var depth = 0
    var inString = false
    var escaped = false
    func newline() { out += "\n" + String(repeating: "  ", count: depth) }
    for character in json {
      if inString {
        out.append(character)
        if escaped {
          escaped = false
        } else if character == "\\" {
          escaped = true
        } else if character == "\"" {
          inString = false
        }
        continue
      }
      switch character {
      case "\"":
        inString = true
        out.append(character)
      case "{":
        out.append(character)
        depth += 1
        newline()
      case "}":
        depth -= 1
        newline()
        out.append(character)
      case ",":
        out.append(character)
        // Inside a list the values stay on one line; between fields a new one starts.
        if !out.reversed().drop(while: { $0 != "[" && $0 != "]" && $0 != "\n" }).starts(with: "[") {
          newline()
        } else {
          out.append(" ")
        }
      case ":": out += ": "
      default: out.append(character)
      }
    }
    return out
  }
}
