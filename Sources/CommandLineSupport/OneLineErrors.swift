import ArgumentParser
import Sockets

#if canImport(Glibc)
  import Glibc
#endif

extension ParsableCommand {
  /// Parses and runs the command like `main()`, but reports a usage error as one line,
  /// `echo-server: Unknown option '--bogus' (see 'echo-server --help')`, instead of the message
  /// and the whole usage text, pointing at the help of the subcommand that failed. Help and
  /// version requests print as usual.
  public static func mainReportingOneLineErrors() -> Never {
    let arguments = Array(CommandLine.arguments.dropFirst())
    do {
      var command = try parseAcceptingNegativeValues(arguments)
      try command.run()
      Glibc.exit(0)
    } catch {
      let code = exitCode(for: error)
      let message = fullMessage(for: error)
      if code == .success || (error as? CleanExit) != nil { exit(withError: error) }
      // Errors the command already reported carry only an exit code and no message.
      let lines = message.split(separator: "\n")
      if let line = lines.first {
        var text = line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : String(line)
        // "Please provide one of the following:" comes with the values as a list below it.
        let values = lines.dropFirst().prefix { $0.hasPrefix("  - ") }.map { $0.dropFirst(4) }
        if !values.isEmpty { text += " " + values.joined(separator: ", ") }
        let help = helpCommand(arguments)
        StandardIO.printError("\(configuration.commandName ?? "command"): \(text) (see '\(help)')")
      }
      Glibc.exit(code.rawValue)
    }
  }

  /// ArgumentParser reads `--port -1` as an option without its value and `-1` as an unknown
  /// flag; the user meant the number. Parsed again as `--port=-1`, the value reaches the
  /// command's own range check, which says what the range is.
  private static func parseAcceptingNegativeValues(
    _ arguments: [String]
  ) throws -> ParsableCommand {
    do {
      return try parseAsRoot(arguments)
    } catch {
      let joined = joiningNegativeNumbers(arguments)
      guard joined != arguments else { throw error }
      return try parseAsRoot(joined)
    }
  }

  static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
    var result: [String] = []
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      if argument.hasPrefix("--"), !argument.contains("="), index + 1 < arguments.count,
        isNegativeNumber(arguments[index + 1])
      {
        result.append("\(argument)=\(arguments[index + 1])")
        index += 2
      } else {
        result.append(argument)
        index += 1
      }
    }
    return result
  }

  private static func isNegativeNumber(_ text: String) -> Bool {
    text.hasPrefix("-") && text.count > 1 && Double(text) != nil
  }

  /// `echo-client bench --help` when the command line chose that subcommand. (ArgumentParser's
  /// own message names the root when an option group shared with the root fails.)
  private static func helpCommand(_ arguments: [String]) -> String {
    let root = configuration.commandName ?? "command"
    let subcommands = configuration.subcommands.compactMap { $0.configuration.commandName }
    let chosen = arguments.prefix { $0 != "--" }.first { subcommands.contains($0) }
    return chosen.map { "\(root) \($0) --help" } ?? "\(root) --help"
  }
}
