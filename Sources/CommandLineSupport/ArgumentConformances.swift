import ArgumentParser
import StreamServices
import TLS

// The library types both executables take on their command lines, parsed by their raw values.
extension TLSConfiguration.Profile: ExpressibleByArgument {}
extension TLSConfiguration.Version: ExpressibleByArgument {}
extension TLSConfiguration.ClientVerification: ExpressibleByArgument {}
extension ServiceMode: ExpressibleByArgument {}
