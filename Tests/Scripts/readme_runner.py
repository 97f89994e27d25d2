#!/usr/bin/env python3
"""Runs the shell blocks of README.md that are marked runnable, as a new user would type them.

A block is runnable when the line before its ```sh fence is `<!-- runnable -->`. Its lines run
one by one with bash, in a scratch directory with a copy of certs/ and the checkout's .build/, with
.build/release on PATH (what the README tells a user to do without `make install`):

- `echo-server ...` starts a server in the background for the lines after it (the block's
  previous server is stopped first). Its port becomes 0, so the kernel picks a free one, and
  the README's port (4433, or 8080 with --plaintext) is replaced by the real one in the lines
  that follow; an `echo-client` line without --port gets it added.
- Any other line gets what a user would type on its standard input, unless the line gives its
  own: one line, `hello`, and the end of input once the line has printed the echo (or ended).
- A trailing comment with quoted text, `# "ALPN protocol: echo"`, must appear in the line's
  output, and the input ends once it has (so a line that must also see its echo, for instance
  to receive a TLS 1.3 session ticket first, names `"hello"` too); a comment starting with `refused` or `fails` means the exit status must not be 0.
  Any other line must exit 0.

Prints one line per command run and exits 1 at the first one that did not do what the README
says, with its output.
"""

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LINE_TIMEOUT = 30
TYPED = b"hello\n"


def runnable_blocks(readme):
    lines = readme.split("\n")
    blocks, index = [], 0
    while index < len(lines):
        if lines[index].strip() == "<!-- runnable -->" and index + 1 < len(lines) \
                and lines[index + 1].startswith("```sh"):
            start = index + 2
            end = start
            while not lines[end].startswith("```"):
                end += 1
            blocks.append((start + 1, lines[start:end]))
            index = end
        index += 1
    return blocks


def commands(block):
    """Joins continuation lines; drops blank and comment-only lines."""
    result, pending = [], ""
    for text in block:
        if text.rstrip().endswith("\\"):
            pending += text.rstrip()[:-1] + " "
            continue
        text = pending + text
        pending = ""
        if text.strip() and not text.strip().startswith("#"):
            result.append(text.strip())
    return result


def expectation(command):
    """(quoted texts that must appear, whether the command must fail) from its comment."""
    match = re.search(r"\s#\s(.*)$", command)
    if not match:
        return [], False
    comment = match.group(1)
    return re.findall(r'"([^"]+)"', comment), comment.startswith(("refused", "fails"))


def has_own_input(command):
    code = re.sub(r"\s#\s.*$", "", command)
    return "<" in code or re.search(r"\|\s*[\w./-]*(openssl|echo-client|nc)\b", code) is not None


def shell_code(command):
    return re.sub(r"\s#\s.*$", "", command)


def as_in_a_terminal():
    """Signals as a user's shell leaves them: whoever started the tests may have blocked or
    ignored some, and a child inherits both across exec."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)


class Server:
    def __init__(self, command, workdir, environment):
        code = shell_code(command)
        self.readme_port = "8080" if re.search(r"--(plaintext|udp)\b", code) else "4433"
        if re.search(r"--port\s+\d+", code):
            match = re.search(r"--port\s+(\d+)", code)
            self.readme_port = match.group(1)
            code = re.sub(r"--port\s+\d+", "--port 0", code)
        elif "--listen" in code:
            code = re.sub(r"(--listen\s+\S*:)\d+", r"\g<1>0", code)
        else:
            code += " --port 0"
        self.code = code
        self.process = subprocess.Popen(
            ["bash", "-c", "exec " + code], cwd=workdir, env=environment,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=as_in_a_terminal)
        line = self._read_line(time.monotonic() + LINE_TIMEOUT)
        # `listening on 127.0.0.1:41234, [::1]:41235 (TLS, ...)`: each host with its own port.
        self.listeners = re.findall(r"\[?([0-9a-fA-F.:]+?)\]?:(\d+)(?=[, ])", line or "")
        if not line or "listening on" not in line or not self.listeners:
            self.stop()
            raise Failure(code, "no listening line: %r; stderr: %s" % (line, self.stderr()))
        self.port = self.listeners[0][1]

    def _read_line(self, deadline):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        data = b""
        while b"\n" not in data and time.monotonic() < deadline:
            if selector.select(timeout=max(0, deadline - time.monotonic())):
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    break
                data += chunk
        return data.decode(errors="replace").split("\n")[0] if data else None

    def stderr(self):
        if self.process.poll() is None:
            return ""
        return self.process.stderr.read().decode(errors="replace")

    def rewrite(self, command):
        """The client line with the README's port replaced by the real one: the port of the
        listener whose address the line names, else the first listener's. An echo-client line
        without --port must reach the server by its own default, as it would for the user."""
        port = self.port
        if re.search(r"\becho-client\b", command) and "--port" not in command:
            default = "8080" if re.search(r"--(plaintext|udp)\b", command) else "4433"
            if default != self.readme_port:
                raise Failure(command, "as written it connects to port %s, but the block's "
                              "server listens on %s" % (default, self.readme_port))
        for host, listener_port in self.listeners:
            if re.search(r"(^|[\s\[])%s([\s\]:]|$)" % re.escape(host), command):
                port = listener_port
        command = re.sub(r"(?<![\d.])%s\b" % self.readme_port, port, command)
        if re.search(r"\becho-client\b", command) and "--port" not in command:
            command = re.sub(
                r"(\becho-client\b[^|<>;&#]*?)(\s*(?:[|<>;&#]|$))",
                lambda m: m.group(1) + " --port " + port + m.group(2), command, count=1)
        return command

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Failure(Exception):
    def __init__(self, command, reason):
        super().__init__("%s\n  %s" % (command, reason))


def end_input(process):
    try:
        process.stdin.close()
    except BrokenPipeError:
        pass


def run_line(command, workdir, environment, expected):
    code = shell_code(command)
    typed = not has_own_input(command)
    process = subprocess.Popen(
        ["bash", "-c", code], cwd=workdir, env=environment,
        stdin=subprocess.PIPE if typed else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=as_in_a_terminal)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if typed:
        try:
            process.stdin.write(TYPED)
            process.stdin.flush()
        except BrokenPipeError:
            pass  # the line does not read its input, and has ended already
    output = b""
    deadline = time.monotonic() + LINE_TIMEOUT
    while time.monotonic() < deadline:
        # Once the input is closed, a process still running is looked at every second.
        timeout = max(0, deadline - time.monotonic())
        if typed and process.stdin.closed:
            timeout = min(timeout, 1.0)
        if not selector.select(timeout=timeout):
            if typed and process.stdin.closed:
                break
            continue
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break
        output += chunk
        # The answer came back (what the README promises, else the echo): the user has seen
        # it and ends the input.
        wanted = [text.encode() for text in expected] or [b"hello"]
        if typed and not process.stdin.closed and all(text in output for text in wanted):
            end_input(process)
    if typed and not process.stdin.closed:
        end_input(process)
    wanted = [text.encode() for text in expected] or [b"hello"]
    ignores_end_of_input = "-quiet" in code  # s_client -quiet implies -ign_eof
    if typed and ignores_end_of_input and process.poll() is None \
            and all(text in output for text in wanted):
        # The user has seen the answer and interrupts it (SIGTERM to the line's process group).
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
            return 0, output.decode(errors="replace")
    try:
        status = process.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise Failure(code, "still running after %d s; output:\n%s" % (
            LINE_TIMEOUT, output.decode(errors="replace")))
    return status, output.decode(errors="replace")


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    with open(os.path.join(root, "README.md"), encoding="utf-8") as handle:
        blocks = runnable_blocks(handle.read())
    if not blocks:
        print("readme: no runnable blocks", file=sys.stderr)
        return 1
    workdir = tempfile.mkdtemp(prefix="readme-")
    # A copy of certs/, so that `make cert` and `make ocsp` write beside the copy, not into
    # the checkout other tests read at the same time.
    shutil.copytree(os.path.join(root, "certs"), os.path.join(workdir, "certs"))
    for name in (".build", "Makefile"):
        os.symlink(os.path.join(root, name), os.path.join(workdir, name))
    environment = dict(os.environ)
    environment["PATH"] = os.path.join(root, ".build/release") + ":" + environment["PATH"]
    environment.pop("SSLKEYLOGFILE", None)
    environment.pop("MAKEFLAGS", None)
    environment.pop("MAKELEVEL", None)
    count = 0
    try:
        for line_number, block in blocks:
            server = None
            try:
                for command in commands(block):
                    if re.match(r"echo-server\b", command):
                        if server:
                            server.stop()
                        server = Server(command, workdir, environment)
                        print("readme:%d: started %s (port %s)" % (line_number, server.code, server.port))
                        continue
                    actual = server.rewrite(command) if server else command
                    texts, must_fail = expectation(command)
                    status, output = run_line(actual, workdir, environment, texts)
                    count += 1
                    problems = [t for t in texts if t not in output]
                    if must_fail and status == 0:
                        problems.append("exit 0, but the README says it fails")
                    if not must_fail and status != 0:
                        problems.append("exit %d" % status)
                    if problems:
                        raise Failure(actual, "; ".join(
                            "missing %r" % p if p in texts else p for p in problems)
                            + "\n  output:\n" + output)
                    print("readme:%d: ok (exit %d) %s" % (line_number, status, actual))
            finally:
                if server:
                    server.stop()
    except Failure as failure:
        print("readme: FAILED: %s" % failure, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("readme: %d commands in %d blocks ran as written" % (count, len(blocks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
