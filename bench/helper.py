#!/usr/bin/env python3
"""Small helpers for bench/run.sh: ports, process CPU and memory, `openssl speed` parsing.

  helper.py port                      a free TCP port on 127.0.0.1 (bound to 0, then released)
  helper.py wait-listen PORT SECONDS  exit 0 once something listens on 127.0.0.1:PORT
  helper.py cpu PID...                CPU seconds of the PIDs and all their live descendants,
                                      as "total user system": utime+cutime and stime+cstime
                                      (cutime/cstime hold the children already reaped, so
                                      forking servers count whole)
  helper.py descendants PID           the PIDs below PID, deepest first
  helper.py speed KIND FILE           parse `openssl speed` output: KIND is aes (16384-byte
                                      column, bytes/s), ecdsa (sign/s) or x25519 (op/s)
"""
import os
import re
import socket
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            address, state = fields[1], fields[3]
            host, hexport = address.split(":")
            if state == "0A" and int(hexport, 16) == port and host in ("0100007F", "00000000"):
                return True
    return False


def stat(pid):
    """(ppid, (user, system) ticks incl. reaped children) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces or ')'
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + cutime, stime + cstime)


def process_table():
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = stat(int(entry))
            if s:
                table[int(entry)] = s
    return table


def descendants(pid, table):
    children = {}
    for child, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(child)
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def cpu(pids):
    table = process_table()
    user = system = 0
    for pid in pids:
        for p in [pid] + descendants(pid, table):
            if p in table:
                user += table[p][1][0]
                system += table[p][1][1]
    return user / TICKS, system / TICKS


def speed(kind, path):
    text = open(path).read()
    if kind == "aes":
        header = re.search(r"^type\s+(.*)$", text, re.M)
        row = re.search(r"^AES-128-GCM\s+(.*)$", text, re.M | re.I)
        columns = header.group(1).split("bytes")
        sizes = [c.strip() for c in columns if c.strip()]
        values = row.group(1).split()
        value = values[sizes.index("16384")]
        return float(value.rstrip("k")) * 1000
    if kind == "ecdsa":
        row = re.search(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+(\S+)\s+(\S+)", text)
        return float(row.group(1))
    if kind == "x25519":
        row = re.search(r"ecdh \(X25519\)\s+\S+s\s+(\S+)", text)
        return float(row.group(1))
    raise SystemExit(f"unknown speed kind {kind}")


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "port":
        print(free_port())
    elif command == "wait-listen":
        port, deadline = int(argv[2]), time.monotonic() + float(argv[3])
        while not listening(port):
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.05)
    elif command == "cpu":
        user, system = cpu([int(p) for p in argv[2:]])
        print(f"{user + system:.2f} {user:.2f} {system:.2f}")
    elif command == "descendants":
        found = descendants(int(argv[2]), process_table())
        print(" ".join(str(p) for p in reversed(found)))
    elif command == "speed":
        print(f"{speed(argv[2], argv[3]):.1f}")
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
