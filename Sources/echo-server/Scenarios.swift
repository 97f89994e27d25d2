import ArgumentParser
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// `--scenarios DIR`: each certificate scenario is one more SNI identity, for the name
/// `<scenario>.scenario.localhost`, from `DIR/<scenario>.crt` and `.key` (made by
/// certs/scenarios.sh). A client asking for that name gets that certificate and nothing else
/// changes: the handshake fails, or not, on the client's side, as it would against a server
/// misconfigured that way.
extension EchoServerCommand {
  /// The scenarios, as the files and server names are called.
  static let scenarioNames = [
    "expired", "not-yet-valid", "wrong-host", "self-signed", "untrusted-root", "incomplete-chain",
  ]
  static let scenarioSuffix = "scenario.localhost"

  func scenarioIdentities() throws -> [TLSConfiguration.NamedIdentity] {
    guard let directory = scenarios else { return [] }
    var status = stat()
    guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
      throw ValidationError(
        "--scenarios '\(directory)' is not a directory (run 'make certs' to create certs/scenarios)"
      )
    }
    let missing = Self.scenarioNames.filter { name in
      ["crt", "key"].contains { access("\(directory)/\(name).\($0)", F_OK) != 0 }
    }
    guard missing.isEmpty else {
      throw ValidationError(
        "--scenarios '\(directory)' lacks \(missing.map { "\($0).crt/.key" }.joined(separator: ", ")) "
          + "(run 'make certs' to make them)")
    }
    return Self.scenarioNames.map { name in
      .init(
        serverName: "\(name).\(Self.scenarioSuffix)",
        certificateChainFile: "\(directory)/\(name).crt", privateKeyFile: "\(directory)/\(name).key"
      )
    }
  }
}
