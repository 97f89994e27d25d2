/// What the server does with a connection once it carries data: the service stage of its life.
/// The same spellings are `echo-server --mode` and `echo-client --mode`.
public enum ServiceMode: String, Sendable, CaseIterable {
  /// Every byte back, coalescing what has already arrived into one write.
  case echo
  /// TLS only: each record back as one record of the same length.
  case record
  /// Each line (LF-terminated) back reversed, like `openssl s_server -rev`.
  case reverse
  /// RFC 863: read and drop.
  case discard
  /// RFC 864: the rotating 72-column pattern until the client closes.
  case chargen
  /// A binary pattern (`SourcePattern`), up to `--bytes`, then a clean close.
  case source
  /// Read until the client's end of input, then answer one `SinkReport` line and close.
  case sink

  /// Whether the mode means something only over TLS.
  public var needsTLS: Bool { self == .record }

  /// Whether the server sends without waiting for the client (so a silent client has started).
  public var serverSpeaksFirst: Bool { self == .chargen || self == .source }

  /// What a client gets back for `sent` bytes: the same length (echo, record, reverse), or
  /// something else.
  public var repliesWithSameLength: Bool { self == .echo || self == .record || self == .reverse }
}
