#!/usr/bin/env bash
# The bindings against the Rust call (issue 26, item 6): the one-call check and a feature check
# on one site (crates/runtime-ffi/tests/c/fixture.sh), in Rust (the safe API the bindings
# call), Go (cgo over the static library), Python (PyO3) and Node (napi-rs). Run `make
# bindings` first (it builds the Python package into target/py-venv and the Node addon).
#   scripts/bindings-bench.sh [CHECKS=300] [FEATURES=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKS=${1:-300} FEATURES=${2:-1000000}
T=${CARGO_TARGET_DIR:-target}
SITE=$(mktemp -d /tmp/bindings-bench.XXXXXX)
trap 'rm -rf "$SITE"' EXIT
cargo build --locked -q --workspace --bins
BIN=$T/debug bash crates/runtime-ffi/tests/c/fixture.sh "$SITE" >/dev/null
export AIRLOCK_INSTANCE_ID=ffi-test-machine
cargo run --release --locked -q -p runtime-ffi --example bench -- "$SITE" "$CHECKS" "$FEATURES"
cargo build --release --locked -q -p runtime-ffi
(cd bindings/go && AIRLOCK_BENCH_SITE=$SITE CGO_LDFLAGS="$(cd .. && cd .. && pwd)/$T/release/libairlock.a" \
  go test -run '^$' -bench . -benchtime 2s . | awk '/^Benchmark/ {printf "go     %s %s ns/op\n", $1, $3}')
if [ -x "$T/py-venv/bin/python" ]; then
  (cd bindings/python && VIRTUAL_ENV=$(cd ../.. && pwd)/$T/py-venv "$(cd ../.. && pwd)/$T/py-venv/bin/maturin" develop --release --locked -q >/dev/null 2>&1)
  "$T/py-venv/bin/python" - "$SITE" "$CHECKS" "$FEATURES" <<'PY'
import sys, time, airlock
site, checks, features = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
root = open(f"{site}/root.txt").read().strip()
st = airlock.check(f"{site}/trust.json", f"{site}/license", f"{site}/state", root=root)
t = time.perf_counter()
for _ in range(checks):
    airlock.check(f"{site}/trust.json", f"{site}/license", f"{site}/state")
c = (time.perf_counter() - t) * 1e6 / checks
f = st._inner.feature
t = time.perf_counter()
for _ in range(features):
    f("gate")
n = (time.perf_counter() - t) * 1e9 / features
print(f"python check {c:8.1f} us   feature {n:7.1f} ns (the native method; Status.feature adds a Python call)")
PY
fi
if [ -f "$T/node/airlock.node" ]; then
  (cd bindings/node && cargo build --release --locked -q)
  cp "$(cd bindings/node && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/libairlock_node.so" "$SITE/airlock.node"
  AIRLOCK_NODE_ADDON=$SITE/airlock.node node - "$SITE" "$CHECKS" "$FEATURES" <<'JS'
const native = require(process.env.AIRLOCK_NODE_ADDON);
const fs = require('fs');
const [site, checks, features] = [process.argv[2], +process.argv[3], +process.argv[4]];
const root = fs.readFileSync(`${site}/root.txt`, 'utf8').trim();
const st = native.check(`${site}/trust.json`, `${site}/license`, `${site}/state`, root, -1);
let t = process.hrtime.bigint();
for (let i = 0; i < checks; i++) native.check(`${site}/trust.json`, `${site}/license`, `${site}/state`, null, -1);
const c = Number(process.hrtime.bigint() - t) / 1e3 / checks;
t = process.hrtime.bigint();
for (let i = 0; i < features; i++) st.feature('gate');
const n = Number(process.hrtime.bigint() - t) / features;
console.log(`node   check ${c.toFixed(1).padStart(8)} us   feature ${n.toFixed(1).padStart(7)} ns`);
JS
fi
