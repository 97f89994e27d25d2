/// `withUnsafeBytes` that keeps a typed error: the standard library's version rethrows
/// `any Error`, which would force every typed-throws caller on the data path to lose its type.
extension Array where Element == UInt8 {
  @inline(__always)
  public func withBytes<R, E: Error>(
    _ body: (UnsafeRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    let result: Result<R, E> = withUnsafeBytes { bytes in
      do throws(E) { return .success(try body(bytes)) } catch { return .failure(error) }
    }
    return try result.get()
  }
}
