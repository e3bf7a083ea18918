#!/usr/bin/env bash
# Load benchmark of the activation service, loopback only, bounded in count and time:
# activations/s and renewals/s with p50/p99 latency, on the embedded SQLite registry or on a
# PostgreSQL cluster the script starts (Debian's postgresql, durable settings, in a temporary
# directory, on 127.0.0.1). A wrapper for the load client goes in $PERF (e.g. time).
#   scripts/load-bench.sh [sqlite|postgres]   MACHINES=500 RENEWALS=20000 THREADS=32
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-sqlite}
MACHINES=${MACHINES:-500}
RENEWALS=${RENEWALS:-20000}
THREADS=${THREADS:-32}
cargo build --release --locked -q --bins -p factory -p activation-server --example load
BIN=target/release
W=$(mktemp -d)
PGDIR=$(mktemp -d)
# Only the processes this script started (an unset pid must never become `kill 0`: the
# whole process group, the caller's shell included).
cleanup() {
  if [ -n "${SERVER:-}" ]; then kill "$SERVER" 2>/dev/null || true; fi
  if [ -n "${PG:-}" ]; then kill -QUIT "$PG" 2>/dev/null || true; sleep 1; fi
  rm -rf "$W" "$PGDIR"
}
trap cleanup EXIT
export AIRLOCK_DB=$W/factory.db AIRLOCK_CATALOG=fixtures/catalog.json
case "$BACKEND" in
  sqlite) ;;
  postgres)
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 2; }
    AS=()
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDIR"; AS=(setpriv --reuid=postgres --regid=postgres --init-groups); fi
    "${AS[@]}" "$PGBIN/initdb" --auth=trust --username=postgres --locale=C -D "$PGDIR/data" >/dev/null
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${AS[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -p "$PORT" -k "$PGDIR" -c listen_addresses=127.0.0.1 \
      > "$W/pg.log" 2>&1 &
    PG=$!
    for _ in $(seq 1 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.2; done
    export AIRLOCK_DB=postgres://postgres@127.0.0.1:$PORT/postgres
    ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
unset AIRLOCK_NOW AIRLOCK_TRUST AIRLOCK_ROOT
for role in root license activation; do $BIN/factory keygen --role $role --name $role --out "$W/keys" >/dev/null; done
$BIN/factory trust --root-key "$W/keys/root.key" --add "$W/keys/license.pub" "$W/keys/activation.pub" --out "$W/trust.json" >/dev/null
$BIN/factory issue --tier sovereign --customer Loadtest --product gateway --device-limit 10000 \
  --key "$W/keys/license.key" --out "$W/lic" >/dev/null
DB=$AIRLOCK_DB
AIRLOCK_LOG=${AIRLOCK_LOG:-info} $BIN/airlock-server --listen 127.0.0.1:0 --db "$DB" --key "$W/keys/activation.key" --trust "$W/trust.json" \
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
# The writer thread alone (registry transactions and lease signatures): the serial part.
for t in /proc/$SERVER/task/*; do
  if [ "$(cat "$t/comm")" = airlock-writer ]; then
    read -r -a TS < "$t/stat"
    echo "{\"writer_cpu_seconds\": $(( (TS[13] + TS[14]) / $(getconf CLK_TCK) ))}"
  fi
done
