// swift-tools-version: 6.0
import PackageDescription

let package = Package(
  name: "SecureEcho",
  products: [
    .executable(name: "echo-server", targets: ["echo-server"]),
    .executable(name: "echo-client", targets: ["echo-client"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
  ],
  targets: [
    // The system OpenSSL 3, with the macros Swift cannot import wrapped as functions.
    .systemLibrary(
      name: "CTLS",
      pkgConfig: "openssl",
      providers: [.apt(["libssl-dev"])]
    ),
    // Linux headers that `import Glibc` does not bring in (epoll, eventfd, TCP options).
    .systemLibrary(name: "CLinux"),
    .target(name: "Sockets", dependencies: ["CLinux"]),
    .target(name: "TLS", dependencies: ["CTLS", "Sockets", "TLSHello", "Faults"]),
    // What the service modes send and expect, as pure values: patterns, line reversal, the sink
    // report. Shared by the server and the load generator, testable without sockets.
    .target(name: "StreamServices"),
    // The ClientHello as a value, JA3 and JA4: pure parsing, no OpenSSL, fuzzed in the tests.
    .target(name: "TLSHello"),
    // The PROXY protocol header as a value: pure parsing, no sockets.
    .target(name: "ProxyProtocol"),
    // The faults a connection can be given, as values: the grammar of `--fault` and of fault
    // server names. No sockets, no OpenSSL.
    .target(name: "Faults"),
    // The load generator behind `echo-client bench`: event loops like the server's.
    .target(
      name: "LoadGenerator",
      dependencies: [
        "Sockets", "TLS", "StreamServices", "ProxyProtocol",
        .product(name: "Histogram", package: "hdrhistogram-swift"),
      ]
    ),
    .target(
      name: "CommandLineSupport",
      dependencies: [
        "Sockets", "TLS", "StreamServices",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .target(
      name: "EchoServer",
      dependencies: [
        "Sockets", "TLS", "CLinux", "StreamServices", "TLSHello", "ProxyProtocol", "Faults",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]
    ),
    .executableTarget(
      name: "echo-server",
      dependencies: [
        "EchoServer", "Sockets", "TLS", "CommandLineSupport", "StreamServices", "ProxyProtocol",
        "Faults", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .executableTarget(
      name: "echo-client",
      dependencies: [
        "Sockets", "TLS", "CLinux", "CommandLineSupport", "LoadGenerator", "StreamServices",
        "ProxyProtocol", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .testTarget(
      name: "SecureEchoTests",
      dependencies: [
        "Sockets", "TLS", "CTLS", "EchoServer", "StreamServices", "LoadGenerator", "TLSHello",
        "ProxyProtocol", "Faults",
      ]
    ),
  ],
  swiftLanguageModes: [.v6]
)
