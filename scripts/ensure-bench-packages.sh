#!/usr/bin/env bash
# Installs the benchmark peers that come from Debian (PostgreSQL 15 for the ILP benchmark's
# COPY comparison) when missing; `make bench` runs it. The tests never need them.
set -euo pipefail

missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)

if ((${#missing[@]} == 0)); then
    exit 0
fi
echo "installing Debian packages for the benchmarks: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
