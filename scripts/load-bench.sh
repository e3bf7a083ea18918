#!/usr/bin/env bash
# Load benchmark of the activation service, loopback only, bounded in count and time:
# activations/s and renewals/s with p50/p99 latency, on the embedded SQLite registry (and on
# PostgreSQL once that backend lands). PERF='perf record -g -p PID --' style wrappers go in $PERF.
#   scripts/load-bench.sh [sqlite]   MACHINES=500 RENEWALS=20000 THREADS=32
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-sqlite}
MACHINES=${MACHINES:-500}
RENEWALS=${RENEWALS:-20000}
THREADS=${THREADS:-32}
cargo build --release --locked -q --bins -p factory -p activation-server --example load
BIN=target/release
W=$(mktemp -d)
trap 'kill ${SERVER:-0} 2>/dev/null || true; rm -rf "$W"' EXIT
export AIRLOCK_DB=$W/factory.db AIRLOCK_CATALOG=fixtures/catalog.json
unset AIRLOCK_NOW AIRLOCK_TRUST AIRLOCK_ROOT
for role in root license activation; do $BIN/factory keygen --role $role --name $role --out "$W/keys" >/dev/null; done
$BIN/factory trust --root-key "$W/keys/root.key" --add "$W/keys/license.pub" "$W/keys/activation.pub" --out "$W/trust.json" >/dev/null
$BIN/factory issue --tier sovereign --customer Loadtest --product gateway --device-limit 10000 \
  --key "$W/keys/license.key" --out "$W/lic" >/dev/null
DB=$AIRLOCK_DB
if [ "$BACKEND" != sqlite ]; then
  echo "backend $BACKEND: only sqlite is built so far (PostgreSQL is issue 12's open part)" >&2
  exit 2
fi
$BIN/airlock-server --listen 127.0.0.1:0 --db "$DB" --key "$W/keys/activation.key" --trust "$W/trust.json" \
  --license-rate 1000000/min,burst=1000000 --address-rate 1000000/min,burst=1000000 \
  > "$W/server.out" 2> "$W/server.log" &
SERVER=$!
for _ in $(seq 1 100); do grep -q listening "$W/server.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$W/server.out")
echo "backend $BACKEND, $MACHINES machines, $RENEWALS renewals, $THREADS clients, $(nproc) cores"
${PERF:-} target/release/examples/load "$URL" "$W/lic" "$MACHINES" "$RENEWALS" "$THREADS"
# CPU the service used (user + system, seconds): what one renewal costs it.
read -r -a ST < "/proc/$SERVER/stat"
echo "{\"server_cpu_seconds\": $(( (ST[13] + ST[14]) / $(getconf CLK_TCK) ))}"
