#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only when missing, so that
# `make run` and `make test` work on a fresh Debian machine that has only the Swift toolchain.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists liblz4 2>/dev/null || missing+=(liblz4-dev)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
pkg-config --exists libcrypto 2>/dev/null || missing+=(libssl-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The IANA time zone database: SQL's time zones (`to_timezone`, SAMPLE BY … TIME ZONE) read it.
[ -f /usr/share/zoneinfo/Europe/Berlin ] || missing+=(tzdata)
# PostgreSQL 15: `psql` drives PG wire tests, and its server is the oracle the bad-input tests
# compare Sundial's answers with; `make bench` runs it as the peer.
[ -x /usr/lib/postgresql/15/bin/postgres ] && command -v psql >/dev/null 2>&1 || missing+=(postgresql-15 postgresql-client-15)

if ((${#missing[@]} == 0)); then
    exit 0
fi

echo "installing Debian packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
