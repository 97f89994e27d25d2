#!/usr/bin/env bash
# The benchmark run behind `make bench` (which first builds the release executables, makes the
# development certificates and compiles bench/openssl-floor.c into .build-bench/).
#
# Measures the crypto floors (`openssl speed`), OpenSSL's own per-handshake CPU and per-idle-SSL
# memory (bench/openssl-floor.c), then SecureEcho's echo-server, the SwiftNIO + NIOSSL peer and
# the Go crypto/tls peer (bench/peers/) under the same `echo-client bench` load: throughput,
# latency, ECDSA and RSA handshakes, plaintext throughput, in $ROUNDS rounds with the servers
# interleaved (each round in another order), so that the medians the report shows are not one
# server's bad moment; in the same rounds, SecureEcho's latency and handshakes once more with a
# PROXY v2 header from the client and --metrics on, for what sitting behind a balancer costs.
# Then what only SecureEcho is measured on (resumption, no tickets against OpenSSL's floor, idle
# memory), the classic peers (socat, ncat, stunnel4), once each, and the datagram echoes (UDP
# and DTLS, SecureEcho and socat, in rounds: bench/datagrams.sh).
# The server's CPU comes from /proc/PID/stat, its memory from /proc/PID/status. Writes the
# generated part of BENCHMARKS.md (between the bench markers); raw results stay in
# .build-bench/results/.
#
# Everything listens on 127.0.0.1 on kernel-picked ports; every process started here is stopped
# by its PID when the script exits. Environment knobs (defaults in brackets):
#   BENCH_DURATION [5]      seconds per load run
#   BENCH_ROUNDS [3]        rounds of the side-by-side runs
#   BENCH_CLIENT_THREADS [2] threads of the load generator (one per core: one thread saturates
#                           its core before a lean server does, which would hide the difference)
#   BENCH_HOLD [10000]      connections held open in the hold runs
#   BENCH_PEERS [socat ncat stunnel]
#   BENCH_OUTPUT [BENCHMARKS.md]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SERVER=${ECHO_SERVER:-$ROOT/.build/release/echo-server}
CLIENT=${ECHO_CLIENT:-$ROOT/.build/release/echo-client}
FLOOR=${OPENSSL_FLOOR:-$ROOT/.build-bench/openssl-floor}
NIO=${NIO_ECHO:-$ROOT/.build-bench/nio/release/nio-echo}
GO=${GO_ECHO:-$ROOT/.build-bench/go-echo}
HELPER=(python3 "$ROOT/bench/helper.py")
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENT_THREADS=${BENCH_CLIENT_THREADS:-2}
# Event loops of SecureEcho and NIO, one per core (Go's GOMAXPROCS is the core count too).
SERVER_THREADS=$(nproc)
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
source "$ROOT/bench/lib.sh"
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

# --- the machine ---------------------------------------------------------------------------
put date "$(date -u '+%Y-%m-%d %H:%M UTC')"
put nproc "$(nproc)"
put cpu "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
put kernel "$(uname -sr)"
put memory "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
put openssl "$(openssl version)"
put swift "$(swift --version 2>/dev/null | head -1 || echo unknown)"
put go "$(go version 2>/dev/null | sed 's/^go version //' || echo none)"
put duration "$DURATION"
put rounds "$ROUNDS"
put client_threads "$CLIENT_THREADS"
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

TLS_CLIENT=(--cafile "$CA")

# --- side by side: SecureEcho, SwiftNIO, Go --------------------------------------------------
SERVERS=(secureecho)
[[ -x $NIO ]] && SERVERS+=(nio) || { say "skipped: the SwiftNIO peer is not built ($NIO)"; put skipped.nio "not built"; }
[[ -x $GO ]] && SERVERS+=(go) || { say "skipped: the Go peer is not built ($GO; needs golang-go)"; put skipped.go "not built"; }
put servers "${SERVERS[*]}"
kind_of() { case $1 in secureecho) echo se ;; *) echo "$1" ;; esac; }

# tls_loads RUNNER NAME [LOAD...]: the three TLS loads (or those named) against the server just
# started, through RUNNER (scenario, or syscalls under strace); NAME is a printf format for the
# load's result name. Extra client options in CLIENT_ARGS.
tls_loads() {
  local runner=$1 format=$2 load args name
  shift 2
  for load in "throughput:--connections 50 --size 16384" "latency:--connections 50 --size 64" \
    "handshakes:--connections 8"; do
    args=${load#*:}
    load=${load%%:*}
    (( $# == 0 )) || [[ " $* " == *" $load "* ]] || continue
    # shellcheck disable=SC2059
    printf -v name "$format" "$load"
    # shellcheck disable=SC2086
    "$runner" "$name" "$load" "$STARTED_PORT" "$STARTED_PID" "${TLS_CLIENT[@]}" ${CLIENT_ARGS:-} \
      $args
  done
}

# round SERVER N: every side-by-side scenario against one server, results named SERVER.*.rN.
round() {
  local server=$1 n=$2 kind
  kind=$(kind_of "$server")
  if start_server "$server.tls.r$n" "$kind" tls && check_echo "$server" "$STARTED_PORT"; then
    tls_loads scenario "$server.%s.r$n"
    stop_pid "$STARTED_PID"
  fi
  if start_server "$server.rsa.r$n" "$kind" rsa; then
    scenario "$server.rsa.r$n" handshakes "$STARTED_PORT" "$STARTED_PID" "${TLS_CLIENT[@]}" \
      --connections 8
    stop_pid "$STARTED_PID"
  fi
  if start_server "$server.plain.r$n" "$kind" plain && check_echo "$server" "$STARTED_PORT" --plaintext; then
    scenario "$server.plain.r$n" throughput "$STARTED_PORT" "$STARTED_PID" --plaintext \
      --connections 50 --size 16384
    stop_pid "$STARTED_PID"
  fi
}

# proxy_round N: what a balancer in front costs SecureEcho, the PROXY v2 header on every
# connection (the client sends it, as HAProxy's send-proxy-v2 would) and the Prometheus metrics
# it would be watched by: the latency and handshake loads of the round again, results named
# secureecho+proxy+metrics.*.rN. Run right after the plain SecureEcho of the same round, so the
# two figures report.py shows side by side are less than a minute apart. Latency connections are
# set up before the measurement, so there only the metrics count; handshakes pay for both.
PROXY_SERVER=secureecho+proxy+metrics
proxy_round() {
  local n=$1 load failure=""
  if SE_ARGS="--proxy-protocol v2 --proxy-from 127.0.0.1/32 --metrics 127.0.0.1:0" \
    start_server "$PROXY_SERVER.tls.r$n" se tls; then
    if check_echo "$PROXY_SERVER" "$STARTED_PORT" "${TLS_CLIENT[@]}" --proxy-header v2; then
      CLIENT_ARGS="--proxy-header v2" tls_loads scenario "$PROXY_SERVER.%s.r$n" latency handshakes
    else
      failure="does not echo: $(head -c 200 "$TMP/$PROXY_SERVER.check" | tr '\n' ' ')"
    fi
    stop_pid "$STARTED_PID"
  else
    failure="did not start"
  fi
  # The report then says why these rounds are missing, as for a load that failed.
  if [[ -n $failure ]]; then
    for load in latency handshakes; do
      echo "failed: $failure" >"$RESULTS/$PROXY_SERVER.$load.r$n.status"
    done
  fi
}

for n in $(seq "$ROUNDS"); do
  # Each round starts with another server, so no server always runs first (or last).
  order=("${SERVERS[@]:$(( (n - 1) % ${#SERVERS[@]} ))}" "${SERVERS[@]:0:$(( (n - 1) % ${#SERVERS[@]} ))}")
  say "== round $n of $ROUNDS: ${order[*]}"
  for server in "${order[@]}"; do
    round "$server" "$n"
    if [[ $server == secureecho ]]; then proxy_round "$n"; fi
  done
done

# --- idle memory: each server on a fresh process ---------------------------------------------
for server in "${SERVERS[@]}"; do
  say "== $server: $HOLD idle TLS connections"
  if start_server "$server.hold" "$(kind_of "$server")" tls; then
    hold "$server.hold" "$STARTED_PORT" "$STARTED_PID" "${TLS_CLIENT[@]}"
    stop_pid "$STARTED_PID"
  fi
done
say "== secureecho: $HOLD idle plaintext connections"
if start_server secureecho-plain.hold se plain; then
  hold secureecho-plain.hold "$STARTED_PORT" "$STARTED_PID" --plaintext
  stop_pid "$STARTED_PID"
fi

# --- SecureEcho against OpenSSL's own floor ------------------------------------------------
say "== SecureEcho: resumed handshakes; full handshakes without tickets, as the floor"
if start_server secureecho.resume se tls; then
  scenario secureecho.resumed handshakes "$STARTED_PORT" "$STARTED_PID" "${TLS_CLIENT[@]}" \
    --connections 8 --resume
  stop_pid "$STARTED_PID"
fi
for transport in tls rsa; do
  if SE_ARGS=--no-tickets start_server "secureecho-notickets.$transport" se "$transport"; then
    scenario "secureecho-notickets.$transport" handshakes "$STARTED_PORT" "$STARTED_PID" \
      "${TLS_CLIENT[@]}" --connections 8
    stop_pid "$STARTED_PID"
  fi
done

# What the ClientHello capture (ja4 and ja3 in every close line) costs a full handshake: the
# same server with it and without it (SECUREECHO_NO_HELLO_CAPTURE=1), in interleaved rounds.
say "== SecureEcho: full handshakes with and without the ClientHello capture"
for n in $(seq "$ROUNDS"); do
  for variant in capture nocapture; do
    [[ $variant == nocapture ]] && export SECUREECHO_NO_HELLO_CAPTURE=1
    if start_server "secureecho-$variant.server.r$n" se tls; then
      scenario "secureecho-$variant.handshakes.r$n" handshakes "$STARTED_PORT" "$STARTED_PID" \
        "${TLS_CLIENT[@]}" --connections 8
      stop_pid "$STARTED_PID"
    fi
    unset SECUREECHO_NO_HELLO_CAPTURE
  done
done

# --- system calls per unit of work, under strace ---------------------------------------------
source "$ROOT/bench/syscalls.sh"

# --- the classic peers ----------------------------------------------------------------------
source "$ROOT/bench/classic-peers.sh"

# --- datagrams: UDP and DTLS ----------------------------------------------------------------
source "$ROOT/bench/datagrams.sh"

put runtime_s "$(( $(date +%s) - START ))"
python3 "$ROOT/bench/report.py" "$RESULTS" "$OUTPUT"
say "== wrote $OUTPUT in $(( $(date +%s) - START )) s (raw results in ${RESULTS#"$ROOT"/})"
