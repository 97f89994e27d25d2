import Foundation
import Testing

/// `make install` and `make uninstall` into a scratch DESTDIR, as a packager runs them: the
/// executables, their man pages (rendered without a warning) and the shell completions.
/// Serialized: `make install` writes the man pages again while the other tests read them.
@Suite(
  "make install", .serialized, .timeLimit(.minutes(2)),
  .enabled(
    if: Locations.canRun(with: "make") && Locations.canRun(with: "man")
      && Locations.canRun(with: "groff")))
struct InstallTests {
  /// `make install` only copies what `make` built (`make test` builds it first), so it never
  /// starts a build while the test runner holds the build folder.
  private func make(_ target: String, destination: URL) async throws -> CommandResult {
    try await runCommand(
      try Locations.tool("make"),
      [
        "--no-print-directory", target, "DESTDIR=\(destination.path)",
        "PREFIX=/opt/secureecho",
      ],
      timeoutSeconds: 90)
  }

  @Test(
    "install puts executables, man pages and completions under DESTDIR/PREFIX; uninstall removes them"
  )
  func installAndUninstall() async throws {
    let scratch = try TemporaryDirectory("install")
    defer { scratch.remove() }
    let root = scratch.url
    let installed = try await make("install", destination: root)
    try #require(installed.termination == .exit(0), "\(installed.stderr)")

    let prefix = root.appendingPathComponent("opt/secureecho")
    let files = [
      "bin/echo-server", "bin/echo-client", "share/man/man1/echo-server.1",
      "share/man/man1/echo-client.1", "share/bash-completion/completions/echo-server",
      "share/bash-completion/completions/echo-client", "share/zsh/site-functions/_echo-server",
      "share/zsh/site-functions/_echo-client",
      "share/fish/vendor_completions.d/echo-server.fish",
      "share/fish/vendor_completions.d/echo-client.fish",
    ]
    for file in files {
      #expect(
        FileManager.default.fileExists(atPath: prefix.appendingPathComponent(file).path), "\(file)")
    }
    for tool in ["echo-server", "echo-client"] {
      let version = try await runCommand(
        prefix.appendingPathComponent("bin/\(tool)"), ["--version"])
      #expect(
        version.termination == .exit(0) && version.stdoutText.first?.isNumber == true,
        "\(version.stdoutText)")
    }

    let uninstalled = try await make("uninstall", destination: root)
    #expect(uninstalled.termination == .exit(0), "\(uninstalled.stderr)")
    for file in files {
      #expect(
        !FileManager.default.fileExists(atPath: prefix.appendingPathComponent(file).path),
        "\(file) left")
    }
  }

  @Test(
    "the man pages render with man -l and groff without a warning",
    arguments: ["echo-server", "echo-client"])
  func manPage(_ tool: String) async throws {
    let page = Locations.repositoryRoot.appendingPathComponent(".build/share/man/\(tool).1")
    try #require(FileManager.default.fileExists(atPath: page.path), "run `make man` first")
    let environment = ["LC_ALL": "C.UTF-8", "MANWIDTH": "100"]
    let rendered = try await runCommand(
      try Locations.tool("man"), ["--warnings", "-l", page.path], environment: environment)
    #expect(rendered.termination == .exit(0))
    #expect(rendered.stderr.isEmpty, "man warnings: \(rendered.stderr)")
    let text = rendered.stdoutText
    for section in ["NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS", "EXAMPLES"] {
      #expect(text.contains("\n\(section)\n"), "no \(section) section")
    }
    #expect(text.contains(tool == "echo-server" ? "--listen" : "SSLKEYLOGFILE"))
    let groff = try await runCommand(
      try Locations.tool("groff"), ["-man", "-ww", "-z", "-Tutf8", page.path],
      environment: environment)
    #expect(groff.termination == .exit(0) && groff.stderr.isEmpty, "groff: \(groff.stderr)")
  }

  @Test("make cert refuses a development certificate's own name and a name that is not DNS")
  func certRefusals() async throws {
    let key = Locations.certificates.appendingPathComponent("server.key")
    let before = try Data(contentsOf: key)
    for name in ["server", "ca", "bad name"] {
      let result = try await runCommand(
        try Locations.tool("make"), ["--no-print-directory", "cert", "NAME=\(name)"])
      #expect(result.termination != .exit(0), "make cert NAME=\(name) succeeded")
      #expect(result.stderr.contains("make cert:"), "\(result.stderr)")
    }
    #expect(try Data(contentsOf: key) == before, "server.key was replaced")
  }

  @Test("the bash completion completes the options")
  func bashCompletion() async throws {
    let script = Locations.repositoryRoot.appendingPathComponent(
      ".build/share/completions/echo-server.bash")
    try #require(
      FileManager.default.fileExists(atPath: script.path), "run `make completions` first")
    let result = try await runCommand(
      try Locations.tool("bash"),
      ["-c", "source \"$0\" && complete -p echo-server", script.path])
    #expect(result.termination == .exit(0), "\(result.stderr)")
    #expect(result.stdoutText.contains("echo-server"), "\(result.stdoutText)")
  }
}
