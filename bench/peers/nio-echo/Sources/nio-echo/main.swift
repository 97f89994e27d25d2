// An idiomatic SwiftNIO echo: one event loop per core, NIOSSL (BoringSSL) for TLS, write what
// is read, flush on read-complete, stop reading while the channel is not writable.
//
// usage: nio-echo --cert CERT --key KEY [--plaintext] [--port 0] [--threads N]
// Prints "listening on HOST:PORT" once it accepts connections.
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
  import Glibc
#endif

final class EchoHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    context.write(data, promise: nil)
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    context.flush()
  }

  // Backpressure: a client that does not read stops us reading from it.
  func channelWritabilityChanged(context: ChannelHandlerContext) {
    let writable = context.channel.isWritable
    context.channel.setOption(ChannelOptions.autoRead, value: writable).whenComplete { _ in }
    if writable { context.read() }
    context.fireChannelWritabilityChanged()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }
}

var cert: String?
var key: String?
var plaintext = false
var port = 0
var threads = System.coreCount
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
  switch argument {
  case "--cert": cert = arguments.next()
  case "--key": key = arguments.next()
  case "--plaintext": plaintext = true
  case "--port": port = Int(arguments.next() ?? "0") ?? 0
  case "--threads": threads = Int(arguments.next() ?? "") ?? threads
  default:
    print("nio-echo: unknown argument \(argument)")
    exit(64)
  }
}

let sslContext: NIOSSLContext?
if plaintext {
  sslContext = nil
} else {
  guard let cert, let key else {
    print("nio-echo: --cert and --key are needed (or --plaintext)")
    exit(64)
  }
  var configuration = TLSConfiguration.makeServerConfiguration(
    certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
  configuration.minimumTLSVersion = .tlsv12
  sslContext = try NIOSSLContext(configuration: configuration)
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let bootstrap = ServerBootstrap(group: group)
  .serverChannelOption(ChannelOptions.backlog, value: 1024)
  .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
  .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
  .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
  .childChannelInitializer { channel in
    channel.eventLoop.makeCompletedFuture {
      if let sslContext {
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
      }
      try channel.pipeline.syncOperations.addHandler(EchoHandler())
    }
  }
let channel = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
// Straight to the descriptor: the bench waits for this line, so it must not sit in a buffer.
var line = "listening on 127.0.0.1:\(channel.localAddress?.port ?? 0)\n"
line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
try channel.closeFuture.wait()
