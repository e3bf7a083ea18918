#!/usr/bin/env bash
# The bindings against the Rust call (issue 26, item 6): the one-call check and a feature check
# on one site (crates/runtime-ffi/tests/c/fixture.sh), in Rust (the safe API the bindings
# call), Go (cgo over the static library), Python (PyO3) and Node (napi-rs). Run `make
# bindings` first (it builds the Python package into target/py-venv and the Node addon).
#   scripts/bindings-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}
SITE=$(mktemp -d /tmp/bindings-bench.XXXXXX)
trap 'rm -rf "$SITE"' EXIT
cargo build --locked -q --workspace --bins
BIN=$T/debug bash crates/runtime-ffi/tests/c/fixture.sh "$SITE" >/dev/null
export AIRLOCK_INSTANCE_ID=ffi-test-machine
# Rust: Criterion over the safe API and the C ABI (crates/runtime-ffi/benches/ffi.rs).
AIRLOCK_BENCH_SITE=$SITE cargo bench --locked -q -p runtime-ffi --bench ffi 2>/dev/null \
  | awk '/time:/ {printf "rust   %-24s %s %s\n", $1, $5, $6}'
cargo build --release --locked -q -p runtime-ffi
(cd bindings/go && AIRLOCK_BENCH_SITE=$SITE CGO_LDFLAGS="$(cd .. && cd .. && pwd)/$T/release/libairlock.a" \
  go test -run '^$' -bench . -benchtime 2s . | awk '/^Benchmark/ {printf "go     %s %s ns/op\n", $1, $3}')
if [ -x "$T/py-venv/bin/python" ]; then
  (cd bindings/python && VIRTUAL_ENV=$(cd ../.. && pwd)/$T/py-venv "$(cd ../.. && pwd)/$T/py-venv/bin/maturin" develop --release --locked -q >/dev/null 2>&1)
  "$T/py-venv/bin/python" bindings/python/bench.py "$SITE"
fi
if [ -f "$T/node/airlock.node" ]; then
  (cd bindings/node && cargo build --release --locked -q)
  cp "$(cd bindings/node && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/libairlock_node.so" "$SITE/airlock.node"
  AIRLOCK_NODE_ADDON=$SITE/airlock.node node bindings/node/bench.js "$SITE"
fi
