import CTLS
import TLSHello

/// One-shot digests through OpenSSL's EVP, for the fingerprints (TLSHello takes its hash
/// functions from its caller, so that it needs no crypto library of its own).
public enum Digest {
  public static func md5(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, md5Method.pointer) }
  public static func sha256(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, sha256Method.pointer) }

  /// Fetched once: OpenSSL 3.0 looks `EVP_md5()` up in its provider tables, under a lock, on
  /// every digest it is used for. Never freed: they live as long as the process.
  private static let md5Method = FetchedDigest("MD5")
  private static let sha256Method = FetchedDigest("SHA256")

  private static func digest(_ bytes: [UInt8], _ type: OpaquePointer?) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    let ok = bytes.withUnsafeBytes { input in
      output.withUnsafeMutableBufferPointer { out in
        EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, type, nil)
      }
    }
    // Only an unavailable algorithm fails (MD5 in a FIPS-only build): no fingerprint, not a trap.
    return ok == 1 ? Array(output.prefix(Int(length))) : []
  }
}

/// An `EVP_MD` from `EVP_MD_fetch`, shared by every thread (fetched methods are immutable).
private final class FetchedDigest: @unchecked Sendable {
  let pointer: OpaquePointer?
  init(_ name: String) { pointer = EVP_MD_fetch(nil, name, nil) }
}

extension Fingerprints.Digests {
  public static let openSSL = Fingerprints.Digests(md5: Digest.md5, sha256: Digest.sha256)
}
