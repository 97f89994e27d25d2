import TLS
import TLSHello

/// `--report`: what the client offered and what was negotiated, sent to the client as the
/// first bytes of its connection: one JSON object on one line, or a readable block.
public enum ReportFormat: String, Sendable, CaseIterable {
  case json, text
}

/// The report of one handshake, built once when it ends from the captured hello and the
/// stream's negotiated facts.
struct HandshakeReport {
  /// Ordered (key, value) pairs, so that JSON and text show the same things in the same order.
  enum Value {
    case string(String?)
    case number(Int)
    case bool(Bool)
    case list([String])
    case object([(String, Value)])
  }

  let fields: [(String, Value)]

  init(
    hello: Result<ClientHello, ClientHelloError>?, records: Int, helloRetried: Bool,
    stream: TLSStream, instance: String, peer: String, proxy: ProxyFacts?,
    handshakeMilliseconds: Int64, faults: String? = nil, scenario: String? = nil
  ) {
    var certificate: Value = .string(nil)
    if let subject = stream.peerCertificateSubject {
      certificate = .object([
        ("subject", .string(subject)), ("issuer", .string(stream.peerCertificateIssuer)),
        ("serial", .string(stream.peerCertificateSerial)),
        ("verify", .string(stream.verificationResult)),
      ])
    }
    let negotiated: [(String, Value)] = [
      ("version", .string(stream.protocolVersion)), ("cipher", .string(stream.cipher)),
      ("group", .string(stream.negotiatedGroup)), ("signature", .string(stream.signature)),
      ("alpn", .string(stream.alpnProtocol)), ("server_name", .string(stream.requestedServerName)),
      ("resumed", .bool(stream.isResumed)), ("hello_retry", .bool(helloRetried)),
      ("handshake_ms", .number(Int(handshakeMilliseconds))), ("client_certificate", certificate),
    ]
    var fields: [(String, Value)] = [("instance", .string(instance)), ("peer", .string(peer))]
    // What the server does to this connection on purpose (faults, a certificate scenario).
    if faults != nil || scenario != nil {
      fields.append(("faults", .string(faults)))
      fields.append(("scenario", .string(scenario)))
    }
    if let proxy {
      // The balancer in front, and what its header said beside the client's address.
      fields.append(("proxy", .object(proxy.fields.map { ($0.0, .string($0.1)) })))
    }
    fields.append(("negotiated", .object(negotiated)))
    switch hello {
    case .success(let hello):
      let prints = Fingerprints(hello, digests: .openSSL)
      fields.append(
        (
          "fingerprints",
          .object([
            ("ja4", .string(prints.ja4)), ("ja4_r", .string(prints.ja4r)),
            ("ja4_o", .string(prints.ja4o)), ("ja4_ro", .string(prints.ja4ro)),
            ("ja3", .string(prints.ja3)), ("ja3_md5", .string(prints.ja3MD5)),
            ("ja3n", .string(prints.ja3n)), ("ja3n_md5", .string(prints.ja3nMD5)),
          ])
        ))
      fields.append(("client_hello", .object(Self.describe(hello, records: records))))
    case .failure(let error):
      fields.append(("client_hello", .object([("error", .string(error.description))])))
    case nil:
      fields.append(("client_hello", .string(nil)))
    }
    self.fields = fields
  }

  private static func describe(_ hello: ClientHello, records: Int) -> [(String, Value)] {
    func names(_ values: [UInt16], _ name: (UInt16) -> String) -> Value { .list(values.map(name)) }
    return [
      ("length", .number(hello.length + 4)), ("records", .number(records)),
      ("legacy_version", .string(TLSNames.version(hello.legacyVersion))),
      ("supported_versions", names(hello.supportedVersions, TLSNames.version)),
      ("cipher_suites", names(hello.cipherSuites, TLSNames.cipherSuite)),
      ("extensions", names(hello.extensions.map(\.type), TLSNames.extensionType)),
      ("groups", names(hello.groups, TLSNames.group)),
      ("key_share_groups", names(hello.keyShareGroups, TLSNames.group)),
      ("signature_algorithms", names(hello.signatureAlgorithms, TLSNames.signatureScheme)),
      ("signature_algorithms_cert", names(hello.signatureAlgorithmsCert, TLSNames.signatureScheme)),
      ("alpn", .list(hello.alpn.map { String(decoding: $0, as: UTF8.self) })),
      ("server_name", .string(hello.serverName)),
      (
        "psk_modes",
        .list(hello.pskModes.map { $0 == 1 ? "psk_dhe_ke" : $0 == 0 ? "psk_ke" : "\($0)" })
      ),
      ("point_formats", .list(hello.pointFormats.map(String.init))),
      ("compression_methods", .list(hello.compressionMethods.map(String.init))),
      ("session_id_length", .number(hello.sessionIDLength)),
    ]
  }

  func rendered(_ format: ReportFormat) -> [UInt8] {
    switch format {
    case .json: Array(("{" + Self.json(fields) + "}\n").utf8)
    case .text: Array(("SecureEcho handshake report\n" + Self.text(fields, indent: "  ")).utf8)
    }
  }

  private static func json(_ fields: [(String, Value)]) -> String {
    fields.map { key, value in ServerLogHandler.quote(key) + ":" + json(value) }
      .joined(separator: ",")
  }

  private static func json(_ value: Value) -> String {
    switch value {
    case .string(let text): text.map(ServerLogHandler.quote) ?? "null"
    case .number(let number): "\(number)"
    case .bool(let flag): flag ? "true" : "false"
    case .list(let items): "[" + items.map(ServerLogHandler.quote).joined(separator: ",") + "]"
    case .object(let fields): "{" + json(fields) + "}"
    }
  }

  private static func text(_ fields: [(String, Value)], indent: String) -> String {
    fields.map { key, value in
      switch value {
      case .object(let inner): "\(indent)\(key):\n" + text(inner, indent: indent + "  ")
      case .string(let text): "\(indent)\(key): \(text ?? "none")\n"
      case .number(let number): "\(indent)\(key): \(number)\n"
      case .bool(let flag): "\(indent)\(key): \(flag ? "yes" : "no")\n"
      case .list(let items):
        "\(indent)\(key): \(items.isEmpty ? "none" : items.joined(separator: ", "))\n"
      }
    }.joined()
  }
}
