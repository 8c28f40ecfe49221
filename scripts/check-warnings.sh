#!/usr/bin/env bash
# Fails when a build log shows a compiler warning in the project's own sources: Sundial builds
# warning-free (dependencies' warnings are theirs). Usage: check-warnings.sh BUILD_LOG
set -euo pipefail
log="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
if grep -E "^${root}/(Sources|Tests)/.*: warning:" "$log" | sort -u; then
    echo "error: the build has warnings in Sundial's own sources (above)" >&2
    exit 1
fi
