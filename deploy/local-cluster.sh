#!/bin/sh
# A primary and two replicas on loopback with mutual TLS, in one command.
#
#   deploy/local-cluster.sh [DIR]        (default DIR: ./sundial-cluster)
#
# Builds nothing: uses .build/release/sundial (run `make release` first) or $SUNDIAL_BINARY.
# Ports: primary   HTTP 9000, ILP/TCP 9009, PG 8812, health 9003, replication 9005
#        replica1  HTTP 9100, ILP/TCP 9109, PG 8912, health 9103, replication 9105
#        replica2  HTTP 9200, ILP/TCP 9209, PG 9012, health 9203, replication 9205
# Logs go to DIR/NAME.log; Ctrl-C (or SIGTERM) stops all three gracefully.
# Watch lag:  sundial status --url http://127.0.0.1:9003
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
binary=${SUNDIAL_BINARY:-$root/.build/release/sundial}
dir=${1:-./sundial-cluster}
[ -x "$binary" ] || { echo "$0: $binary is missing: run 'make release'" >&2; exit 69; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$dir/certs/ca.pem" ] || sh "$here/tls/make-certs.sh" "$dir/certs" primary replica1 replica2 >/dev/null

pids=""
start() { # name role offset
    name=$1 role=$2 offset=$3
    (
        export QDB_HTTP_NET_BIND_TO="127.0.0.1:$((9000 + offset))"
        export QDB_LINE_TCP_NET_BIND_TO="127.0.0.1:$((9009 + offset))"
        export QDB_PG_NET_BIND_TO="127.0.0.1:$((8812 + offset))"
        export QDB_HTTP_MIN_NET_BIND_TO="127.0.0.1:$((9003 + offset))"
        export QDB_REPLICATION_ROLE="$role"
        export QDB_REPLICATION_BIND_TO="127.0.0.1:$((9005 + offset))"
        export QDB_REPLICATION_TLS_CA="$dir/certs/ca.pem"
        export QDB_REPLICATION_TLS_CERT="$dir/certs/$name.pem"
        export QDB_REPLICATION_TLS_KEY="$dir/certs/$name.key"
        export QDB_REPLICATION_PEERS="127.0.0.1:9005,127.0.0.1:9105,127.0.0.1:9205"
        if [ "$role" = replica ]; then export QDB_REPLICATION_PRIMARY="localhost:9005"; fi
        exec "$binary" serve --data-dir "$dir/$name"
    ) >>"$dir/$name.log" 2>&1 &
    pids="$pids $!"
    echo "$name ($role): http://127.0.0.1:$((9000 + offset))  pg port $((8812 + offset))  health http://127.0.0.1:$((9003 + offset))  log $dir/$name.log"
}

stop() {
    trap - INT TERM
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    wait
    echo "cluster stopped"
}
trap stop INT TERM

start primary primary 0
start replica1 replica 100
start replica2 replica 200
echo "status: $binary status --url http://127.0.0.1:9003   (Ctrl-C stops the cluster)"
wait
