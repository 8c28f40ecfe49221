#!/usr/bin/env bash
# `make fuzz`: the ILP and PG wire parsers under libFuzzer with AddressSanitizer (RELIABILITY
# §5.1). Builds the WireFuzz target in its own build directory (the sanitizer flags apply to
# every module), seeds a corpus per target (ILP: the QuestDB client interop vectors; PG: a
# start-up and the messages drivers send), and fuzzes each target in FUZZ_TARGETS (default
# "ilp pg") for FUZZ_SECONDS (default 300). A finding is saved as .build-fuzz/crash-*; replay it
# with a plain build: `swift build --product WireFuzz && FUZZ_TARGET=… .build/debug/WireFuzz FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-300}"
swift build -c release --product WireFuzz --scratch-path .build-fuzz \
    -Xswiftc -DSUNDIAL_FUZZ -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
mkdir -p .build-fuzz/corpus/ilp .build-fuzz/corpus/pg
python3 - .build-fuzz/corpus <<'PY'
import json, pathlib, struct, sys
root = pathlib.Path(sys.argv[1])
ilp = [b"t,s=x a=1i,b=2.5,c=\"q\\\"x\",d=t,e=12t,f=0x1fi,g=1.25d 1700000000000000000\n\nt a=1\r\n",
       b"cpu,hostname=host_0,region=eu-central-1 usage_user=58i,usage_system=2i 1451606400000000000\n",
       b"t a==\x10\x00\x00\x00\x00\x00\x00\xf0\x3f,b==\x0e\x0a\x01\x02\x00\x00\x00" + bytes(16) + b"\n"]
for path in sorted(pathlib.Path("Tests/LineProtocolTests/Interop").glob("*.json")):
    for case in json.loads(path.read_text()):
        line = case.get("result", {}).get("line")
        if isinstance(line, str):
            ilp.append(line.encode() + b"\n")

def message(kind, body):
    return kind + struct.pack("!i", len(body) + 4) + body

def cstr(text):
    return text.encode() + b"\0"

params = cstr("user") + cstr("admin") + cstr("database") + cstr("qdb") + b"\0"
startup = struct.pack("!ii", 8 + len(params), 196608) + params
ssl = struct.pack("!ii", 8, 80877103)
extended = (message(b"P", cstr("s1") + cstr("SELECT $1::int") + struct.pack("!hi", 1, 23))
            + message(b"B", cstr("") + cstr("s1") + struct.pack("!hhh", 1, 1, 1) + struct.pack("!i", 4) + struct.pack("!i", 7)
                      + struct.pack("!hh", 1, 1))
            + message(b"D", b"P" + cstr("")) + message(b"E", cstr("") + struct.pack("!i", 0)) + message(b"S", b""))
pg = [b"\x00" + ssl + startup + message(b"p", cstr("quest")) + message(b"Q", cstr("SELECT 1")) + message(b"X", b""),
      b"\x01" + message(b"Q", cstr("BEGIN; SELECT 1; COMMIT")) + extended + message(b"C", b"S" + cstr("s1")),
      b"\x01" + extended + message(b"H", b"") + message(b"F", b"\0")]
for name, seeds in (("ilp", ilp), ("pg", pg)):
    for index, seed in enumerate(seeds):
        (root / name / f"seed-{index:03}").write_bytes(seed)
PY
for target in ${FUZZ_TARGETS:-ilp pg}; do
    echo "== fuzzing $target for $seconds s"
    FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no .build-fuzz/release/WireFuzz ".build-fuzz/corpus/$target" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=5 -max_len=4096 -artifact_prefix=".build-fuzz/$target-" \
        -print_final_stats=1
done
