import TLS
import TLSHello

/// What the close line says of the client's ClientHello: its fingerprints, made once from the
/// captured bytes, which are then let go (a held connection keeps only these few strings).
struct HelloFacts {
  var ja4: String
  var ja3MD5: String
  var helloRetried: Bool
  /// Why the hello could not be read (then the fingerprints are empty).
  var error: String?
  /// The hello itself in hex, kept only at `--log-level trace` (for checking the fingerprints
  /// with another implementation).
  var hex: String?

  /// The hello itself, parsed, for a report built at the same time; not kept.
  private(set) var parsed: Result<ClientHello, ClientHelloError>?
  var records = 0

  /// nil when no ClientHello came (a client that sent nothing, or not TLS).
  init?(taking stream: TLSStream, keepingBytes: Bool) {
    guard let capture = stream.helloCapture, let bytes = capture.take() else { return nil }
    helloRetried = capture.helloRetried
    records = capture.records
    hex = keepingBytes ? bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() : nil
    let result = ClientHello.parse(bytes, keepingExtensionData: false)
    parsed = result
    switch result {
    case .success(let hello):
      (ja4, ja3MD5) = Fingerprints.summary(hello, digests: .openSSL)
      error = nil
    case .failure(let failure):
      (ja4, ja3MD5, error) = ("", "", failure.description)
    }
  }

  /// Lets the parsed hello go once the report, if any, is built.
  mutating func dropParsed() { parsed = nil }
}
