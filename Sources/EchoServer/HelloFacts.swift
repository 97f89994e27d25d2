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

  /// Takes the stream's captured hello; nil when none came (a client that sent nothing, or not
  /// TLS). `parsed` gets the parsed hello and its record count, for a report built at once:
  /// it is not kept here, where it would stay with every held connection.
  init?(
    taking stream: TLSStream, keepingBytes: Bool,
    parsed: inout (hello: Result<ClientHello, ClientHelloError>, records: Int)?
  ) {
    guard let captured = stream.takeClientHello() else { return nil }
    let bytes = captured.message
    helloRetried = captured.helloRetried
    hex = keepingBytes ? Fingerprints.hex(bytes) : nil
    let result = ClientHello.parse(bytes, keepingExtensionData: false)
    parsed = (result, captured.records)
    switch result {
    case .success(let hello):
      (ja4, ja3MD5) = Fingerprints.summary(hello, digests: .openSSL)
      error = nil
    case .failure(let failure):
      (ja4, ja3MD5, error) = ("", "", failure.description)
    }
  }
}
