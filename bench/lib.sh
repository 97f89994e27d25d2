# Functions for bench/run.sh (sourced): processes started and stopped by PID, one load run
# with the server's CPU, a hold run with its memory. Everything listens on 127.0.0.1.

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

put() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS/kv"; }
say() { printf '%s\n' "$*" >&2; }

# start_server NAME KIND TRANSPORT: starts SecureEcho (KIND se), the NIO peer (nio) or the Go
# peer (go) with the ECDSA development certificate (TRANSPORT tls), the RSA-2048 one (rsa) or
# in plaintext (plain); SecureEcho also over UDP (udp) and DTLS (dtls). Extra echo-server
# options in SE_ARGS. Sets STARTED_PID, STARTED_PORT.
start_server() {
  local name=$1 kind=$2 transport=$3 cert=$CERT key=$KEY port="" pid command
  [[ $transport == rsa ]] && { cert=$RSA_CERT; key=$RSA_KEY; }
  case $kind:$transport in
    se:plain) command=("$SERVER" --plaintext) ;;
    # The reflection guard's limits far above what one load generator sends: the run measures
    # the echo, not the guard.
    se:udp) command=("$SERVER" --udp --udp-source-limit 100000000,100000000000
      --udp-global-limit 100000000,100000000000) ;;
    se:dtls) command=("$SERVER" --dtls --cert "$cert" --key "$key") ;;
    se:*) command=("$SERVER" --cert "$cert" --key "$key") ;;
    nio:plain) command=("$NIO" --plaintext --threads "$SERVER_THREADS") ;;
    nio:*) command=("$NIO" --cert "$cert" --key "$key" --threads "$SERVER_THREADS") ;;
    go:plain) command=("$GO" -plaintext) ;;
    go:*) command=("$GO" -cert "$cert" -key "$key") ;;
  esac
  [[ $kind == se ]] && command+=(--host 127.0.0.1 --port 0 --threads "$SERVER_THREADS" --log-level error
    --drain-timeout 1 ${SE_ARGS:-})
  "${command[@]}" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    port=$(sed -n 's/^\(echo-server: \)\{0,1\}listening on 127\.0\.0\.1:\([0-9]*\).*/\2/p' \
      "$TMP/$name.out" | head -1)
    [[ -n $port ]] && break
    alive "$pid" || break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    say "bench: $name did not start: $(head -c 300 "$TMP/$name.err")"
    stop_pid "$pid"
    return 1
  fi
  STARTED_PID=$pid
  STARTED_PORT=$port
}

# check_echo NAME PORT [client options]: one line through the server and back, with
# openssl s_client holding the connection open a moment (some peers drop the echo of a client
# that ends its side first), or, given client options (--plaintext, --proxy-header: what
# s_client cannot do), with echo-client.
check_echo() {
  local name=$1 port=$2 reply
  shift 2
  if (( $# > 0 )); then
    reply=$("$CLIENT" --host 127.0.0.1 --port "$port" "$@" <<<"bench" 2>"$TMP/$name.check") || true
  else
    reply=$( (printf 'bench\n'; sleep 0.5) | timeout 5 openssl s_client -connect "127.0.0.1:$port" \
      -CAfile "$CA" -verify_return_error -quiet -no_ign_eof 2>"$TMP/$name.check") || true
  fi
  if [[ $reply != bench ]]; then
    say "bench: $name does not echo: $(head -c 300 "$TMP/$name.check")"
    return 1
  fi
}

# scenario NAME MODE PORT "PIDS" CLIENT-ARGS...: one load run, the client on $CLIENT_THREADS
# threads; the server's CPU over the run. Writes RESULTS/NAME.json (the client's report),
# NAME.cpu (seconds: total user system) and NAME.status.
scenario() {
  local name=$1 mode=$2 port=$3 pids=$4 before after client status=0
  shift 4
  say "-- $name: echo-client bench $mode $*"
  before=$("${HELPER[@]}" cpu $pids)
  # In the background, so that a signal to this script is handled at once (wait returns).
  timeout --kill-after=5 $(( ${DURATION%.*} + 120 )) "$CLIENT" bench "$mode" --host 127.0.0.1 \
    --port "$port" --duration "$DURATION" --threads "$CLIENT_THREADS" --json "$@" \
    >"$RESULTS/$name.json" 2>"$TMP/$name.client-err" &
  client=$!
  PIDS+=("$client")
  wait "$client" || status=$?
  forget_pid "$client"
  sleep 0.3  # let forked children exit and be reaped, so their CPU is counted
  after=$("${HELPER[@]}" cpu $pids)
  echo "$before $after" | awk '{printf "%.2f %.2f %.2f\n", $4 - $1, $5 - $2, $6 - $3}' >"$RESULTS/$name.cpu"
  record_status "$name" "$status"
  say "   $(cat "$RESULTS/$name.status"), server CPU $(cat "$RESULTS/$name.cpu") s: $(head -c 300 "$RESULTS/$name.json")"
}

record_status() {
  if (( $2 == 0 )); then
    echo ok >"$RESULTS/$1.status"
  else
    printf 'failed (exit %s): %s\n' "$2" "$(tr '\n' ' ' <"$TMP/$1.client-err" | head -c 300)" \
      >"$RESULTS/$1.status"
  fi
}

# hold NAME PORT PID CLIENT-ARGS...: opens $HOLD connections and reads the server's VmRSS while
# they are all open. The client reports only at the end, so poll the server: its fd count says
# when all are accepted; VmRSS goes on growing while their handshakes finish, then falls when
# the quiet server gives freed memory back. The held figure is read once the fds are all there
# and VmRSS has stayed within 1% for two seconds.
hold() {
  local name=$1 port=$2 pid=$3 rss_before fds_before fds rss peak_fds=0 held_rss=0 client status=0
  local deadline changed_at=0 now settled=no reference=0
  shift 3
  say "-- $name: echo-client bench hold --connections $HOLD $*"
  sleep 0.5
  rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  fds_before=$(ls "/proc/$pid/fd" | wc -l)
  "$CLIENT" bench hold --host 127.0.0.1 --port "$port" --connections "$HOLD" \
    --duration "$(( ${DURATION%.*} + 10 ))" --json "$@" >"$RESULTS/$name.json" 2>"$TMP/$name.client-err" &
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
  printf 'rss_before_kib=%s\nrss_held_kib=%s\nfds_before=%s\nfds_held=%s\nsettled=%s\n' \
    "$rss_before" "$held_rss" "$fds_before" "$peak_fds" "$settled" >"$RESULTS/$name.mem"
  record_status "$name" "$status"
  say "   $(cat "$RESULTS/$name.status"): VmRSS $rss_before -> $held_rss KiB, fds $fds_before -> $peak_fds (settled: $settled)"
}
