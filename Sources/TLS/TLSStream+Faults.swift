import CTLS
import Faults

/// What a server's faults and certificate scenarios need of a TLS connection: the decision
/// made in its ClientHello, and the means to misbehave on purpose after it.
extension TLSStream {
  /// The faults and certificate scenario this connection was given in its ClientHello; nil on
  /// a server without faults or scenarios, or before the ClientHello came.
  public var handshakeDecision: HandshakeDecision? { callbackState?.decision }

  /// The handshake is held in the ClientHello callback (`handshake-stall`) and goes no
  /// further: the connection waits for its deadline.
  public var isHandshakeSuspended: Bool { callbackState?.handshakeSuspended ?? false }

  /// Client: what a SecureEcho server said it applied (`scenario=expired;faults=delay-100`), or
  /// nil when it applied nothing or is another server.
  public var serverAnnouncement: String? { callbackState?.announcement }

  /// Most plaintext bytes per record this connection sends (`small-records`: less than 16 KiB).
  public var recordSize: Int {
    guard case .smallRecords(let size)? = handshakeDecision?.fault(.smallRecords) else {
      return 16_384
    }
    return size
  }

  /// TLS 1.3: the next write starts with a KeyUpdate (`keyupdate`); `requested` asks the
  /// peer to update its own keys too. False over TLS 1.2, which has no KeyUpdate.
  public func updateKeys(requested: Bool) -> Bool {
    let type = requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED
    defer { OpenSSLErrorQueue.clear() }
    return SSL_version(ssl) == TLS1_3_VERSION && SSL_key_update(ssl, type) == 1
  }

  /// `truncate`: the next record goes out only in part (its header and half its body), and
  /// nothing after it; the caller then ends the TCP stream.
  public func cutNextRecord() { endpoint?.cutNextRecord() }

  /// Whether a record has been cut: what the connection still writes goes nowhere.
  public var hasCutRecord: Bool { endpoint?.hasCut ?? false }
}
