#!/usr/bin/env bash
# Incremental release builds are not safe here: with cross-module optimisation, a module that
# inlined another module's code is not always rebuilt when only that code changes, and the
# binary then crashes (seen twice: a struct grew a field, a dependent kept the old layout).
# So a release build starts clean whenever any source changed since the last one.
#   release-sources.sh check   → wipes the release build directory if sources changed
#   release-sources.sh record  → records the sources the current release build was made from
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.build/release-sources.sha256
current=$(find Sources Package.swift -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
case "${1:-check}" in
    check)
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$current" ]; then exit 0; fi
        for dir in .build/*/release; do
            [ -d "$dir" ] && rm -rf "$dir"
        done
        rm -f "$stamp"
        ;;
    record)
        mkdir -p .build
        echo "$current" > "$stamp"
        ;;
esac
