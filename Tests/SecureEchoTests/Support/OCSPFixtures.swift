import Foundation

/// A "good" OCSP response for `certificate` (issued by the development CA), signed by the
/// development CA, made with `openssl ocsp` acting as its own responder.
func makeOCSPResponse(
  for certificate: URL, in scratch: TemporaryDirectory, name: String = "response"
) async throws -> URL {
  let serial = try await runOpenSSL(["x509", "-in", certificate.path, "-noout", "-serial"])
    .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    .replacingOccurrences(of: "serial=", with: "")
  let index = scratch.file("\(name)-index.txt")
  try "V\t991231235959Z\t\t\(serial)\tunknown\t/CN=localhost\n".write(
    to: index, atomically: true, encoding: .utf8)
  let request = scratch.file("\(name)-request.der")
  let response = scratch.file("\(name).der")
  let ca = DevelopmentIdentity.ca
  try await runOpenSSL([
    "ocsp", "-issuer", ca.certificate.path, "-cert", certificate.path, "-no_nonce",
    "-reqout", request.path,
  ])
  try await runOpenSSL([
    "ocsp", "-index", index.path, "-rsigner", ca.certificate.path, "-rkey", ca.key.path,
    "-CA", ca.certificate.path, "-reqin", request.path, "-respout", response.path, "-ndays", "1",
  ])
  return response
}
