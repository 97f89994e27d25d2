import CLinux
import Faults
import Logging
import ProxyProtocol
import Sockets
import TLS

#if canImport(Glibc)
  import Glibc
#endif

/// Accepting and admitting. Every accepted connection is counted once in `accepted` and, in
/// the end, once in exactly one `closed_<reason>`: refused at the limit, refused for want of
/// descriptors, failed to set up, or closed after serving.
extension ServerLoop {
  func acceptConnections(on listener: Int32) {
    // Bounded so one loop does not take a burst that the others could share; the listener is
    // level-triggered and reports what is left.
    for _ in 0..<64 {
      do {
        switch try Socket.accept(listener: listener) {
        case .wouldBlock: return
        case .processed(let (socket, address)):
          admit(socket, peer: address, faults: listenerFaults[listener] ?? .none)
        }
      } catch  where error.isConnectionReset {
        continue
      } catch  where error.isDescriptorExhaustion {
        if !shedConnection(on: listener) { pauseAccepting(listener, error) }
        return
      } catch  where error.code == EINVAL {
        // The server shut the listener down to stop accepting; stop watching it.
        epoll.remove(listener)
        listeners.removeAll { $0 == listener }
        return
      } catch {
        // Out of memory or buffers: the listener stays readable, so waiting for epoll again
        // would spin; stop accepting for a moment instead.
        pauseAccepting(listener, error)
        return
      }
    }
  }

  /// Out of descriptors: frees the spare one to accept the waiting connection and refuse it,
  /// rather than leave it queued. Returns false when there is no spare to do it with.
  private func shedConnection(on listener: Int32) -> Bool {
    guard spareDescriptor >= 0 else { return false }
    Glibc.close(spareDescriptor)
    if case .processed(let (socket, address))? = try? Socket.accept(listener: listener) {
      refuse(socket, peer: address, because: .refusedNoDescriptors)
    }
    spareDescriptor = Self.openSpare()
    return true
  }

  /// Takes `listener` out of epoll for 100 ms after an accept failure that would otherwise
  /// repeat at once (level-triggered), and warns at most once a second.
  private func pauseAccepting(_ listener: Int32, _ error: SocketError) {
    if now - lastAcceptWarning >= 1000 {
      lastAcceptWarning = now
      logger.warning("accept failed; pausing new connections for 100 ms: \(error)")
    }
    epoll.remove(listener)
    listeners.removeAll { $0 == listener }
    pausedListeners.append(listener)
    acceptResumeAt = now + 100
  }

  func resumeAcceptingIfDue() {
    guard let resumeAt = acceptResumeAt, now >= resumeAt else { return }
    acceptResumeAt = nil
    for listener in pausedListeners {
      do {
        try epoll.add(listener, [.readable, .exclusive], token: UInt64(listener))
        listeners.append(listener)
      } catch {
        logger.error("cannot watch the listener again: \(error)")
      }
    }
    pausedListeners = []
  }

  private func refuse(_ socket: Socket, peer: SocketAddress, because reason: CloseReason) {
    socket.close()
    countRefusal(peer: peer, because: reason)
  }

  /// A connection refused before it was set up: counted as accepted once its reason is (see
  /// `store`).
  func countRefusal(peer: SocketAddress, because reason: CloseReason) {
    statistics.closed(reason)
    statistics.accepted.add(1)
    refusals.note(reason, peer: peer, now: now, logger: logger)
  }

  /// `faults`: those of the listener it came in on.
  private func admit(_ socket: Socket, peer: SocketAddress, faults: FaultPlan) {
    var proxyHeader: ProxyHeaderParser?
    var untrusted = false
    if let proxy = context.proxy {
      if proxy.settings.trusts(peer) {
        proxyHeader = proxy.parser
      } else if proxy.settings.required {
        statistics.proxyHeader(.untrustedRefused)
        return refuse(socket, peer: peer, because: .refusedUntrusted)
      } else {
        untrusted = true
      }
    }
    guard control.admitConnection() else {
      return refuse(socket, peer: peer, because: .refusedAtLimit)
    }
    // Served as itself: the specification forbids looking for a header it might send.
    if untrusted { statistics.proxyHeader(.untrustedDirect) }
    // A client that goes away between accept and here costs only this connection.
    var transport = Transport.plain(socket)
    do {
      // TCP_NODELAY comes from the listener (Socket.listening).
      if let tls = control.currentTLS {
        transport = .tls(
          try TLSStream(socket: socket, context: tls, eventLoopIO: true, faults: faults))
      }
      try epoll.add(socket.descriptor, .readable, token: UInt64(socket.descriptor))
    } catch {
      transport.close()
      return setupFailed(peer: peer, error)
    }
    // Plaintext has no ClientHello to decide in: the listener's faults are drawn now.
    let connection = Connection(
      transport: transport, peer: peer.description, proxyHeader: proxyHeader,
      service: context.service, loop: context,
      faults: transport.isTLS || faults.isEmpty ? [] : faults.chosen { Int.random(in: 0..<100) })
    if context.logsDebug {
      logger.debug(
        "accepted",
        metadata: [
          "peer": "\(peer)", "transport": "\(transport.name)",
          "descriptor": .stringConvertible(connection.descriptor),
        ])
    }
    store(connection)
    timers.schedule(connection, at: connection.nextDeadline(context))
    // A service that speaks first (chargen, source) starts without waiting for the client
    // (behind a balancer, once its header is in), and faults take hold from the accept.
    if !transport.isTLS && proxyHeader == nil
      && (context.service.mode.serverSpeaksFirst || !connection.faults.isEmpty)
    {
      drive(connection)
    }
  }

  /// An admitted connection that could not be set up (no memory, no descriptor): it gives back
  /// its place and is counted as an error.
  func setupFailed(peer: SocketAddress, _ error: any Error) {
    control.releaseConnection()
    statistics.closed(.error)
    statistics.accepted.add(1)
    // Info, like every per-connection line: under memory pressure there may be one per
    // connection, and they must not grow the log buffer without bound.
    logger.info(
      "connection setup failed",
      metadata: ["peer": "\(peer)", "reason": "error", "detail": "\(error)"])
  }
}
