#!/usr/bin/env bash
# Whole-process timing of `factory export --all` (issue 23: 50,000 licenses under 5 s), beside
# the filesystem's floor measured in the same minutes: a Python loop making the same layout
# (a directory and two written-then-renamed files per license, no fsync).
#   scripts/export-bench.sh            N=50000 RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}
RUNS=${RUNS:-3}
cargo build --release --locked -q --bins -p factory
F=$PWD/target/release/factory
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
export AIRLOCK_DB=$W/f.db AIRLOCK_HOME=$W/home AIRLOCK_CATALOG=$OLDPWD/fixtures/catalog.json
"$F" keygen --role license --name lic --out keys >/dev/null
python3 - "$N" <<'PY'
import json, sys
with open("b.jsonl", "w") as f:
    for i in range(int(sys.argv[1])):
        f.write(json.dumps({"tier": "evaluation", "customer": f"Customer {i}", "product": "gateway"}) + "\n")
PY
/usr/bin/time -f "issue --batch: %e s, %M KB" "$F" issue --batch b.jsonl --key keys/lic.key --out issued >/dev/null 2>time.txt || true
tail -1 time.txt
for r in $(seq 1 "$RUNS"); do
  python3 - "$N" "floor$r" <<'PY'
import os, sys, time
n, base = int(sys.argv[1]), sys.argv[2]
t = time.time()
os.mkdir(base)
for i in range(n):
    d = f"{base}/lic-{i:016x}"
    os.mkdir(d)
    for name in ("license.json", "license.sig"):
        tmp = f"{d}/.{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"x" * 1200)
        os.close(fd)
        os.rename(tmp, f"{d}/{name}")
print(f"floor (python, same layout): {time.time() - t:.2f} s")
PY
  /usr/bin/time -f "export --all: %e s (user %U, sys %S), %M KB" "$F" export --all --out "out$r" 2>&1 >/dev/null | tail -1
done
/usr/bin/time -f "export --all, nothing missing: %e s" "$F" export --all --out out1 2>&1 >/dev/null | tail -1
