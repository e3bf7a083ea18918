#!/usr/bin/env bash
# Sealed payloads, whole process (issue 24): the same tree packaged plain and sealed, then each
# verified and extracted by runtime-verify on a machine whose lease carries the build's key.
#   target: sealed verify+extract <= 1.5 x plain verify+extract, at the same bounded memory
# Usage: scripts/sealed-bench.sh [SIZE_MIB (default 1024)] [WORKDIR (default /tmp/airlock-sealed)]
# Half the tree is incompressible (urandom), half text; TEXT=0 makes it all incompressible
# (container layers, compressed artifacts): then both bundles have the same size. Fresh keys in
# WORKDIR; real clock.
# Needs GNU time (/usr/bin/time) for peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=${1:-1024}
WORK=${2:-/tmp/airlock-sealed}
BIN=${BIN:-$ROOT/${CARGO_TARGET_DIR:-target}/release}
cargo build --release --locked --workspace --bins -q

mkdir -p "$WORK" && cd "$WORK"
TEXT=${TEXT:-1}
if [ ! -f "tree/.size-$SIZE-$TEXT" ]; then
  rm -rf tree && mkdir -p tree/bin tree/text
  files=$(( SIZE / 128 > 0 ? SIZE / 128 : 1 ))
  per=$(( SIZE * 1024 * 1024 / 2 / files ))
  for i in $(seq 1 "$files"); do head -c "$per" /dev/urandom > "tree/bin/blob$i.bin"; done
  if [ "$TEXT" = 0 ]; then
    for i in $(seq 1 "$files"); do head -c "$per" /dev/urandom > "tree/text/log$i.txt"; done
  else
  python3 - "$files" "$per" <<'PY'
import sys
files, per = int(sys.argv[1]), int(sys.argv[2])
for i in range(files):
    line = f"license bundle verify offline gateway sovereign customer payload manifest {i}\n".encode()
    with open(f"tree/text/log{i + 1}.txt", "wb") as f:
        f.write((line * (per // len(line) + 1))[:per])
PY
  fi
  touch "tree/.size-$SIZE-$TEXT"
fi

rm -rf keys lic act out-plain out-sealed s-plain s-sealed x-plain x-sealed ./*.json factory.db* rq.json
export AIRLOCK_DB=$WORK/factory.db AIRLOCK_CATALOG=$ROOT/fixtures/catalog.json AIRLOCK_INSTANCE_ID=bench-machine
unset AIRLOCK_NOW AIRLOCK_TRUST
for r in root license release activation kek; do "$BIN/factory" keygen --role $r --name $r --out keys >/dev/null; done
"$BIN/factory" trust --root-key keys/root.key --add keys/license.pub keys/release.pub keys/activation.pub --out trust.json >/dev/null
"$BIN/factory" issue --tier sovereign --customer ACME --product gateway --expires "$(date -u -d '+300 days' +%F)" \
  --key keys/license.key --out lic >/dev/null
cat > pm.json <<'PM'
{"type":"airlock-product-manifest","product":"gateway","name":"Gateway","version":"1.0.0","edition":"sovereign","released_at":"2026-01-01T00:00:00Z","components":[],"min_runtime_version":"0.1.0","requires_features":[]}
PM
pack() { "$BIN/packager" bundle --license lic --payload tree --product-manifest pm.json --key keys/release.key \
  --trust trust.json --state "seq-$1.json" --name big --out "out-$1" "${@:2}" >/dev/null 2>&1; }
pack plain
pack sealed --encrypt keys/kek.pub
BID=$("$BIN/runtime-verify" out-sealed/big.tar.gz --trust trust.json --root keys/root.pub --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle_id"])')
"$BIN/factory" build register out-sealed/big.build.json --kek keys/kek.key --trust trust.json >/dev/null
"$BIN/airlock-agent" request --license lic --state s-sealed --out rq.json --build "$BID" >/dev/null
"$BIN/factory" activation fulfill rq.json --key keys/activation.key --kek keys/kek.key --out act --trust trust.json >/dev/null
"$BIN/airlock-agent" install act --trust trust.json --root keys/root.pub --state s-sealed >/dev/null
mkdir -p s-plain && chmod 700 s-plain s-sealed

measure() { # label, command...: prints "label seconds peak_kib"
  local label=$1; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -o "$WORK/.time" -f '%e %M' "$@" >/dev/null 2>&1
  echo "$label $(tail -1 "$WORK/.time")"
}
best() { # label, command...: the best of 3 (fresh destinations each time)
  local label=$1; shift; local b=""
  for i in 1 2 3; do
    rm -rf x-plain x-sealed
    local r; r=$(measure "$label" "$@"); local t; t=$(echo "$r" | awk '{print $2}')
    if [ -z "$b" ] || python3 -c "import sys; sys.exit(0 if $t < $(echo "$b" | awk '{print $2}') else 1)"; then b=$r; fi
  done
  echo "$b"
}
P=$(best plain "$BIN/runtime-verify" out-plain/big.tar.gz --trust trust.json --root keys/root.pub --state s-plain --extract x-plain)
S=$(best sealed "$BIN/runtime-verify" out-sealed/big.tar.gz --trust trust.json --root keys/root.pub --state s-sealed --extract x-sealed)
VP=$(best verify-plain "$BIN/runtime-verify" out-plain/big.tar.gz --trust trust.json --root keys/root.pub)
VS=$(best verify-sealed "$BIN/runtime-verify" out-sealed/big.tar.gz --trust trust.json --root keys/root.pub)
rm -rf x-plain x-sealed
read -r _ p pm <<<"$P"; read -r _ s sm <<<"$S"; read -r _ vp _ <<<"$VP"; read -r _ vs _ <<<"$VS"
echo "tree: ${SIZE} MiB ($([ "$TEXT" = 0 ] && echo "all incompressible" || echo "half incompressible")); plain bundle $(stat -c %s out-plain/big.tar.gz) bytes, sealed $(stat -c %s out-sealed/big.tar.gz) bytes; $(nproc) cores"
printf '%-40s %8s s  peak %6s KiB\n' "verify + extract, plain" "$p" "$pm"
printf '%-40s %8s s  peak %6s KiB\n' "verify + extract + open, sealed" "$s" "$sm"
echo "  ratio sealed / plain = $(python3 -c "print(f'{$s/$p:.2f}')")   (target <= 1.5)"
printf '%-40s %8s s\n' "verify only, plain" "$vp"
printf '%-40s %8s s\n' "verify only, sealed (no key needed)" "$vs"
