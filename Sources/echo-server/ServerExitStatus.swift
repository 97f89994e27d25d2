import CommandLineSupport
import EchoServer

extension ServerError {
  /// sysexits(3) for a server that could not start.
  var exitStatus: ExitStatus {
    switch self {
    case .listen(let error): error.exitStatus
    case .resources: .osError
    }
  }
}
