import ArgumentParser
import EchoServer
import Logging
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// The server's certificates and TLS settings: loaded at start, read again on SIGHUP.
extension EchoServerCommand {
  func loadTLS() throws -> TLSContext {
    do {
      return try TLSContext(try tlsConfiguration(), role: .server)
    } catch let error as TLSError {
      throw fail(error.description + hint(error), status: error.exitStatus)
    }
  }

  /// The server's TLS settings from the command line; read again on every reload.
  private func tlsConfiguration() throws -> TLSConfiguration {
    var configuration = TLSConfiguration.server(
      certificateChainFile: certFile, privateKeyFile: keyFile)
    tls.apply(to: &configuration)
    configuration.trustedCAFile = clientCa
    configuration.clientVerification = verifyClient
    configuration.namedIdentities = try namedIdentities()
    faultOptions.apply(to: &configuration)
    configuration.datagram = datagrams.dtls
    if let mtu = datagrams.dtlsMtu { configuration.datagramMTU = mtu }
    configuration.sessionTickets = !noTickets
    configuration.ticketLifetime = ticketLifetime ?? 7200
    configuration.ocspResponseFile = ocspResponse
    return configuration
  }

  /// `--sni NAME=CERT,KEY` values, parsed.
  func namedIdentities() throws -> [TLSConfiguration.NamedIdentity] {
    try sni.map { value in
      let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
      let files = parts.count == 2 ? parts[1].split(separator: ",").map(String.init) : []
      guard parts.count == 2, !parts[0].isEmpty, files.count == 2 else {
        throw ValidationError("--sni must be NAME=CERT,KEY, not '\(value)'")
      }
      return .init(serverName: parts[0], certificateChainFile: files[0], privateKeyFile: files[1])
    }
  }

  /// SIGHUP: new handshakes get the files as they are now; a bad file keeps the old ones.
  /// Returns the context now in service, or nil if nothing changed.
  func reload(
    _ server: EchoServer, replacing current: TLSContext?, _ logger: Logger
  ) -> TLSContext? {
    guard let current else {
      logger.notice("SIGHUP ignored: plaintext mode has no certificate to reload")
      return nil
    }
    do {
      // The ticket keys carry over, so clients holding tickets still resume after a reload.
      let context = try TLSContext(try tlsConfiguration(), role: .server, replacing: current)
      server.replaceTLS(context)
      logger.notice("certificate reloaded", metadata: ["cert": "\(certFile)", "key": "\(keyFile)"])
      return context
    } catch {
      logger.error(
        "certificate reload failed; still serving the previous certificate",
        metadata: ["error": "\(error)"])
      return nil
    }
  }

  private func hint(_ error: TLSError) -> String {
    let usingDefaults = cert == nil && key == nil
    let aboutDefaults = [certFile, keyFile].contains { error.operation.contains("'\($0)'") }
    return usingDefaults && aboutDefaults && error.kind == .fileAccess && error.code == ENOENT
      ? " (run 'make certs' to create the development certificates, or pass --cert and --key)" : ""
  }
}
