"""kill -9 loop: a writer commits numbered rows and records each acknowledgement; after every
kill, reopening must show every acknowledged row exactly once (issue 3) — in each commit mode,
since a process crash leaves the page cache (RELIABILITY §6.1 D1, D2).

SUNDIAL_CRASH_CYCLES raises the cycle count of every mode for a longer campaign (default 12 in
sync, 6 in async and nosync)."""
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import ROOT

BENCH = ROOT / ".build" / "release" / "sundial-storage-bench"


@pytest.mark.parametrize("mode,default_cycles", [("sync", 12), ("async", 6), ("nosync", 6)])
def test_every_acknowledged_row_survives_kill_9(tmp_path, mode, default_cycles):
    assert BENCH.exists(), f"{BENCH} is missing: run `make release`"
    data, ack = tmp_path / "data", tmp_path / "acks"
    cycles = int(os.environ.get("SUNDIAL_CRASH_CYCLES", default_cycles))
    rng = random.Random(20261125)
    reports = []
    for cycle in range(cycles):
        writer = subprocess.Popen([str(BENCH), "crash-writer", "--data-dir", str(data), "--ack-file", str(ack),
                                   "--commit-mode", mode],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 0.25))
        writer.send_signal(signal.SIGKILL)
        _, stderr = writer.communicate(timeout=10)
        assert writer.returncode == -signal.SIGKILL, f"writer ended by itself ({writer.returncode}): {stderr.decode()}"
        verify = subprocess.run([str(BENCH), "crash-verify", "--data-dir", str(data), "--ack-file", str(ack)],
                                capture_output=True, text=True, timeout=60)
        reports.append(verify.stdout.strip())
        assert verify.returncode == 0, f"cycle {cycle}: {verify.stdout}{verify.stderr}"
    # The writer really made progress across the cycles.
    first, last = (int(r.split("acknowledged=")[1].split()[0]) for r in (reports[0], reports[-1]))
    assert last > first > 0, reports
