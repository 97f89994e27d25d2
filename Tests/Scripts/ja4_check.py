#!/usr/bin/env python3
"""Checks echo-server's JA4 against an independent implementation (PyPI ja4plus).

Reads the server's JSON log (--log-format json --log-level trace) from the file given. For
every closed TLS connection whose line carries the client's hello (`hello_hex`), it wraps the
hello in a TLS record, computes JA4 with ja4plus, and compares it with the `ja4` the server
logged. Prints one line per hello; exits 1 on any disagreement, 2 if there was nothing to check.
"""

import json
import sys

from ja4plus.fingerprinters.ja4 import generate_ja4
from ja4plus.utils.tls_utils import parse_tls_handshake


def main():
    checked = failed = 0
    with open(sys.argv[1], encoding="utf-8") as log:
        for line in log:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") != "connection closed" or "hello_hex" not in record:
                continue
            hello = bytes.fromhex(record["hello_hex"])
            wrapped = bytes([0x16, 0x03, 0x01, len(hello) >> 8, len(hello) & 0xFF]) + hello
            theirs = generate_ja4(parse_tls_handshake(wrapped))
            ours = record.get("ja4")
            checked += 1
            verdict = "agree" if theirs == ours else "DIFFER"
            failed += theirs != ours
            print("ja4 %s: ours %s, ja4plus %s" % (verdict, ours, theirs))
    if checked == 0:
        print("ja4: no hello in the log", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
