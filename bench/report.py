#!/usr/bin/env python3
"""Writes the generated part of BENCHMARKS.md from the results bench/run.sh left.

usage: report.py RESULTS-DIR BENCHMARKS.md

Only the text between the markers below is replaced; everything around it (the hand-written
notes) is kept. A missing file gets a short hand-written frame around the generated part.
"""
import os
import sys

from results import Results, fmt, number, ratio, span, table, verdict

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"

NAMES = {"secureecho": "SecureEcho", "nio": "SwiftNIO + NIOSSL", "go": "Go crypto/tls"}
PEERS = [p for p in NAMES if p != "secureecho"]
CLASSIC = ["socat", "ncat", "stunnel"]
# SecureEcho set up as behind a balancer, run in the same rounds as the others for some loads
# only (bench/run.sh's proxy_round): a row under SecureEcho's in those tables.
VARIANTS = {"secureecho+proxy+metrics": ("SecureEcho, PROXY v2 + `--metrics`",
                                         ["latency", "handshakes"])}
VARIANT_COST = {"latency": ("cpu_us_per_round_trip", "round trip"),
                "handshakes": ("cpu_us_per_handshake", "handshake")}
CLASSIC_NOTES = {
    "socat": "socat `OPENSSL-LISTEN,fork ... PIPE` (a process per connection)",
    "ncat": "ncat `--ssl -k --exec /bin/cat` (a process and a `cat` per connection)",
    "stunnel": "stunnel (threads) in front of a plaintext echo-server; CPU of both",
}


def machine(r):
    kv = r.kv
    return table(["machine", ""], [
        ["cores", kv.get("nproc", "?")], ["CPU", kv.get("cpu", "?")],
        ["memory", kv.get("memory", "?")], ["kernel", kv.get("kernel", "?")],
        ["OpenSSL", kv.get("openssl", "?")], ["Swift", kv.get("swift", "?")],
        ["Go", kv.get("go", "?")],
        ["server certificate",
         f"certs/server.crt ({kv.get('cert_algorithm', '?')}); RSA-2048 made for the run"],
    ])


def floors(r, crypto_per_gb):
    kv, f, fr = r.kv, r.floor, r.floor_rsa
    aes = number(kv, "aes128gcm_bytes_per_s")
    return table(["what", "figure", "source"], [
        ["AES-128-GCM, 16 KiB blocks", fmt(aes / 1e6 if aes else None, 0, " MB/s"),
         "`openssl speed -seconds 2 -evp aes-128-gcm`"],
        ["crypto floor per GB echoed (decrypt + encrypt)", fmt(crypto_per_gb, 3, " CPU s/GB"),
         "2 × 10⁹ B ÷ AES-128-GCM speed"],
        ["ECDSA P-256 signatures", fmt(number(kv, "ecdsap256_sign_per_s"), 0, " /s"),
         "`openssl speed -seconds 2 ecdsap256`"],
        ["X25519 operations", fmt(number(kv, "x25519_op_per_s"), 0, " /s"),
         "`openssl speed -seconds 2 ecdhx25519`"],
        ["OpenSSL server, full handshake, no tickets", fmt(number(f, "full_ms"), 3, " ms CPU"),
         "bench/openssl-floor.c"],
        ["OpenSSL server, full handshake, 1 ticket", fmt(number(f, "full_tickets_ms"), 3, " ms CPU"),
         "bench/openssl-floor.c"],
        ["OpenSSL server, resumed handshake, 1 new ticket", fmt(number(f, "resumed_ms"), 3, " ms CPU"),
         "bench/openssl-floor.c"],
        ["OpenSSL server, full handshake, RSA-2048, no tickets",
         fmt(number(fr, "full_ms"), 3, " ms CPU"), "bench/openssl-floor.c"],
        ["OpenSSL idle server `SSL` (released buffers)", fmt(number(f, "idle_bytes_release"), 0, " B"),
         "bench/openssl-floor.c, mallinfo2()"],
    ])


def side_by_side(r, crypto_per_gb):
    """One table per scenario: the median of each figure over the rounds, per server."""
    out, n = [], r.rounds
    specs = [
        ("throughput", "TLS throughput: 50 connections streaming 16 KiB writes",
         ["MB/s", "MB/s range", "server CPU s/GB", "× crypto floor"],
         lambda s, sc: [fmt(r.median(s, sc, "mb_per_s"), 1), span(r.spread(s, sc, "mb_per_s")),
                        fmt(r.median(s, sc, "cpu_per_gb"), 3),
                        fmt(ratio(r.median(s, sc, "cpu_per_gb"), crypto_per_gb), 2, "×")]),
        ("latency", "Latency: 50 connections, one 64-byte message in flight on each",
         ["round trips/s", "range", "p50 µs", "p99 µs", "server CPU µs/round trip"],
         lambda s, sc: [fmt(r.median(s, sc, "round_trips_per_s"), 0),
                        span(r.spread(s, sc, "round_trips_per_s")), fmt(r.median(s, sc, "p50"), 0),
                        fmt(r.median(s, sc, "p99"), 0),
                        fmt(r.median(s, sc, "cpu_us_per_round_trip"), 1)]),
        ("handshakes", "Full handshakes, ECDSA P-256: 8 connections, connect, handshake, one byte, close",
         ["handshakes/s", "range", "p99 µs", "server CPU µs/handshake"],
         lambda s, sc: [fmt(r.median(s, sc, "handshakes_per_s"), 0),
                        span(r.spread(s, sc, "handshakes_per_s")), fmt(r.median(s, sc, "p99"), 0),
                        fmt(r.median(s, sc, "cpu_us_per_handshake"), 0)]),
        ("rsa", "Full handshakes, RSA-2048: the same",
         ["handshakes/s", "range", "server CPU µs/handshake"],
         lambda s, sc: [fmt(r.median(s, sc, "handshakes_per_s"), 0),
                        span(r.spread(s, sc, "handshakes_per_s")),
                        fmt(r.median(s, sc, "cpu_us_per_handshake"), 0)]),
        ("plain", "Plaintext throughput: 50 connections streaming 16 KiB writes",
         ["MB/s", "MB/s range", "server CPU s/GB"],
         lambda s, sc: [fmt(r.median(s, sc, "mb_per_s"), 1), span(r.spread(s, sc, "mb_per_s")),
                        fmt(r.median(s, sc, "cpu_per_gb"), 3)]),
    ]
    for scenario, title, columns, cells in specs:
        out += [f"### {title}", ""]
        rows, costs = [], []
        variants = [(v, label) for v, (label, loads) in VARIANTS.items() if scenario in loads
                    and any(r.status(f"{v}.{scenario}.r{k}") for k in range(1, n + 1))]
        for server, label in [(s, NAMES.get(s, s)) for s in r.servers] + variants:
            ok = len(r.rounds_of(server, scenario))
            notes = "; ".join(r.failures(server, scenario))[:160].replace("|", "/")
            rows.append([label] + cells(server, scenario)
                        + [f"{ok} of {n}" + (f" ({notes})" if notes else "")])
        out += [table(["server"] + columns + ["rounds ok"], rows), ""]
        for variant, label in variants:
            key, unit = VARIANT_COST[scenario]
            mine, plain = r.median(variant, scenario, key), r.median("secureecho", scenario, key)
            if mine and plain:
                costs.append(f"{label}: {(mine / plain - 1) * 100:+.1f}% server CPU per {unit} "
                             f"({mine:,.1f} against {plain:,.1f} µs, medians of the same rounds).")
        out += [" ".join(costs), ""] if costs else []
    return out


def idle_memory(r):
    floor = number(r.floor, "idle_bytes_release")
    rows, per = [], {}
    names = [(NAMES.get(s, s) + " TLS", f"{s}.hold", floor) for s in r.servers]
    names.append(("SecureEcho plaintext", "secureecho-plain.hold", None))
    for label, name, floor_bytes in names:
        m = r.mem(name)
        before, held = number(m, "rss_before_kib"), number(m, "rss_held_kib")
        fds_before, fds_held = number(m, "fds_before"), number(m, "fds_held")
        conns = fds_held - fds_before if fds_held is not None and fds_before is not None else None
        per[name] = (held - before) * 1024 / conns if conns and held is not None else None
        if m.get("settled") == "no":
            label += " (VmRSS still moving when the client ended)"
        status = r.status(name) or "not run"
        rows.append([label, fmt(conns, 0), fmt(before, 0, " KiB"), fmt(held, 0, " KiB"),
                     fmt(per[name], 0, " B"), fmt(ratio(per[name], floor_bytes), 2, "×"),
                     status[:120].replace("|", "/")])
    text = table(["server", "connections", "VmRSS before", "VmRSS held", "per connection",
                  "× OpenSSL's idle SSL", "status"], rows)
    return text, per


def against_openssl(r):
    f, fr = r.floor, r.floor_rsa
    rows = []
    for label, name, floor in [
        ("full, 1 ticket (median of the rounds)", None, number(f, "full_tickets_ms")),
        ("resumed, 1 new ticket", "secureecho.resumed", number(f, "resumed_ms")),
        ("full, `--no-tickets`", "secureecho-notickets.tls", number(f, "full_ms")),
        ("full, RSA-2048, `--no-tickets`", "secureecho-notickets.rsa", number(fr, "full_ms")),
    ]:
        if name is None:
            us = r.median("secureecho", "handshakes", "cpu_us_per_handshake")
            rate = r.median("secureecho", "handshakes", "handshakes_per_s")
            extra = ""
        else:
            m = r.metrics(name) or {}
            us, rate = m.get("cpu_us_per_handshake"), m.get("handshakes_per_s")
            extra = f" ({m.get('resumed')} of {m.get('handshakes')} resumed)" if m.get("resumed") else ""
        ms = us / 1000 if us else None
        rows.append([label + extra, fmt(rate, 0), fmt(ms, 3), fmt(floor, 3),
                     fmt(ratio(ms, floor), 2, "×")])
    for label, server in [("full, 1 ticket, with the ClientHello capture", "secureecho-capture"),
                          ("full, 1 ticket, without it (`SECUREECHO_NO_HELLO_CAPTURE=1`)",
                           "secureecho-nocapture")]:
        us = r.median(server, "handshakes", "cpu_us_per_handshake")
        rate = r.median(server, "handshakes", "handshakes_per_s")
        ms = us / 1000 if us else None
        rows.append([label + " (median of the rounds)", fmt(rate, 0), fmt(ms, 3),
                     fmt(number(f, "full_tickets_ms"), 3),
                     fmt(ratio(ms, number(f, "full_tickets_ms")), 2, "×")])
    text = table(["SecureEcho handshake", "handshakes/s", "server CPU ms", "OpenSSL floor ms",
                  "ratio"], rows)
    with_capture = r.median("secureecho-capture", "handshakes", "cpu_us_per_handshake")
    without = r.median("secureecho-nocapture", "handshakes", "cpu_us_per_handshake")
    if with_capture and without:
        text += (f"\n\nThe ClientHello capture (every close line's `ja4`, `ja3_md5`) costs "
                 f"{(with_capture / without - 1) * 100:+.1f}% server CPU per full handshake "
                 f"({with_capture:.0f} against {without:.0f} µs, medians of interleaved rounds).\n")
    return text


def classic(r):
    rows = []
    for peer in CLASSIC:
        if not r.kv.get(f"ran.{peer}"):
            continue
        t, l, h = (r.metrics(f"{peer}.{s}") or {} for s in ("throughput", "latency", "handshakes"))
        rows.append([f"{peer} {r.kv.get('version.' + peer, '')}", fmt(t.get("mb_per_s"), 1),
                     fmt(t.get("cpu_per_gb"), 3), fmt(l.get("round_trips_per_s"), 0),
                     fmt(h.get("handshakes_per_s"), 0), fmt(h.get("cpu_us_per_handshake"), 0)])
    return rows


DATAGRAM_NAMES = {
    "secureecho-udp": "SecureEcho `--udp`", "socat-udp": "socat `UDP4-RECVFROM,fork PIPE`",
    "secureecho-dtls": "SecureEcho `--dtls`",
    "socat-dtls": "socat `OPENSSL-DTLS-SERVER,fork PIPE`",
}


def datagrams(r):
    """The UDP and DTLS table: medians of the rounds, and why a server's runs failed."""
    servers = r.kv.get("datagram_servers", "").split()
    rows, failed = [], []
    for server in sorted(servers, key=lambda s: (s.split("-")[1], s)):
        def median(load, key):
            return r.median(server, load, key)

        def lost(load):
            runs = r.rounds_of(server, load)
            sent = sum(m.get("datagrams_sent") or 0 for m in runs)
            gone = sum(m.get("datagrams_lost") or 0 for m in runs)
            moved = sum(m.get("datagrams_reordered") or 0 for m in runs)
            return f"{gone / sent:.2%} / {moved / sent:.2%}" if sent else "–"

        name = DATAGRAM_NAMES.get(server, server)
        if server.startswith("socat"):
            name += f" {r.kv.get('version.socat', '')}"
        rows.append([name, fmt(median("latency", "round_trips_per_s"), 0),
                     fmt(median("latency", "p50"), 0), fmt(median("latency", "p99"), 0),
                     fmt(median("latency", "cpu_us_per_round_trip"), 1), lost("latency"),
                     fmt(median("throughput", "mb_per_s"), 1),
                     fmt(median("throughput", "cpu_per_gb"), 2), lost("throughput")])
        for load in ("latency", "throughput"):
            for failure in r.failures(server, load):
                failed.append(f"- {name}, {load}: {failure}")
    if not rows:
        return None
    text = table(["server", "round trips/s", "p50 µs", "p99 µs", "CPU µs/round trip",
                  "lost / reordered", "MB/s", "CPU s/GB", "lost / reordered"], rows)
    return text + ("\n\n" + "\n".join(failed) if failed else "")


SYSCALL_KINDS = [
    ("reads", {"read", "readv", "recvfrom", "recvmsg"}),
    ("writes", {"write", "writev", "sendto", "sendmsg", "sendmmsg"}),
    ("setsockopt", {"setsockopt"}),
    ("splice", {"splice"}),
    ("epoll", {"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl"}),
]


def syscalls(r):
    """System calls per unit of work of each server, from strace -c (bench/syscalls.sh)."""
    if not r.kv.get("ran.syscalls"):
        return None
    units = [("sys-throughput", "TLS, per MiB echoed", "bytes", 1 << 20),
             ("sys-plain", "plaintext, per MiB echoed", "bytes", 1 << 20),
             ("sys-latency", "TLS, per 64 B round trip", "round_trips", 1),
             ("sys-handshakes", "TLS, per full handshake", "handshakes", 1)]
    rows = []
    for scenario, label, key, size in units:
        for server in r.servers:
            name = f"{server}.{scenario}"
            traced, j = r.strace(name), r.json(name)
            if not r.ok(name) or not traced or not j or not j.get(key):
                rows.append([label, NAMES[server]] + ["–"] * (len(SYSCALL_KINDS) + 3))
                continue
            calls, failed = traced
            per = j[key] / size
            counted, row = set(), [label, NAMES[server]]
            for _, names in SYSCALL_KINDS:
                row.append(fmt(sum(calls.get(n, 0) for n in names) / per, 2))
                counted |= names
            other = sorted(((c, n) for n, c in calls.items() if n not in counted), reverse=True)
            total = sum(calls.values())
            row += [fmt(sum(c for c, _ in other) / per, 2) + (f" ({', '.join(n for _, n in other[:3])})"
                                                             if other else ""),
                    fmt(total / per, 2), fmt(failed / per, 2)]
            rows.append(row)
    return table(["load", "server"] + [k for k, _ in SYSCALL_KINDS] +
                 ["other (most)", "total", "of which failed"], rows)


def targets(r, idle):
    """Issue 9's targets: SecureEcho against the best of SwiftNIO and Go, in this run."""
    peers = [p for p in PEERS if p in r.servers]

    def best(scenario, key, highest):
        values = [r.median(p, scenario, key) for p in peers]
        values = [v for v in values if v is not None]
        return (max(values) if highest else min(values)) if values else None

    def ours(scenario, key):
        return r.median("secureecho", scenario, key)

    rows = []

    def row(what, mine, theirs, limit, at_least, unit=""):
        value = ratio(mine, theirs)
        rows.append([what, fmt(value, 2, "×") + f" ({fmt(mine, 1, unit)} vs {fmt(theirs, 1, unit)})",
                     f"{'≥' if at_least else '≤'} {limit}×", verdict(value, limit, at_least)])

    row("TLS throughput, MB/s, against the best peer", ours("throughput", "mb_per_s"),
        best("throughput", "mb_per_s", True), 1.2, True)
    row("TLS server CPU per GB, against the best peer", ours("throughput", "cpu_per_gb"),
        best("throughput", "cpu_per_gb", False), 0.8, False)
    row("64 B round trips/s, against the best peer", ours("latency", "round_trips_per_s"),
        best("latency", "round_trips_per_s", True), 1.2, True)
    row("64 B round trip p99, against the best peer's", ours("latency", "p99"),
        best("latency", "p99", False), 1.0, False, " µs")
    row("full ECDSA handshakes/s, against the best peer", ours("handshakes", "handshakes_per_s"),
        best("handshakes", "handshakes_per_s", True), 1.1, True)
    row("server CPU per ECDSA handshake, against SwiftNIO's", ours("handshakes", "cpu_us_per_handshake"),
        r.median("nio", "handshakes", "cpu_us_per_handshake"), 1.0, False, " µs")
    row("server CPU per RSA-2048 handshake, against the best peer",
        ours("rsa", "cpu_us_per_handshake"), best("rsa", "cpu_us_per_handshake", False), 1.0, False,
        " µs")
    floor = number(r.floor, "idle_bytes_release")
    row("idle TLS connection, against OpenSSL's idle SSL", idle.get("secureecho.hold"), floor, 1.1,
        False, " B")
    row("plaintext MB/s, against SwiftNIO's", ours("plain", "mb_per_s"),
        r.median("nio", "plain", "mb_per_s"), 1.2, True)
    row("plaintext CPU per GB, against SwiftNIO's", ours("plain", "cpu_per_gb"),
        r.median("nio", "plain", "cpu_per_gb"), round(1 / 1.2, 2), False)
    return table(["target", "measured", "limit", "verdict"], rows)


def generate(r):
    kv = r.kv
    aes = number(kv, "aes128gcm_bytes_per_s")
    crypto_per_gb = 2 * 1e9 / aes if aes else None
    out = [BEGIN, "<!-- Generated by `make bench` (bench/run.sh, bench/report.py): edit outside "
           "the markers. -->", "", "## Results", "",
           f"Command: `make bench`. Date: {kv.get('date', '?')}. Whole run: "
           f"{kv.get('runtime_s', '?')} s. Load runs of {kv.get('duration', '?')} s; the side-by-side "
           f"runs in {r.rounds} rounds, servers interleaved (each round starts with another), "
           f"medians shown. One load generator (`echo-client bench`, "
           f"{kv.get('client_threads', '?')} threads) shares the {kv.get('nproc', '?')} cores with "
           "the server; everything on 127.0.0.1.", "", machine(r), "",
           "### Floors", "", floors(r, crypto_per_gb), ""]
    out += side_by_side(r, crypto_per_gb)
    idle_text, idle = idle_memory(r)
    out += [f"### Idle connections: {kv.get('hold', '?')} held open (one echo each), server VmRSS",
            "", idle_text, "", "### SecureEcho against OpenSSL's own handshake", "",
            against_openssl(r), "", "### Targets: SecureEcho against the best of SwiftNIO and Go",
            "", targets(r, idle), ""]
    traced = syscalls(r)
    if traced:
        out += ["### System calls per unit of work (strace -c -f on the server, one short run each)",
                "", traced, ""]
    datagram_text = datagrams(r)
    if datagram_text:
        out += ["### Datagrams: UDP and DTLS echo", "",
                "Latency: `echo-client bench latency --udp|--dtls --connections 8 --size 64`; "
                "throughput: `bench throughput --connections 4` with 32 datagrams in flight each, "
                "of 1,472 bytes (UDP) or 1,200 (DTLS). Every echo checked byte for byte; lost: no "
                "echo within 2 s. SecureEcho `--udp` with its reflection guard's limits raised "
                "above the load.", "", datagram_text, ""]
    rows = classic(r)
    if rows:
        out += ["### Classic peers (one run each)", "",
                table(["peer", "TLS MB/s", "CPU s/GB", "round trips/s", "handshakes/s",
                       "CPU µs/handshake"], rows), ""]
    notes = [f"- {peer} {r.kv.get('version.' + peer, '')}: {CLASSIC_NOTES[peer]}, same certificate."
             for peer in CLASSIC if r.kv.get(f"ran.{peer}")]
    notes += [f"- {NAMES[p]}: skipped, {r.kv['skipped.' + p]}." for p in PEERS
              if r.kv.get(f"skipped.{p}")]
    notes += [f"- {peer}: skipped, {r.kv['skipped.' + peer]}." for peer in CLASSIC
              if r.kv.get(f"skipped.{peer}")]
    if r.kv.get("skipped.socat-datagrams"):
        notes.append(f"- socat for datagrams: skipped, {r.kv['skipped.socat-datagrams']}.")
    if r.kv.get("skipped.syscalls"):
        notes.append(f"- System call counts: skipped, {r.kv['skipped.syscalls']}.")
    if notes:
        out += notes + [""]
    out.append(END)
    return "\n".join(out) + "\n"


FRAME_TOP = """# SecureEcho benchmarks

`make bench` builds the release executables and the peers, makes the development certificates
if missing, and runs `bench/run.sh`, which regenerates the part of this file between the
`bench` markers (everything outside them is hand-written and kept).

"""

FRAME_BOTTOM = """
## Notes

(hand-written: what was tried, what the figures mean)
"""


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    block = generate(Results(argv[1]))
    path = argv[2]
    if os.path.exists(path):
        text = open(path).read()
        if BEGIN in text and END in text:
            start, end = text.index(BEGIN), text.index(END) + len(END)
            if text[end:end + 1] == "\n":
                end += 1
            text = text[:start] + block + text[end:]
        else:
            text = text.rstrip("\n") + "\n\n" + block
    else:
        text = FRAME_TOP + block + FRAME_BOTTOM
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
