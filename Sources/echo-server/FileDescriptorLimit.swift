import CLinux

#if canImport(Glibc)
  import Glibc
#endif

/// RLIMIT_NOFILE: every connection is a descriptor, so the soft limit (often 1,024) would cap the
/// server long before memory does. Raising it to the hard limit needs no privilege.
enum FileDescriptorLimit {
  /// The hard limit: the most descriptors this process could ever have (nil if unknown).
  static func hardLimit() -> Int? {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
    return Int(clamping: limit.rlim_max)
  }

  /// Raises the soft limit to the hard limit and returns the limit now in force.
  static func raiseToHardLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
      var raised = limit
      raised.rlim_cur = limit.rlim_max
      if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
    }
    return Int(clamping: limit.rlim_cur)
  }
}
