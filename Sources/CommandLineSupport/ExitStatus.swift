import ArgumentParser
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// Exit statuses from sysexits(3). Each typed error maps to one here, so the status a script
/// sees depends on what failed, never on the wording of a message.
public enum ExitStatus: Int32, Sendable {
  /// The run worked but did not produce what was asked for (no session to save).
  case failure = 1
  /// A bad option or combination of options.
  case usage = 64
  /// An input file exists but its contents are wrong (not PEM, wrong key, not an OCSP response).
  case dataError = 65
  /// An input file is missing or unreadable.
  case noInput = 66
  /// A host name does not resolve.
  case noHost = 68
  /// The service is unavailable: cannot bind, connect, or complete a handshake.
  case unavailable = 69
  /// An internal error.
  case software = 70
  /// The operating system refused a resource (threads, signalfd, descriptors).
  case osError = 71
  /// An output file cannot be created.
  case cannotCreate = 73
  /// A connection failed while in use.
  case ioError = 74

  public var exitCode: ExitCode { ExitCode(rawValue) }
}

extension TLSError {
  public var exitStatus: ExitStatus {
    switch kind {
    case .fileAccess: code == ENOENT || code == EACCES || code == ENOTDIR ? .noInput : .osError
    case .configuration: .dataError
    case .handshake, .verification, .uncleanEOF: .unavailable
    case .io, .protocolError: .ioError
    }
  }
}

extension SocketError {
  public var exitStatus: ExitStatus {
    switch domain {
    case .resolver: .noHost
    case .logic: .unavailable
    case .system:
      switch code {
      case EADDRINUSE, EADDRNOTAVAIL, EACCES, ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH,
        EAFNOSUPPORT:
        .unavailable
      case ECONNRESET, EPIPE, ECONNABORTED: .ioError
      default: .osError
      }
    }
  }
}

extension TransportError {
  public var exitStatus: ExitStatus {
    switch self {
    case .socket(let error): error.exitStatus
    case .tls(let error): error.exitStatus
    }
  }
}
