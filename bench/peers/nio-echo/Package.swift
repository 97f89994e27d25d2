// swift-tools-version: 6.0
// nio-echo: the TLS echo server a SwiftNIO programmer would write, for `make bench` to compare
// against. Built by `make bench` into .build-bench/nio; not part of SecureEcho.
import PackageDescription

let package = Package(
  name: "nio-echo",
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
  ],
  targets: [
    .executableTarget(
      name: "nio-echo",
      dependencies: [
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ]
    )
  ],
  swiftLanguageModes: [.v6]
)
