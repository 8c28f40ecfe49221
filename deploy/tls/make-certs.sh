#!/bin/sh
# Certificates for Sundial's replication channel (mutual TLS 1.3 against a cluster CA).
#
#   deploy/tls/make-certs.sh DIR NAME...
#
# Writes DIR/ca.pem (the cluster CA; every node trusts only it) and, per NAME, DIR/NAME.pem and
# DIR/NAME.key: an ECDSA P-256 key and a certificate signed by the CA, valid for both server and
# client authentication, with subject alternative names NAME, localhost and 127.0.0.1. The CA
# key stays in DIR/ca.key (mode 600) so more nodes can be added later by running the script
# again with new names; keep it off the nodes in production.
#
# Environment: DAYS (default 397) — certificate lifetime; short-lived certificates are the
# revocation strategy (RELIABILITY §4.6). EXTRA_SANS — more SANs, e.g. "DNS:db1.example,IP:10.0.0.5".
set -eu

if [ "$#" -lt 2 ]; then
    echo "usage: $0 DIR NAME..." >&2
    exit 64
fi
command -v openssl >/dev/null || { echo "$0: openssl is required (apt-get install openssl)" >&2; exit 69; }

dir=$1
shift
days=${DAYS:-397}
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.key" ] || [ ! -f "$dir/ca.pem" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" -subj "/CN=sundial cluster CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/ca.pem" 2>/dev/null
    echo "wrote $dir/ca.pem (CA key in $dir/ca.key)"
fi

for name in "$@"; do
    case $name in
        */* | "" | .*) echo "$0: '$name' is not a usable node name" >&2; exit 65 ;;
    esac
    sans="DNS:$name,DNS:localhost,IP:127.0.0.1"
    if [ -n "${EXTRA_SANS:-}" ]; then sans="$sans,$EXTRA_SANS"; fi
    extensions=$(mktemp)
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
        "$sans" >"$extensions"
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$name.key"
    openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days "$days" -sha256 -extfile "$extensions" -out "$dir/$name.pem" 2>/dev/null
    rm -f "$dir/$name.csr" "$extensions"
    echo "wrote $dir/$name.pem and $dir/$name.key ($sans)"
done
chmod 644 "$dir/ca.pem" "$dir"/*.pem
