/// Why the server could not start: the operation and the cause, ready to print.
public enum ServerError: Error, CustomStringConvertible {
  /// Binding, listening or another setup step failed.
  case startup(String, String)

  public var description: String {
    switch self {
    case .startup(let operation, let reason): "\(operation): \(reason)"
    }
  }
}
