import ArgumentParser
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

extension ParsableCommand {
  /// Parses and runs the command like `main()`, but reports a usage error as one line,
  /// `echo-server: Unknown option '--bogus' (see 'echo-server --help')`, instead of the message
  /// and the whole usage text. Help and version requests print as usual.
  public static func mainReportingOneLineErrors() -> Never {
    do {
      var command = try parseAsRoot()
      try command.run()
      Glibc.exit(0)
    } catch {
      let code = exitCode(for: error)
      let message = fullMessage(for: error)
      if code == .success || (error as? CleanExit) != nil { exit(withError: error) }
      let name = configuration.commandName ?? "command"
      // Errors the command already reported carry only an exit code and no message.
      if let line = message.split(separator: "\n").first {
        let text = line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : String(line)
        StandardIO.printError("\(name): \(text) (see '\(name) --help')")
      }
      Glibc.exit(code.rawValue)
    }
  }
}
