"""Reading what bench/run.sh left in .build-bench/results/, for report.py: the key-value files,
each load run's JSON and server CPU, the medians over rounds, and table formatting."""
import json
import os
import statistics


def read_kv(path):
    values = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                values[key] = value
    return values


def number(values, key):
    try:
        return float(values[key])
    except (KeyError, ValueError, TypeError):
        return None


class Results:
    def __init__(self, folder):
        self.folder = folder
        self.kv = read_kv(os.path.join(folder, "kv"))
        self.floor = read_kv(os.path.join(folder, "floor-main"))
        self.floor_rsa = read_kv(os.path.join(folder, "floor-rsa"))
        self.rounds = int(self.kv.get("rounds", "1"))
        self.servers = self.kv.get("servers", "secureecho").split()

    def path(self, name, ext):
        return os.path.join(self.folder, f"{name}.{ext}")

    def json(self, name):
        try:
            return json.loads(open(self.path(name, "json")).read())
        except (OSError, ValueError):
            return None

    def cpu(self, name):
        """Server CPU seconds over the run (user + system), or None."""
        try:
            return float(open(self.path(name, "cpu")).read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def status(self, name):
        try:
            return open(self.path(name, "status")).read().strip()
        except OSError:
            return None

    def ok(self, name):
        return self.status(name) == "ok" and self.json(name) is not None

    def mem(self, name):
        return read_kv(self.path(name, "mem"))

    def metrics(self, name):
        """The figures of one load run that went well: a dict, or None."""
        if not self.ok(name):
            return None
        j, cpu = self.json(name), self.cpu(name)
        m = {"mb_per_s": j.get("mb_per_s"), "round_trips_per_s": j.get("round_trips_per_s"),
             "handshakes_per_s": j.get("handshakes_per_s")}
        latency = j.get("latency_us", {})
        m["p50"], m["p99"] = latency.get("p50"), latency.get("p99")
        if cpu is not None:
            if j.get("bytes"):
                m["cpu_per_gb"] = cpu / (j["bytes"] / 1e9)
            if j.get("round_trips"):
                m["cpu_us_per_round_trip"] = cpu * 1e6 / j["round_trips"]
            if j.get("handshakes"):
                m["cpu_us_per_handshake"] = cpu * 1e6 / j["handshakes"]
        m["resumed"], m["handshakes"] = j.get("resumed"), j.get("handshakes")
        for key in ("datagrams_sent", "datagrams_lost", "datagrams_reordered"):
            m[key] = j.get(key)
        return m

    def strace(self, name):
        """strace -c's summary of one run: ({syscall: calls}, failed calls), or None."""
        try:
            lines = open(self.path(name, "strace")).read().splitlines()
        except OSError:
            return None
        calls, failed = {}, 0
        for line in lines:
            fields = line.split()
            if len(fields) < 5 or not fields[3].isdigit():
                continue
            if fields[-1] == "total":
                failed = int(fields[4]) if len(fields) == 6 else 0
            else:
                calls[fields[-1]] = int(fields[3])
        return calls, failed

    def rounds_of(self, server, scenario):
        """The metrics of every round of one scenario against one server that went well."""
        runs = [self.metrics(f"{server}.{scenario}.r{n}") for n in range(1, self.rounds + 1)]
        return [m for m in runs if m]

    def median(self, server, scenario, key):
        values = [m[key] for m in self.rounds_of(server, scenario) if m.get(key) is not None]
        return statistics.median(values) if values else None

    def spread(self, server, scenario, key):
        values = [m[key] for m in self.rounds_of(server, scenario) if m.get(key) is not None]
        return (min(values), max(values)) if values else (None, None)

    def failures(self, server, scenario):
        """The status of the rounds that failed, for the table."""
        bad = []
        for n in range(1, self.rounds + 1):
            status = self.status(f"{server}.{scenario}.r{n}")
            if status != "ok":
                bad.append(f"round {n}: {status or 'not run'}")
        return bad


def fmt(value, digits=1, unit=""):
    if value is None:
        return "–"
    if isinstance(value, float) and abs(value) >= 1000 and digits <= 1:
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.{digits}f}"
    return text + unit


def span(low_high, digits=0):
    low, high = low_high
    return "–" if low is None else f"{fmt(low, digits)}–{fmt(high, digits)}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(value, limit, at_least):
    if value is None or limit is None:
        return "n/a"
    return "**met**" if (value >= limit if at_least else value <= limit) else "**missed**"
