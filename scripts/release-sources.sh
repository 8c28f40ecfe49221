#!/usr/bin/env bash
# Incremental builds are not safe here. With cross-module optimisation (release), a module that
# inlined another module's code is not always rebuilt when only that code changes, and the
# binary then crashes (seen twice: a struct grew a field, a dependent kept the old layout).
# The debug build did the same once: a `package` struct of LineProtocol gained a stored
# property and Node kept the old layout (a test crashed in swift_release).
#   release-sources.sh check          → release: wipes the release build directory if sources changed
#   release-sources.sh check-debug    → debug: makes every module of ours recompile if sources
#                                       changed (touches them; dependencies stay built, ~15 s)
#   release-sources.sh record[-debug] → records the sources the build was made from
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
case "$mode" in
    *-debug) stamp=.build/debug-sources.sha256; inputs=(Sources Tests Package.swift) ;;
    *) stamp=.build/release-sources.sha256; inputs=(Sources Package.swift) ;;
esac
current=$(find "${inputs[@]}" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
case "$mode" in
    check)
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$current" ]; then exit 0; fi
        for dir in .build/*/release; do
            [ -d "$dir" ] && rm -rf "$dir"
        done
        rm -f "$stamp"
        ;;
    check-debug)
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$current" ]; then exit 0; fi
        find Sources Tests -name '*.swift' -exec touch {} +
        rm -f "$stamp"
        ;;
    record|record-debug)
        mkdir -p .build
        echo "$current" > "$stamp"
        ;;
esac
