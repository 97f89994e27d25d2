# The classic peers for bench/run.sh (sourced): socat, ncat and stunnel, one run of each load
# scenario each when installed. Far behind SecureEcho, SwiftNIO and Go; kept for context.

# peer_load NAME PORT "PIDS": the throughput, latency and handshake runs against one peer.
peer_load() {
  local name=$1 port=$2 pids=$3
  if ! check_echo "$name" "$port"; then
    for run in throughput latency handshakes; do
      echo "failed: does not echo: $(head -c 200 "$TMP/$name.check" | tr '\n' ' ')" \
        >"$RESULTS/$name.$run.status"
    done
    return 0
  fi
  scenario "$name.throughput" throughput "$port" "$pids" "${TLS_CLIENT[@]}" \
    --connections 50 --size 16384
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
      start_server stunnel-backend se plain
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

