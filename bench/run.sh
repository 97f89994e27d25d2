#!/usr/bin/env bash
# The benchmark run behind `make bench` (which first builds the release executables, makes the
# development certificates and compiles bench/openssl-floor.c into .build-bench/).
#
# Measures the crypto floors (`openssl speed`), OpenSSL's own per-handshake CPU and per-idle-SSL
# memory (bench/openssl-floor.c), then SecureEcho's echo-server under `echo-client bench` load
# (throughput, latency, handshakes, hold) and the same load against every installed peer
# (socat, ncat, stunnel4). The server's CPU comes from /proc/PID/stat, its memory from
# /proc/PID/status. Writes the generated part of BENCHMARKS.md (between the bench markers);
# raw results stay in .build-bench/results/.
#
# Everything listens on 127.0.0.1 on kernel-picked ports; every process started here is stopped
# by its PID when the script exits. Environment knobs (defaults in brackets):
#   BENCH_DURATION [8]      seconds per load run
#   BENCH_HOLD [10000]      connections held open in the hold runs
#   BENCH_PEERS [socat ncat stunnel]
#   BENCH_OUTPUT [BENCHMARKS.md]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SERVER=${ECHO_SERVER:-$ROOT/.build/release/echo-server}
CLIENT=${ECHO_CLIENT:-$ROOT/.build/release/echo-client}
FLOOR=${OPENSSL_FLOOR:-$ROOT/.build-bench/openssl-floor}
HELPER=(python3 "$ROOT/bench/helper.py")
DURATION=${BENCH_DURATION:-8}
HOLD=${BENCH_HOLD:-10000}
PEERS=${BENCH_PEERS:-socat ncat stunnel}
OUTPUT=${BENCH_OUTPUT:-$ROOT/BENCHMARKS.md}
RESULTS=$ROOT/.build-bench/results
CERT=$ROOT/certs/server.crt
KEY=$ROOT/certs/server.key
CA=$ROOT/certs/ca.crt
CA_KEY=$ROOT/certs/ca.key
START=$(date +%s)

for file in "$SERVER" "$CLIENT" "$FLOOR"; do
  [[ -x $file ]] || { echo "bench: $file is missing (run 'make bench')" >&2; exit 1; }
done
for file in "$CERT" "$KEY" "$CA" "$CA_KEY"; do
  [[ -r $file ]] || { echo "bench: $file is missing (run 'make certs')" >&2; exit 1; }
done
if ! "$CLIENT" bench --help >/dev/null 2>&1; then
  echo "bench: $CLIENT has no 'bench' subcommand (rebuild: swift build -c release)" >&2
  exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/secureecho-bench.XXXXXX")
PIDS=()

# Forgets a PID once its process is reaped, so that cleanup never signals a reused PID.
forget_pid() {
  local pid=$1 kept=() p
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  PIDS=("${kept[@]}")
}

# Running (not gone, not a zombie waiting to be reaped)?
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# Stops one process we started, and whatever it forked, by PID: TERM, then KILL after 5 s.
stop_pid() {
  local pid=$1 child
  forget_pid "$pid"
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  for child in $("${HELPER[@]}" descendants "$pid"); do kill -TERM "$child" 2>/dev/null || true; done
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    for child in $("${HELPER[@]}" descendants "$pid"); do kill -KILL "$child" 2>/dev/null || true; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The hold runs keep $HOLD sockets open in the client.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < HOLD + 1000 )); then
  echo "bench: the file-descriptor limit $(ulimit -n) is too low for $HOLD held connections;" \
    "holding $(( $(ulimit -n) - 1000 ))" >&2
  HOLD=$(( $(ulimit -n) - 1000 ))
fi

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
: >"$RESULTS/kv"
put() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS/kv"; }
say() { printf '%s\n' "$*" >&2; }

# --- the machine ---------------------------------------------------------------------------
put date "$(date -u '+%Y-%m-%d %H:%M UTC')"
put nproc "$(nproc)"
put cpu "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
put kernel "$(uname -sr)"
put memory "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
put openssl "$(openssl version)"
put swift "$(swift --version 2>/dev/null | head -1 || echo unknown)"
put duration "$DURATION"
put hold "$HOLD"
put cert_algorithm "$(openssl x509 -in "$CERT" -noout -text | grep -m1 'Public Key Algorithm' | sed 's/.*: //')"
say "== $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), $(openssl version)"

# --- crypto floors -------------------------------------------------------------------------
say "== openssl speed (about 20 s)"
openssl speed -seconds 2 -evp aes-128-gcm >"$TMP/speed-aes" 2>/dev/null
openssl speed -seconds 2 ecdsap256 >"$TMP/speed-ecdsa" 2>/dev/null
openssl speed -seconds 2 ecdhx25519 >"$TMP/speed-x25519" 2>/dev/null
cp "$TMP"/speed-* "$RESULTS/"
put aes128gcm_bytes_per_s "$("${HELPER[@]}" speed aes "$TMP/speed-aes")"
put ecdsap256_sign_per_s "$("${HELPER[@]}" speed ecdsa "$TMP/speed-ecdsa")"
put x25519_op_per_s "$("${HELPER[@]}" speed x25519 "$TMP/speed-x25519")"
grep -E '^(aes|ecdsa|x25519)' "$RESULTS/kv" >&2

# An RSA-2048 server certificate, signed by the development CA, in the temporary folder.
RSA_CERT=$TMP/rsa.crt
RSA_KEY=$TMP/rsa.key
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$RSA_KEY" 2>/dev/null)
openssl req -new -key "$RSA_KEY" -subj "/O=SecureEcho Development/CN=localhost" -out "$TMP/rsa.csr"
openssl x509 -req -in "$TMP/rsa.csr" -CA "$CA" -CAkey "$CA_KEY" -set_serial "0x$(openssl rand -hex 16)" \
  -days 1 -extfile "$ROOT/certs/server.ext" -out "$RSA_CERT" 2>/dev/null

say "== OpenSSL floor (bench/openssl-floor.c, about 20 s)"
"$FLOOR" --cert "$CERT" --key "$KEY" --iterations 2000 --seconds 3 --hold 2000 >"$RESULTS/floor-main"
"$FLOOR" --cert "$RSA_CERT" --key "$RSA_KEY" --iterations 2000 --seconds 3 --hold 0 >"$RESULTS/floor-rsa"
sed 's/^/main cert: /' "$RESULTS/floor-main" >&2
sed 's/^/rsa-2048: /' "$RESULTS/floor-rsa" >&2

# --- servers -------------------------------------------------------------------------------
# start_echo_server NAME ARGS...: sets STARTED_PID and STARTED_PORT.
start_echo_server() {
  local name=$1 port="" pid
  shift
  "$SERVER" --host 127.0.0.1 --port 0 --threads 2 --log-level error --drain-timeout 1 "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    port=$(sed -n 's/^echo-server: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$name.out" | head -1)
    [[ -n $port ]] && break
    alive "$pid" || break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    say "bench: echo-server ($name) did not start:"; cat "$TMP/$name.err" >&2
    return 1
  fi
  STARTED_PID=$pid
  STARTED_PORT=$port
}

# check_echo NAME PORT [client options]: one line through the server and back.
check_echo() {
  local name=$1 port=$2 reply
  shift 2
  reply=$(printf 'bench\n' | timeout 10 "$CLIENT" --host 127.0.0.1 --port "$port" "$@" 2>"$TMP/$name.check") || true
  if [[ $reply != bench ]]; then
    say "bench: $name does not echo: $(head -c 300 "$TMP/$name.check")"
    return 1
  fi
}

# scenario NAME MODE PORT "PIDS" CLIENT-ARGS...: one load run; the server's CPU over the run.
# Writes RESULTS/NAME.json (the client's report), NAME.cpu (seconds: total user system) and
# NAME.status.
scenario() {
  local name=$1 mode=$2 port=$3 pids=$4 before after client status=0
  shift 4
  say "-- $name: echo-client bench $mode $*"
  before=$("${HELPER[@]}" cpu $pids)
  # In the background, so that a signal to this script is handled at once (wait returns).
  timeout --kill-after=5 $(( ${DURATION%.*} + 120 )) "$CLIENT" bench "$mode" --host 127.0.0.1 \
    --port "$port" --duration "$DURATION" --json "$@" >"$RESULTS/$name.json" 2>"$TMP/$name.client-err" &
  client=$!
  PIDS+=("$client")
  wait "$client" || status=$?
  forget_pid "$client"
  sleep 0.3  # let forked children exit and be reaped, so their CPU is counted
  after=$("${HELPER[@]}" cpu $pids)
  # total, user, system seconds over the run
  echo "$before $after" | awk '{printf "%.2f %.2f %.2f\n", $4 - $1, $5 - $2, $6 - $3}' >"$RESULTS/$name.cpu"
  if (( status == 0 )); then
    echo ok >"$RESULTS/$name.status"
  else
    printf 'failed (exit %s): %s\n' "$status" \
      "$(tr '\n' ' ' <"$TMP/$name.client-err" | head -c 300)" >"$RESULTS/$name.status"
  fi
  say "   $(cat "$RESULTS/$name.status"), server CPU $(cat "$RESULTS/$name.cpu") s: $(head -c 400 "$RESULTS/$name.json")"
}

# hold NAME PORT PID CLIENT-ARGS...: opens $HOLD connections and reads the server's VmRSS while
# they are all open. The client reports only at the end, so poll the server: its fd count says
# when all are accepted; VmRSS goes on growing while their handshakes finish, then falls when
# the quiet server gives freed heap back (malloc_trim). The held figure is read once the fds are
# all there and VmRSS has stayed within 1% for two seconds.
hold() {
  local name=$1 port=$2 pid=$3 rss_before fds_before fds rss peak_fds=0 held_rss=0 client status=0
  local deadline changed_at=0 now settled=no reference=0
  shift 3
  say "-- $name: echo-client bench hold --connections $HOLD $*"
  sleep 0.5
  rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  fds_before=$(ls "/proc/$pid/fd" | wc -l)
  "$CLIENT" bench hold --host 127.0.0.1 --port "$port" --connections "$HOLD" --duration "$(( DURATION + 10 ))" \
    --json "$@" >"$RESULTS/$name.json" 2>"$TMP/$name.client-err" &
  client=$!
  PIDS+=("$client")
  deadline=$(( $(date +%s) + 120 ))
  while alive "$client" && (( $(date +%s) < deadline )); do
    fds=$(ls "/proc/$pid/fd" | wc -l)
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    now=$(date +%s%N)
    if (( fds > peak_fds )); then peak_fds=$fds; fi
    if (( rss * 100 > reference * 101 || rss * 101 < reference * 100 )); then
      reference=$rss
      changed_at=$now
    fi
    held_rss=$rss
    if (( fds - fds_before >= HOLD && now - changed_at > 2000000000 )); then settled=yes; break; fi
    sleep 0.1
  done
  wait "$client" || status=$?
  forget_pid "$client"
  {
    echo "rss_before_kib=$rss_before"
    echo "rss_held_kib=$held_rss"
    echo "fds_before=$fds_before"
    echo "fds_held=$peak_fds"
    echo "settled=$settled"
  } >"$RESULTS/$name.mem"
  if (( status == 0 )); then
    echo ok >"$RESULTS/$name.status"
  else
    printf 'failed (exit %s): %s\n' "$status" \
      "$(tr '\n' ' ' <"$TMP/$name.client-err" | head -c 300)" >"$RESULTS/$name.status"
  fi
  say "   $(cat "$RESULTS/$name.status"): VmRSS $rss_before -> $held_rss KiB, fds $fds_before -> $peak_fds (settled: $settled)"
}

TLS_CLIENT=(--cafile "$CA")

# SecureEcho, TLS, the development certificate. Hold first, on a fresh process, so that memory
# freed by earlier runs does not hide the cost of new connections.
say "== SecureEcho (TLS)"
start_echo_server secureecho --cert "$CERT" --key "$KEY"
SE_PID=$STARTED_PID SE_PORT=$STARTED_PORT
check_echo secureecho "$SE_PORT" "${TLS_CLIENT[@]}"
hold secureecho.hold "$SE_PORT" "$SE_PID" "${TLS_CLIENT[@]}"
scenario secureecho.throughput throughput "$SE_PORT" "$SE_PID" "${TLS_CLIENT[@]}" \
  --connections 50 --size 16384 --threads 1
scenario secureecho.latency latency "$SE_PORT" "$SE_PID" "${TLS_CLIENT[@]}" --connections 50 --size 64
scenario secureecho.handshakes handshakes "$SE_PORT" "$SE_PID" "${TLS_CLIENT[@]}" --connections 8
scenario secureecho.resumed handshakes "$SE_PORT" "$SE_PID" "${TLS_CLIENT[@]}" --connections 8 --resume
stop_pid "$SE_PID"

# Full handshakes without tickets, as OpenSSL's floor is measured, for both key types.
say "== SecureEcho (TLS, --no-tickets; main and RSA-2048 certificates)"
start_echo_server secureecho-notickets --cert "$CERT" --key "$KEY" --no-tickets
scenario secureecho-notickets.handshakes handshakes "$STARTED_PORT" "$STARTED_PID" "${TLS_CLIENT[@]}" \
  --connections 8
stop_pid "$STARTED_PID"
start_echo_server secureecho-rsa --cert "$RSA_CERT" --key "$RSA_KEY" --no-tickets
check_echo secureecho-rsa "$STARTED_PORT" "${TLS_CLIENT[@]}"
scenario secureecho-rsa.handshakes handshakes "$STARTED_PORT" "$STARTED_PID" "${TLS_CLIENT[@]}" \
  --connections 8
stop_pid "$STARTED_PID"

say "== SecureEcho (plaintext)"
start_echo_server secureecho-plain --plaintext
check_echo secureecho-plain "$STARTED_PORT" --plaintext
hold secureecho-plain.hold "$STARTED_PORT" "$STARTED_PID" --plaintext
scenario secureecho-plain.throughput throughput "$STARTED_PORT" "$STARTED_PID" --plaintext \
  --connections 50 --size 16384 --threads 1
stop_pid "$STARTED_PID"

# --- peers ---------------------------------------------------------------------------------
# check_peer NAME PORT: one line through a peer with openssl s_client, which keeps the
# connection open a moment after sending (ncat drops the echo when the client closes first, as
# echo-client's pipe mode does).
check_peer() {
  local name=$1 port=$2 reply
  reply=$( (printf 'bench\n'; sleep 0.5) | timeout 5 openssl s_client -connect "127.0.0.1:$port" \
    -CAfile "$CA" -verify_return_error -quiet -no_ign_eof 2>"$TMP/$name.check") || true
  if [[ $reply != bench ]]; then
    say "bench: $name does not echo: $(head -c 300 "$TMP/$name.check")"
    return 1
  fi
}

# peer_load NAME PORT "PIDS": the throughput, latency and handshake runs against one peer.
peer_load() {
  local name=$1 port=$2 pids=$3
  if ! check_peer "$name" "$port"; then
    for run in throughput latency handshakes; do
      echo "failed: does not echo: $(head -c 200 "$TMP/$name.check" | tr '\n' ' ')" \
        >"$RESULTS/$name.$run.status"
    done
    return 0
  fi
  scenario "$name.throughput" throughput "$port" "$pids" "${TLS_CLIENT[@]}" \
    --connections 50 --size 16384 --threads 1
  scenario "$name.latency" latency "$port" "$pids" "${TLS_CLIENT[@]}" --connections 50 --size 64
  scenario "$name.handshakes" handshakes "$port" "$pids" "${TLS_CLIENT[@]}" --connections 8
}

# start_peer NAME PORT COMMAND...: starts it, waits for its listener; sets STARTED_PID.
start_peer() {
  local name=$1 port=$2 pid
  shift 2
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  PIDS+=("$pid")
  if ! "${HELPER[@]}" wait-listen "$port" 10; then
    say "bench: $name did not listen on 127.0.0.1:$port: $(head -c 300 "$TMP/$name.err")"
    echo "failed: did not start" >"$RESULTS/$name.start.status"
    return 1
  fi
  STARTED_PID=$pid
}

for peer in $PEERS; do
  case $peer in
    socat)
      if ! command -v socat >/dev/null; then say "skipped: socat not installed"; put skipped.socat "not installed"; continue; fi
      say "== socat $(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p')"
      put version.socat "$(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p')"
      port=$("${HELPER[@]}" port)
      if start_peer socat "$port" socat \
        "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$CERT,key=$KEY,verify=0" PIPE; then
        peer_load socat "$port" "$STARTED_PID"
        stop_pid "$STARTED_PID"
      fi
      put ran.socat yes
      ;;
    ncat)
      if ! command -v ncat >/dev/null; then say "skipped: ncat not installed"; put skipped.ncat "not installed"; continue; fi
      put version.ncat "$(ncat --version 2>&1 | sed -n 's/^Ncat: Version \([^ ]*\).*/\1/p')"
      say "== ncat $(ncat --version 2>&1 | sed -n 's/^Ncat: Version \([^ ]*\).*/\1/p')"
      port=$("${HELPER[@]}" port)
      if start_peer ncat "$port" ncat --ssl --ssl-cert "$CERT" --ssl-key "$KEY" --max-conns 200 \
        -l 127.0.0.1 "$port" -k --exec /bin/cat; then
        peer_load ncat "$port" "$STARTED_PID"
        stop_pid "$STARTED_PID"
      fi
      put ran.ncat yes
      ;;
    stunnel)
      stunnel=$(command -v stunnel4 || command -v stunnel || true)
      if [[ -z $stunnel ]]; then say "skipped: stunnel4 not installed"; put skipped.stunnel "not installed"; continue; fi
      version=$("$stunnel" -version 2>&1 | sed -n 's/^stunnel \([0-9.]*\) .*/\1/p' | head -1)
      put version.stunnel "$version"
      say "== stunnel $version (TLS in stunnel, echo by a plaintext echo-server behind it)"
      start_echo_server stunnel-backend --plaintext
      backend_pid=$STARTED_PID backend_port=$STARTED_PORT
      port=$("${HELPER[@]}" port)
      cat >"$TMP/stunnel.conf" <<EOF
foreground = yes
pid = $TMP/stunnel.pid
debug = 3
[echo]
accept = 127.0.0.1:$port
connect = 127.0.0.1:$backend_port
cert = $CERT
key = $KEY
EOF
      if start_peer stunnel "$port" "$stunnel" "$TMP/stunnel.conf"; then
        peer_load stunnel "$port" "$STARTED_PID $backend_pid"
        stop_pid "$STARTED_PID"
      fi
      stop_pid "$backend_pid"
      put ran.stunnel yes
      ;;
    *) say "bench: unknown peer '$peer'"; put skipped."$peer" "unknown" ;;
  esac
done

put runtime_s "$(( $(date +%s) - START ))"
python3 "$ROOT/bench/report.py" "$RESULTS" "$OUTPUT"
say "== wrote $OUTPUT in $(( $(date +%s) - START )) s (raw results in ${RESULTS#"$ROOT"/})"
