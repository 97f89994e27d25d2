import Logging
import TLS

/// The one line a closed connection leaves in the log.
enum ConnectionLog {
  static func closed(
    _ connection: Connection, _ reason: CloseReason, _ detail: String?, loop: LoopContext,
    logger: Logger
  ) {
    let now = loop.now
    // A health check is the balancer's business; at info it would be a line every few seconds.
    let level: Logger.Level = reason == .healthCheck ? .debug : .info
    guard logger.logLevel <= level else { return }
    let transport = connection.transport
    var metadata: Logger.Metadata = [
      "peer": "\(connection.peer)", "transport": "\(transport.name)",
      "mode": "\(connection.serviceName)",
      "bytes_in": .stringConvertible(connection.bytesIn),
      "bytes_out": .stringConvertible(connection.bytesOut),
      "duration_ms": .stringConvertible(now - connection.openedAt),
      "reason": "\(reason.name)",
    ]
    if let detail { metadata["detail"] = "\(detail)" }
    if let faults = connection.faultSpelling { metadata["faults"] = "\(faults)" }
    if let scenario = connection.scenario { metadata["scenario"] = "\(scenario.rawValue)" }
    for (key, value) in connection.proxy?.fields ?? [] { metadata[key] = "\(value)" }
    if let tls = transport.tlsStream {
      if let hello = connection.hello(loop) {
        metadata["ja4"] = "\(hello.ja4)"
        metadata["ja3_md5"] = "\(hello.ja3MD5)"
        if hello.helloRetried { metadata["hello_retry"] = .stringConvertible(true) }
        if let error = hello.error { metadata["hello_error"] = "\(error)" }
        if let hex = hello.hex { metadata["hello_hex"] = "\(hex)" }
      }
      if let name = tls.requestedServerName { metadata["server_name"] = "\(name)" }
      if connection.hasStarted {
        metadata["tls_version"] = "\(tls.protocolVersion)"
        metadata["cipher"] = "\(tls.cipher)"
        metadata["resumed"] = .stringConvertible(tls.isResumed)
        if let group = tls.negotiatedGroup { metadata["group"] = "\(group)" }
        if let alpn = tls.alpnProtocol { metadata["alpn"] = "\(alpn)" }
        if let subject = tls.peerCertificateSubject { metadata["client_subject"] = "\(subject)" }
      }
    }
    logger.log(level: level, "connection closed", metadata: metadata)
  }
}
