import ProxyProtocol
import Sockets

/// `--proxy-protocol`, `--proxy-from` and `--proxy-required`: which headers a connection may
/// start with, and from whom.
public struct ProxySettings: Sendable {
  /// The header versions accepted (`any`: both). The specification forbids guessing whether a
  /// header is there, so a trusted source must send one of these.
  public var versions: Set<ProxyVersion>
  /// The balancers: sources whose connections start with a header.
  public var trusted: [AddressRange]
  /// Whether a source outside `trusted` is refused rather than served without a header.
  public var required: Bool

  public init(versions: Set<ProxyVersion>, trusted: [AddressRange], required: Bool = false) {
    self.versions = versions
    self.trusted = trusted
    self.required = required
  }

  public func trusts(_ peer: SocketAddress) -> Bool {
    trusted.contains { $0.contains(peer) }
  }
}
