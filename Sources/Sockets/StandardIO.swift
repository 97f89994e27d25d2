#if canImport(Glibc)
  import Glibc
#endif

/// Whole-buffer reads and writes on plain descriptors (stdin, stdout, stderr), with the same
/// errno discipline as sockets. The executables use these instead of `FILE*`, whose globals
/// Swift 6 treats as shared mutable state and whose buffering would reorder output.
public enum StandardIO {
  public static let input: Int32 = 0
  public static let output: Int32 = 1
  public static let error: Int32 = 2

  /// Writes every byte of `bytes` to `descriptor`, looping over partial writes.
  public static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer)
    throws(SocketError)
  {
    var offset = 0
    while offset < bytes.count {
      let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
      offset += try syscall("write") { Glibc.write(descriptor, rest.baseAddress, rest.count) }
    }
  }

  public static func write(_ text: String, to descriptor: Int32) throws(SocketError) {
    var text = text
    // `withUTF8` only rethrows untyped errors, so the typed one is carried out by hand.
    let failure = text.withUTF8 { bytes -> SocketError? in
      do throws(SocketError) {
        try writeAll(descriptor, UnsafeRawBufferPointer(bytes))
        return nil
      } catch {
        return error
      }
    }
    if let failure { throw failure }
  }

  /// Writes `line` and a newline to stderr, ignoring failure: there is nowhere left to report it.
  public static func printError(_ line: String) {
    try? write(line + "\n", to: error)
  }

  /// Reads what is available into `buffer`; 0 means end of input.
  public static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer)
    throws(SocketError) -> Int
  {
    try syscall("read") { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
  }

  public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }
}
