#!/usr/bin/env bash
# Development certificates for mTLS, made with openssl only.
#
#   scripts/dev-certs.sh [-o DIR] [SPIFFE_ID ...]
#
# Makes in DIR (default .data/certs, git-ignored):
#   ca.crt, ca.key         a development CA (kept and reused if already there)
#   server.crt, server.key the server's certificate: DNS:localhost, IP:127.0.0.1
#   <name>.crt, <name>.key one client certificate per SPIFFE ID, whose URI SAN
#                          is that ID; <name> is the ID's last path segment
# Default client: spiffe://aevon/ns/payments/sa/payments-api.
#
# Serve with TLS_CERT_FILE=DIR/server.crt TLS_KEY_FILE=DIR/server.key
# TLS_CLIENT_CA_FILE=DIR/ca.crt; call with DIR/<name>.crt/.key and DIR/ca.crt.
# Never use these outside development: the CA key sits next to the certificates.
set -euo pipefail

dir=".data/certs"
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "o:h" opt; do
  case "$opt" in
    o) dir="$OPTARG" ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))
ids=("$@")
[ ${#ids[@]} -eq 0 ] && ids=("spiffe://aevon/ns/payments/sa/payments-api")

command -v openssl >/dev/null || { echo "dev-certs: openssl is required" >&2; exit 1; }
spiffe_re='^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]+)+$'
declare -A seen=()
for id in "${ids[@]}"; do
  if ! [[ "$id" =~ $spiffe_re ]] || [[ "$id" =~ /\.\.?(/|$) ]]; then
    echo "dev-certs: \"$id\" is not a SPIFFE ID (spiffe://trust-domain/path, lower-case trust domain, segments of A-Z a-z 0-9 . _ -)" >&2
    exit 2
  fi
  name="${id##*/}"
  if [ -n "${seen[$name]:-}" ] || [ "$name" = ca ] || [ "$name" = server ]; then
    echo "dev-certs: two certificates would be named $name.crt; give IDs with distinct last segments" >&2
    exit 2
  fi
  seen[$name]=1
done

umask 077
mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)

if [ -f "$dir/ca.crt" ] && [ -f "$dir/ca.key" ]; then
  echo "kept     $dir/ca.crt (existing development CA)"
else
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 365 \
    -subj "/O=Ledger of Record development/CN=ledger-dev-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  echo "made     $dir/ca.crt, $dir/ca.key (development CA, 365 days)"
fi

# issue NAME CN USAGE SAN...
issue() {
  local name="$1" cn="$2" usage="$3"
  shift 3
  {
    echo "[v3]"
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    echo "subjectAltName=@alt"
    echo "[alt]"
    local i=0
    for san in "$@"; do i=$((i + 1)); echo "${san%%:*}.$i = ${san#*:}"; done
  } >"$work/$name.ext"
  openssl req -new "${ec[@]}" -keyout "$dir/$name.key" -out "$work/$name.csr" -subj "/CN=$cn" 2>/dev/null
  openssl x509 -req -in "$work/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 90 -sha256 -extfile "$work/$name.ext" -extensions v3 -out "$dir/$name.crt" 2>/dev/null
}

issue server localhost serverAuth DNS:localhost IP:127.0.0.1
echo "made     $dir/server.crt, $dir/server.key (DNS:localhost, IP:127.0.0.1, 90 days)"
for id in "${ids[@]}"; do
  name="${id##*/}"
  issue "$name" "$name" clientAuth "URI:$id"
  echo "made     $dir/$name.crt, $dir/$name.key (client, URI:$id, 90 days)"
done
chmod 644 "$dir"/*.crt
cat <<MSG

Serve:  TLS_CERT_FILE=$dir/server.crt TLS_KEY_FILE=$dir/server.key TLS_CLIENT_CA_FILE=$dir/ca.crt
Call:   grpcurl -cacert $dir/ca.crt -cert $dir/${ids[0]##*/}.crt -key $dir/${ids[0]##*/}.key localhost:50051 list
MSG
