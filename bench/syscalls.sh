# System calls per unit of work for bench/run.sh (sourced): each side-by-side server under
# `strace -c -f` (all its threads) for one short run of each load: per MiB echoed (TLS and
# plaintext), per 64 B round trip, per full handshake. strace slows the server down, so only
# the counts mean something here, not the rates. Skipped when strace is missing.

# syscalls NAME MODE PORT PID CLIENT-ARGS...: one load run with the server traced; writes
# RESULTS/NAME.json (the client's report) and NAME.strace (strace's summary).
syscalls() {
  local name=$1 mode=$2 port=$3 pid=$4 tracer status=0
  shift 4
  say "-- $name: strace -c while echo-client bench $mode $*"
  strace -c -f -p "$pid" -o "$RESULTS/$name.strace" 2>"$TMP/$name.strace-err" &
  tracer=$!
  PIDS+=("$tracer")
  # Once the main thread is traced, the others follow within moments.
  for _ in $(seq 50); do
    [[ $(awk '/^TracerPid/ {print $2}' "/proc/$pid/status" 2>/dev/null) =~ ^[1-9] ]] && break
    sleep 0.1
  done
  sleep 0.3
  timeout --kill-after=5 60 "$CLIENT" bench "$mode" --host 127.0.0.1 --port "$port" \
    --duration "$SYSCALL_DURATION" --threads "$CLIENT_THREADS" --json "$@" \
    >"$RESULTS/$name.json" 2>"$TMP/$name.client-err" || status=$?
  kill -INT "$tracer" 2>/dev/null || true
  wait "$tracer" 2>/dev/null || true
  forget_pid "$tracer"
  record_status "$name" "$status"
}

SYSCALL_DURATION=3
if ! command -v strace >/dev/null; then
  say "skipped: system call counts (strace not installed: apt-get install strace)"
  put skipped.syscalls "strace not installed"
else
  for server in "${SERVERS[@]}"; do
    say "== $server: system calls"
    kind=$(kind_of "$server")
    if start_server "$server.strace" "$kind" tls; then
      tls_loads syscalls "$server.sys-%s"
      stop_pid "$STARTED_PID"
    fi
    if start_server "$server.strace-plain" "$kind" plain; then
      syscalls "$server.sys-plain" throughput "$STARTED_PORT" "$STARTED_PID" --plaintext \
        --connections 50 --size 16384
      stop_pid "$STARTED_PID"
    fi
  done
  put ran.syscalls yes
fi
