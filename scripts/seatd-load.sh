#!/usr/bin/env bash
# Node-lease renewals per second and their latency on `airlock-seatd` (SQLite, the loopback):
# a fresh site (scripts/seatd-site.sh), a seat server in release mode, NODES nodes claiming a
# seat each, then renewing over THREADS keep-alive connections for SECONDS.
#   scripts/seatd-load.sh [NODES=200] [THREADS=8] [SECONDS=10]
# Issue 25's target on a 2-core machine: at least 2,000 renewals/s, p99 under 20 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${1:-200} THREADS=${2:-8} SECS=${3:-10}
export BIN=${BIN:-target/release}
cargo build --release --locked -q --workspace --bins
cargo build --release --locked -q -p seatd --example seatd_load
DIR=$(mktemp -d /tmp/seatd-load.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
unset AIRLOCK_HOME KEYS TRUST AIRLOCK_NOW
bash scripts/seatd-site.sh "$DIR" "$NODES" 15 >/dev/null 2>&1
env AIRLOCK_INSTANCE_ID=seat-server-host $BIN/airlock-seatd serve --state "$DIR/seatd" \
  --trust "$DIR/trust.json" --license "$DIR/lic" --listen 127.0.0.1:0 \
  > "$DIR/seatd.out" 2> "$DIR/seatd.log" &
PID=$!
for _ in $(seq 1 100); do
  grep -q listening "$DIR/seatd.out" 2>/dev/null && break
  kill -0 $PID 2>/dev/null || { cat "$DIR/seatd.log"; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$DIR/seatd.out")
echo "seat server $URL: $NODES nodes, $THREADS connections, $SECS s"
${CARGO_TARGET_DIR:-target}/release/examples/seatd_load --url "$URL" --license "$DIR/lic" \
  --nodes "$NODES" --threads "$THREADS" --seconds "$SECS"
