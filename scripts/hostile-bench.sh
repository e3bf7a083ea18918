#!/usr/bin/env bash
# Time and peak memory of `runtime-verify` on hostile inputs (issue 8: cost is bounded before
# any signature is checked). Each case must be rejected (or, for the genuine many-member
# bundle, accepted) in under 1 s and 32 MiB. Usage: scripts/hostile-bench.sh [OUTDIR] [MEMBERS]
# Writes about 40 MB to disk (the 1 GiB and 1 TiB files are sparse).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/hostile}
MEMBERS=${2:-99000}
cargo build --release --locked -p runtime-verify --bin runtime-verify --example hostile >/dev/null
rm -rf "$OUT"
"${CARGO_TARGET_DIR:-target}"/release/examples/hostile "$OUT" "$MEMBERS"
RV=${BIN:-$PWD/${CARGO_TARGET_DIR:-target}/release}/runtime-verify
ROOT=$(cat "$OUT/root.b64")
python3 - "$RV" "$OUT" "$ROOT" <<'PY'
import os, subprocess, sys, time
rv, out, root = sys.argv[1:4]
AT = "2026-11-22T10:00:00Z"
cases = [
    ("numbers, 4 KB manifest", [f"{out}/numbers-4k/b.tar.gz", "--trust", f"{out}/trust.json"], 1),
    ("numbers, 16 MiB manifest (cap)", [f"{out}/numbers-16m/b.tar.gz", "--trust", f"{out}/trust.json"], 1),
    ("numbers, 256 KiB trust file", ["license", f"{out}/lic/license.json", "--trust", f"{out}/trust-numbers.json"], 1),
    ("oversized license.sig (1 GiB)", ["license", f"{out}/big-sig/license.json", "--trust", f"{out}/trust.json"], 1),
    ("sparse 1 TiB bundle", [f"{out}/sparse/b.tar.gz", "--trust", f"{out}/trust.json"], 1),
    (f"genuine bundle, many members", [f"{out}/many-members/d/b.tar.gz", "--trust", f"{out}/trust.json"], 0),
]
print(f"{'case':34} {'exit':>4} {'wall s':>8} {'peak MiB':>9}  verdict")
worst_t = worst_m = 0.0
ok = True
for name, args, want in cases:
    t0 = time.perf_counter()
    p = subprocess.Popen([rv, *args, "--root", root, "--at", AT], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode(errors="replace").strip().splitlines()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    mib = ru.ru_maxrss / 1024
    verdict = (err[0] if err else "VALID")[:90]
    print(f"{name:34} {code:>4} {wall:>8.3f} {mib:>9.1f}  {verdict}")
    ok &= code == want
    if want == 1:
        worst_t, worst_m = max(worst_t, wall), max(worst_m, mib)
print(f"worst hostile case: {worst_t:.3f} s, {worst_m:.1f} MiB (targets: < 1 s, < 32 MiB)")
sys.exit(0 if ok else 1)
PY
