import CTLS
import Faults

/// What the C callbacks of one connection read and record, reached from its `SSL` through
/// ex_data: C callbacks cannot capture. Its `TLSStream` owns it for as long as the `SSL` lives,
/// and only the thread driving that `SSL` touches it, so it needs no lock.
final class ConnectionCallbackState {
  private static let exDataIndex: Int32 = ctls_get_ex_new_index()

  // Server.
  /// The faults of the listener the connection came in on.
  let defaultFaults: FaultPlan
  /// Decided in the first ClientHello (a second one, after a HelloRetryRequest, keeps it).
  var decision: HandshakeDecision?
  /// The ClientHello callback held the handshake (`handshake-stall`): it goes no further.
  var handshakeSuspended = false

  // Client.
  /// What the server said it applied (`scenario=expired;faults=delay-100`).
  var announcement: String?
  /// The stapled OCSP response said the server's certificate is revoked (and was signed by
  /// its issuer): why the handshake failed.
  var revocation: String?

  init(defaultFaults: FaultPlan = .none) { self.defaultFaults = defaultFaults }

  func attach(to ssl: OpaquePointer) {
    _ = SSL_set_ex_data(ssl, Self.exDataIndex, Unmanaged.passUnretained(self).toOpaque())
  }

  static func of(_ ssl: OpaquePointer?) -> ConnectionCallbackState? {
    guard let ssl, let raw = SSL_get_ex_data(ssl, exDataIndex) else { return nil }
    return Unmanaged<ConnectionCallbackState>.fromOpaque(raw).takeUnretainedValue()
  }
}
