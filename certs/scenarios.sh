#!/usr/bin/env bash
# The certificates of the certificate scenarios (`echo-server --scenarios certs/scenarios`): one
# leaf per scenario, for the server name <scenario>.scenario.localhost, each wrong in the one way
# its name says. `make certs` runs this; it makes what is missing (and the 90-day leaves again
# when they are within 7 days of their end) and leaves the rest.
#   certs/scenarios.sh CERTS_DIR OPENSSL
set -euo pipefail
certs=$1
openssl=$2
out=$certs/scenarios
mkdir -p "$out"
umask 077
# openssl's chatter goes to a log, shown only if something fails.
log=$(mktemp)
exec 3>&2 2>"$log"
trap 'status=$?; if [ $status -ne 0 ]; then cat "$log" >&3; echo "certs/scenarios.sh failed" >&3; fi; rm -f "$log"' EXIT
made=()

# A key, mode 0600 (umask 077: never readable by others, even for an instant).
key() { "$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# extensions NAME [SAN]: a server leaf's extensions, naming SAN (default: the scenario's name).
extensions() {
  printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n'
  printf 'extendedKeyUsage = serverAuth\nsubjectAltName = DNS:%s\n' "${2:-$1.scenario.localhost}"
}

# sign NAME CA_CERT CA_KEY START END [SAN]: the leaf NAME, signed by CA, valid from START to END
# (openssl ca's YYYYMMDDHHMMSSZ), which only `openssl ca` can set in OpenSSL 3.0.
sign() {
  local name=$1 ca=$2 cakey=$3 start=$4 end=$5 san=${6:-}
  local work
  work=$(mktemp -d)
  key "$out/$name.key"
  "$openssl" req -new -key "$out/$name.key" -subj "/O=SecureEcho Scenarios/CN=$name.scenario.localhost" \
    -out "$work/req.csr"
  extensions "$name" "$san" > "$work/ext"
  : > "$work/index.txt"
  "$openssl" rand -hex 16 > "$work/serial"
  printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\nnew_certs_dir = %s\nserial = %s\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' \
    "$work/index.txt" "$work" "$work/serial" > "$work/ca.cnf"
  "$openssl" ca -batch -notext -config "$work/ca.cnf" -cert "$ca" -keyfile "$cakey" \
    -in "$work/req.csr" -extfile "$work/ext" -startdate "$start" -enddate "$end" \
    -out "$out/$name.crt"
  rm -rf "$work"
}

# ca NAME SUBJECT [ISSUER ISSUER_KEY]: a CA of the scenarios' own (self-signed, or under ISSUER).
ca() {
  local name=$1 subject=$2
  key "$out/$name.key"
  printf 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n' \
    > "$out/$name.ext"
  if [[ $# -eq 4 ]]; then
    "$openssl" req -new -key "$out/$name.key" -subj "$subject" -out "$out/$name.csr"
    "$openssl" x509 -req -in "$out/$name.csr" -CA "$3" -CAkey "$4" -days 3650 \
      -set_serial "0x$("$openssl" rand -hex 16)" -extfile "$out/$name.ext" -out "$out/$name.crt"
    rm -f "$out/$name.csr"
  else
    "$openssl" req -new -x509 -key "$out/$name.key" -subj "$subject" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$out/$name.crt"
  fi
  rm -f "$out/$name.ext"
}

# Whether NAME's leaf must be made (again): missing, or (for those meant to be valid) near its
# end. Noted for the line at the end.
due() {
  if [[ -f $out/$1.crt && -f $out/$1.key ]]; then
    [[ ${2:-} == fixed ]] && return 1
    "$openssl" x509 -checkend 604800 -noout -in "$out/$1.crt" >/dev/null && return 1
  fi
  made+=("$1")
}

now=$(date -u +%Y%m%d%H%M%SZ)
later=$(date -u -d '+90 days' +%Y%m%d%H%M%SZ)

if due expired fixed; then sign expired "$certs/ca.crt" "$certs/ca.key" 20200101000000Z 20200201000000Z; fi
if due not-yet-valid fixed; then
  sign not-yet-valid "$certs/ca.crt" "$certs/ca.key" 20990101000000Z 20991231000000Z
fi
# Valid and trusted, for another name than the one asked for.
if due wrong-host; then
  sign wrong-host "$certs/ca.crt" "$certs/ca.key" "$now" "$later" wrong-host.invalid
fi
# Its own issuer.
if due self-signed; then
  key "$out/self-signed.key"
  extensions self-signed > "$out/self-signed.ext"
  "$openssl" req -new -x509 -key "$out/self-signed.key" -days 90 \
    -subj "/O=SecureEcho Scenarios/CN=self-signed.scenario.localhost" \
    -addext "subjectAltName=DNS:self-signed.scenario.localhost" -out "$out/self-signed.crt"
  rm -f "$out/self-signed.ext"
fi
# Under a root no client trusts, sent with the chain (the root included).
if due untrusted-root; then
  [[ -f $out/untrusted-root-ca.crt ]] || ca untrusted-root-ca "/O=SecureEcho Scenarios/CN=Untrusted Root"
  sign untrusted-root "$out/untrusted-root-ca.crt" "$out/untrusted-root-ca.key" "$now" "$later"
  cat "$out/untrusted-root-ca.crt" >> "$out/untrusted-root.crt"
fi
# Under an intermediate of the development CA that the server leaves out of the chain.
if due incomplete-chain; then
  [[ -f $out/intermediate-ca.crt ]] ||
    ca intermediate-ca "/O=SecureEcho Scenarios/CN=Scenario Intermediate" "$certs/ca.crt" "$certs/ca.key"
  sign incomplete-chain "$out/intermediate-ca.crt" "$out/intermediate-ca.key" "$now" "$later"
fi
chmod 600 "$out"/*.key
chmod 644 "$out"/*.crt
[[ ${#made[@]} -eq 0 ]] || echo "certificate scenarios made in $out: ${made[*]}"
