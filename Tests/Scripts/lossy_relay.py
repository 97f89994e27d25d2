#!/usr/bin/env python3
"""A UDP relay between one client and a server that drops chosen datagrams, to see a lost
DTLS flight sent again.

It binds 127.0.0.1 on a free port, prints that port on a line, and relays: datagrams from its
first client to the server, and the server's back to that client. The server's datagrams are
counted from 1; those whose numbers are given with --drop-server are dropped (the client's,
with --drop-client). Each drop is reported on stderr as "dropped server 2 (108 bytes)".
Ends after --seconds, or when stdin closes.

usage: lossy_relay.py SERVER_PORT [--drop-server N ...] [--drop-client N ...] [--seconds S]
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
            if counts[key.data] in drops:
                print(f"dropped {key.data} {counts[key.data]} ({len(data)} bytes)",
                      file=sys.stderr, flush=True)
                continue
            if key.data == "client":
                back.send(data)
            elif client is not None:
                front.sendto(data, client)


if __name__ == "__main__":
    main()
