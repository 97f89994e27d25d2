#!/usr/bin/env bash
# The CAs of the certificate scenarios and fault names (`echo-server --scenarios certs/scenarios`).
# The server issues each leaf itself, in memory, for the exact name a client asks for
# (<scenario>.scenario.localhost, <labels>.fault.localhost); what it needs on disk is:
#   issuer-ca.crt/.key          an intermediate of the development CA, name-constrained to
#                               names under localhost: the key the server holds can sign
#                               nothing else
#   untrusted-root-ca.crt/.key  a root no client trusts (the untrusted-root scenario)
#   client-ca.crt               the CA of the client certificates client-cert-required accepts
# `make certs` runs this; it makes what is missing (or was made by another development CA)
# and leaves the rest. Keys are mode 0600.
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

# Leaves an earlier version of this script wrote to disk; the server issues them now.
for old in expired not-yet-valid wrong-host self-signed untrusted-root incomplete-chain \
  intermediate-ca; do
  rm -f "$out/$old.crt" "$out/$old.key"
done

key() { "$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# The intermediate, issued again when missing or when the development CA no longer signs it.
if [[ ! -f $out/issuer-ca.crt || ! -f $out/issuer-ca.key ]] ||
  ! "$openssl" verify -CAfile "$certs/ca.crt" "$out/issuer-ca.crt" >/dev/null; then
  work=$(mktemp -d)
  key "$out/issuer-ca.key"
  "$openssl" req -new -key "$out/issuer-ca.key" \
    -subj "/O=SecureEcho Development/CN=SecureEcho Scenario Issuer" -out "$work/req.csr"
  # digitalSignature: it also signs the OCSP response of the revoked scenario.
  printf '%s\n' 'basicConstraints = critical, CA:TRUE, pathlen:0' \
    'keyUsage = critical, keyCertSign, cRLSign, digitalSignature' \
    'nameConstraints = critical, permitted;DNS:localhost' \
    'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid' > "$work/ext"
  "$openssl" x509 -req -in "$work/req.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
    -days 3650 -set_serial "0x$("$openssl" rand -hex 16)" -extfile "$work/ext" \
    -out "$out/issuer-ca.crt"
  rm -rf "$work"
  made+=(issuer-ca)
fi

if [[ ! -f $out/untrusted-root-ca.crt || ! -f $out/untrusted-root-ca.key ]]; then
  key "$out/untrusted-root-ca.key"
  "$openssl" req -new -x509 -key "$out/untrusted-root-ca.key" -days 3650 \
    -subj "/O=SecureEcho Scenarios/CN=Untrusted Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/untrusted-root-ca.crt"
  made+=(untrusted-root-ca)
fi

if ! cmp -s "$certs/ca.crt" "$out/client-ca.crt"; then
  cp "$certs/ca.crt" "$out/client-ca.crt"
  made+=(client-ca)
fi

chmod 600 "$out"/*.key
chmod 644 "$out"/*.crt
[[ ${#made[@]} -eq 0 ]] || echo "certificate scenario CAs made in $out: ${made[*]}"
