import Sockets

/// Why the server could not start: the operation and the cause, ready to print.
public enum ServerError: Error, CustomStringConvertible {
  /// Binding, listening or resolving failed (the address is taken, not this machine's...).
  case listen(SocketError)
  /// A thread, an epoll set or another resource of the process could not be had.
  case resources(String, String)

  public var description: String {
    switch self {
    case .listen(let error): error.description
    case .resources(let operation, let reason): "\(operation): \(reason)"
    }
  }
}
