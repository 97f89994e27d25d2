#!/usr/bin/env python3
"""Sends TLS records of chosen sizes in one TCP write and reports the records that come back.

The tests use it to see record boundaries, which no TLS client API shows: it runs the TLS
connection over memory BIOs (one thread, one socket), writes each payload as its own record,
sends them all at once, then reads the server's records off the socket one by one, decrypting
each alone, and prints JSON: {"records": [plaintext length of each data record], "reply": "..."}.

usage: tls_records.py PORT CAFILE PAYLOAD... [--tls 1.2|1.3] [--expect N] [--servername NAME]
  --expect N         bytes of reply to wait for (default: the sum of the payloads)
  --servername NAME  the name to ask for and verify (default: localhost)

The JSON also has "handshake_records": the length on the wire (after the 5-byte header) of
each record the server sent before the handshake was done.
"""
import argparse
import json
import socket
import ssl
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("cafile")
    parser.add_argument("payloads", nargs="+")
    parser.add_argument("--tls", choices=["1.2", "1.3"], default="1.3")
    parser.add_argument("--expect", type=int)
    parser.add_argument("--servername", default="localhost")
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.cafile)
    version = ssl.TLSVersion.TLSv1_3 if args.tls == "1.3" else ssl.TLSVersion.TLSv1_2
    context.minimum_version = context.maximum_version = version
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=15)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=args.servername)
    pending = bytearray()
    handshake_records = []

    def flush():
        data = outgoing.read()
        if data:
            sock.sendall(data)

    def next_record():
        """The next whole TLS record from the socket, as bytes."""
        while True:
            if len(pending) >= 5:
                length = int.from_bytes(pending[3:5], "big")
                if len(pending) >= 5 + length:
                    record = bytes(pending[: 5 + length])
                    del pending[: 5 + length]
                    return record
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed the connection")
            pending.extend(chunk)

    def read_record():
        """Feeds one record to TLS; returns the application bytes it carried."""
        incoming.write(next_record())
        data = bytearray()
        while True:
            try:
                data.extend(tls.read(65536))
            except ssl.SSLWantReadError:
                flush()
                return bytes(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            record = next_record()
            handshake_records.append(len(record) - 5)
            incoming.write(record)
    flush()

    # A first round trip, so that tickets and anything else the server sends after the
    # handshake have come before the records under test.
    tls.write(b"x")
    flush()
    while read_record() != b"x":
        pass

    for payload in args.payloads:
        tls.write(payload.encode())  # one write, one record
    flush()  # all of them in one TCP write
    expected = args.expect if args.expect is not None else sum(len(p) for p in args.payloads)
    records, reply = [], bytearray()
    while len(reply) < expected:
        data = read_record()
        if data:
            records.append(len(data))
            reply.extend(data)
    json.dump(
        {
            "records": records,
            "reply": reply.decode("utf-8", "replace"),
            "handshake_records": handshake_records,
        },
        sys.stdout,
    )
    print()
    try:
        tls.unwrap()
    except (ssl.SSLWantReadError, ssl.SSLError):
        pass
    flush()
    sock.close()


if __name__ == "__main__":
    main()
