import Foundation

/// Where the tests find the package, the built executables and the development certificates.
enum Locations {
  /// The package root, found by walking up from this file to `Package.swift` so that moving the
  /// support files does not silently break every test.
  static let repositoryRoot: URL = {
    var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while directory.path != "/" {
      if FileManager.default.fileExists(
        atPath: directory.appendingPathComponent("Package.swift").path)
      {
        return directory
      }
      directory.deleteLastPathComponent()
    }
    fatalError("no Package.swift above \(#filePath)")
  }()

  static let certificates = repositoryRoot.appendingPathComponent("certs")
  static var caCertificate: URL { certificates.appendingPathComponent("ca.crt") }
  static var serverCertificate: URL { certificates.appendingPathComponent("server.crt") }
  static var serverKey: URL { certificates.appendingPathComponent("server.key") }

  /// The directory holding `echo-server` and `echo-client`. SwiftPM builds the test bundle next
  /// to them, so the running test binary's directory is the right one for whatever triple and
  /// configuration was built; `SECUREECHO_BIN_DIR` overrides it (e.g. to test a release build).
  static let binaryDirectory: URL = {
    if let override = ProcessInfo.processInfo.environment["SECUREECHO_BIN_DIR"], !override.isEmpty {
      return URL(fileURLWithPath: override)
    }
    var candidates: [URL] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      candidates.append(
        URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent())
    }
    candidates.append(repositoryRoot.appendingPathComponent(".build/debug"))
    for candidate in candidates
    where FileManager.default.isExecutableFile(
      atPath: candidate.appendingPathComponent("echo-server").path)
    {
      return candidate
    }
    return candidates[0]
  }()

  static func executable(_ name: String) throws -> URL {
    let url = binaryDirectory.appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: url.path) else {
      throw TestFailure(
        "no executable '\(name)' in \(binaryDirectory.path): run `swift build --build-tests` "
          + "or set SECUREECHO_BIN_DIR")
    }
    return url
  }

  /// The `openssl` command line tool, from PATH.
  static func openssl() throws -> URL { try tool("openssl") }

  /// A command from PATH, or nil.
  static func find(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").lazy.map {
      URL(fileURLWithPath: String($0)).appendingPathComponent(name)
    }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
  }

  /// A command from PATH; fails the test with how to get it when it is missing.
  static func tool(_ name: String) throws -> URL {
    guard let url = find(name) else {
      throw TestFailure("no `\(name)` command in PATH: `.ci/run` installs it, see README")
    }
    return url
  }

  /// Whether a test that needs `name` should run: when it is installed, and always under CI
  /// (`.ci/run` sets SECUREECHO_REQUIRE_TOOLS=1 after installing them), so that a missing tool
  /// fails CI instead of skipping quietly.
  static func canRun(with name: String) -> Bool {
    find(name) != nil || ProcessInfo.processInfo.environment["SECUREECHO_REQUIRE_TOOLS"] == "1"
  }

  /// The test scripts (Python) beside the tests.
  static let scripts = repositoryRoot.appendingPathComponent("Tests/Scripts")

  /// Fails with a useful message instead of a puzzling handshake error when `make certs` has
  /// not been run.
  static func requireDevelopmentCertificates() throws {
    for file in [caCertificate, serverCertificate, serverKey]
    where !FileManager.default.fileExists(atPath: file.path) {
      throw TestFailure("missing \(file.path): run `make certs`")
    }
  }
}

/// A failure of the test harness itself (a missing tool, a process that would not start), told
/// in words so the test report says what to fix.
struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
