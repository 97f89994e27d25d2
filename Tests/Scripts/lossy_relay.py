#!/usr/bin/env python3
"""A UDP relay between one client and a server that drops chosen datagrams, to see a lost
DTLS flight sent again.

It binds 127.0.0.1 on a free port, prints that port on a line, and relays: datagrams from its
first client to the server, and the server's back to that client. The server's datagrams are
counted from 1; those whose numbers are given with --drop-server are dropped (the client's,
with --drop-client, and every one after the first N with --drop-client-after N); the
client's whose numbers are given with --duplicate-client go to the server twice. Each drop is
reported on stderr as "dropped server 2 (108 bytes)", and each of the server's DTLS handshake
records that passes as "passed server 3 (1024 bytes, handshake 11)", with its message type.
Ends after --seconds, or when stdin closes.

usage: lossy_relay.py SERVER_PORT [--drop-server N ...] [--drop-client N ...]
                      [--drop-client-after N] [--duplicate-client N ...] [--seconds S]
"""
import argparse
import selectors
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server_port", type=int)
    parser.add_argument("--drop-server", type=int, action="append", default=[])
    parser.add_argument("--drop-client", type=int, action="append", default=[])
    parser.add_argument("--drop-client-after", type=int)
    parser.add_argument("--duplicate-client", type=int, action="append", default=[])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()

    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", 0))
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.connect(("127.0.0.1", args.server_port))
    print(front.getsockname()[1], flush=True)

    selector = selectors.DefaultSelector()
    selector.register(front, selectors.EVENT_READ, "client")
    selector.register(back, selectors.EVENT_READ, "server")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    client = None
    counts = {"client": 0, "server": 0}
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for key, _ in selector.select(timeout=0.2):
            if key.data == "stdin":
                if not sys.stdin.readline():
                    return
                continue
            if key.data == "client":
                data, address = front.recvfrom(65536)
                client = client or address
                if address != client:
                    continue
            else:
                try:
                    data = back.recv(65536)
                except ConnectionRefusedError:
                    continue
            counts[key.data] += 1
            drops = args.drop_client if key.data == "client" else args.drop_server
            silenced = key.data == "client" and args.drop_client_after is not None \
                and counts["client"] > args.drop_client_after
            if counts[key.data] in drops or silenced:
                print(f"dropped {key.data} {counts[key.data]} ({len(data)} bytes)",
                      file=sys.stderr, flush=True)
                continue
            if key.data == "client":
                back.send(data)
                if counts["client"] in args.duplicate_client:
                    back.send(data)
            elif client is not None:
                # A DTLS handshake record: content type 22, the message type after the
                # 13-byte record header.
                if len(data) > 13 and data[0] == 22:
                    print(f"passed server {counts['server']} ({len(data)} bytes, handshake "
                          f"{data[13]})", file=sys.stderr, flush=True)
                front.sendto(data, client)


if __name__ == "__main__":
    main()
