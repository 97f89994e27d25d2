# Datagrams for bench/run.sh (sourced): SecureEcho's --udp and --dtls, and socat's UDP echo
# (UDP4-RECVFROM with fork: a process per datagram) and DTLS echo (OPENSSL-DTLS-SERVER with
# fork: a process per peer) when socat is installed, in $ROUNDS rounds, each server in turn.
# Loads: latency with 8 peers and 64-byte datagrams, throughput with 4 peers keeping 32
# datagrams in flight, of 1,472 bytes (UDP: the most one Ethernet frame carries) or 1,200
# (DTLS, room for the record's header and tag under a 1,280-byte IPv6 minimum MTU).

DATAGRAM_SERVERS=(secureecho-udp secureecho-dtls)
if command -v socat >/dev/null; then
  DATAGRAM_SERVERS+=(socat-udp socat-dtls)
  put version.socat "$(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p')"
else
  say "skipped: socat not installed, so no datagram peer"
  put skipped.socat-datagrams "not installed"
fi
put datagram_servers "${DATAGRAM_SERVERS[*]}"

# start_socat_datagrams NAME TRANSPORT: socat on a free port, up once it echoes (UDP has no
# listener to wait for). Sets STARTED_PID, STARTED_PORT.
start_socat_datagrams() {
  local name=$1 transport=$2 port pid address trust=() idle
  port=$("${HELPER[@]}" port)
  # -T: a child ends that long after its last datagram (UDP has no end of its own): a UDP
  # child answers one datagram, so half a second; a DTLS child serves one peer's session.
  if [[ $transport == udp ]]; then
    address="UDP4-RECVFROM:$port,bind=127.0.0.1,fork"
    idle=0.5
  else
    address="OPENSSL-DTLS-SERVER:$port,bind=127.0.0.1,cert=$CERT,key=$KEY,verify=0,fork"
    trust=(--cafile "$CA")
    idle=10
  fi
  socat -T "$idle" "$address" PIPE >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 50); do
    if "$CLIENT" --"$transport" --host 127.0.0.1 --port "$port" "${trust[@]}" \
      --datagram-timeout 0.2 <<<"bench" >/dev/null 2>&1; then
      STARTED_PID=$pid
      STARTED_PORT=$port
      return 0
    fi
    alive "$pid" || break
  done
  say "bench: $name did not echo: $(head -c 300 "$TMP/$name.err")"
  stop_pid "$pid"
  return 1
}

# datagram_round SERVER N: the two loads against one server, results named SERVER.LOAD.rN.
datagram_round() {
  local server=$1 n=$2 transport=${1#*-} size=1472 client=()
  [[ $transport == dtls ]] && { size=1200; client=(--cafile "$CA"); }
  local started=yes
  if [[ $server == secureecho-* ]]; then
    start_server "$server.r$n" se "$transport" || started=no
  else
    start_socat_datagrams "$server.r$n" "$transport" || started=no
  fi
  if [[ $started == no ]]; then
    echo "failed: did not start" >"$RESULTS/$server.latency.r$n.status"
    echo "failed: did not start" >"$RESULTS/$server.throughput.r$n.status"
    return 0
  fi
  scenario "$server.latency.r$n" latency "$STARTED_PORT" "$STARTED_PID" --"$transport" \
    "${client[@]}" --connections 8 --size 64
  scenario "$server.throughput.r$n" throughput "$STARTED_PORT" "$STARTED_PID" --"$transport" \
    "${client[@]}" --connections 4 --size "$size"
  stop_pid "$STARTED_PID"
}

for n in $(seq "$ROUNDS"); do
  shift_by=$(( (n - 1) % ${#DATAGRAM_SERVERS[@]} ))
  order=("${DATAGRAM_SERVERS[@]:$shift_by}" "${DATAGRAM_SERVERS[@]:0:$shift_by}")
  say "== datagrams, round $n of $ROUNDS: ${order[*]}"
  for server in "${order[@]}"; do datagram_round "$server" "$n"; done
done
