"""A TSBS `cpu-only` data generator of our own (PERFORMANCE §2.1; no TSBS code).

Hosts `host_0 … host_{N-1}` with 10 fixed tags each; one `cpu` row per host every interval, in
time order then host order; 10 integer fields, each a random walk clamped to [0, 100] starting at
U(0, 100) with N(0, 1) steps, emitted as int64 (`usage_user=58i`). Writes the rows as ILP and as
CSV (same rows, same order) so every benchmark loads identical data.

    python tsbs_generate.py --hosts 1000 --rows 10000000 --out /tmp/sundial-tsbs
"""
import argparse
import os
import random
import time

import numpy as np

REGIONS = {
    "us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    "us-west-1": ["us-west-1a", "us-west-1b"],
    "us-west-2": ["us-west-2a", "us-west-2b", "us-west-2c"],
    "eu-west-1": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    "eu-central-1": ["eu-central-1a", "eu-central-1b"],
    "ap-southeast-1": ["ap-southeast-1a", "ap-southeast-1b"],
    "ap-southeast-2": ["ap-southeast-2a", "ap-southeast-2b"],
    "ap-northeast-1": ["ap-northeast-1a", "ap-northeast-1c"],
    "sa-east-1": ["sa-east-1a", "sa-east-1b", "sa-east-1c"],
}
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq",
          "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version",
        "service_environment"]
START_NS = 1_451_606_400_000_000_000  # 2016-01-01T00:00:00Z


def host_tags(hosts, seed):
    rng = random.Random(seed)
    tags = []
    for h in range(hosts):
        region = rng.choice(sorted(REGIONS))
        tags.append([f"host_{h}", region, rng.choice(REGIONS[region]), str(rng.randrange(100)),
                     rng.choice(["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"]), rng.choice(["x64", "x86"]),
                     rng.choice(["SF", "NYC", "LON", "CHI"]), str(rng.randrange(20)), str(rng.randrange(2)),
                     rng.choice(["production", "staging", "test"])])
    return tags


def generate(hosts, rows, out_dir, seed=123, interval_s=10):
    os.makedirs(out_dir, exist_ok=True)
    ilp_path = os.path.join(out_dir, f"cpu-{hosts}h-{rows}r.ilp")
    csv_path = os.path.join(out_dir, f"cpu-{hosts}h-{rows}r.csv")
    if os.path.exists(ilp_path) and os.path.exists(csv_path):
        return ilp_path, csv_path
    tags = host_tags(hosts, seed)
    ilp_prefix = ["cpu," + ",".join(f"{k}={v}" for k, v in zip(TAGS, t)) + " " for t in tags]
    csv_prefix = [",".join(t) + "," for t in tags]
    rng = np.random.default_rng(seed)
    walk = rng.uniform(0, 100, size=(hosts, len(FIELDS)))
    ticks = (rows + hosts - 1) // hosts
    written = 0
    with open(ilp_path + ".tmp", "w") as ilp, open(csv_path + ".tmp", "w") as csv:
        csv.write(",".join(TAGS + FIELDS) + ",timestamp\n")
        for tick in range(ticks):
            walk = np.clip(walk + rng.normal(0, 1, size=walk.shape), 0, 100)
            values = walk.astype(np.int64)
            ts = START_NS + tick * interval_s * 1_000_000_000
            count = min(hosts, rows - written)
            ilp_lines = []
            csv_lines = []
            for h in range(count):
                v = values[h]
                ilp_lines.append(ilp_prefix[h] + ",".join(f"{f}={x}i" for f, x in zip(FIELDS, v)) + f" {ts}\n")
                csv_lines.append(csv_prefix[h] + ",".join(str(x) for x in v) + f",{ts // 1000}\n")
            ilp.write("".join(ilp_lines))
            csv.write("".join(csv_lines))
            written += count
    os.rename(ilp_path + ".tmp", ilp_path)
    os.rename(csv_path + ".tmp", csv_path)
    return ilp_path, csv_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--out", default="/tmp/sundial-tsbs")
    args = parser.parse_args()
    started = time.monotonic()
    paths = generate(args.hosts, args.rows, args.out)
    print(f"{paths[0]}\n{paths[1]}\n({time.monotonic() - started:.1f} s)")
