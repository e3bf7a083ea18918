#!/usr/bin/env bash
# Whole-process comparison (SPEC §7), on one generated tree, in one run:
#   packager bundle      vs  tar -czf + sha256sum of the same tree   (target: ≤ 0.5×)
#   runtime-verify       vs  gzip -dc of the same bundle              (target: ≤ 0.27×, < 32 MiB)
# Usage: scripts/perf-compare.sh [SIZE_MIB (default 1024)] [WORKDIR (default /tmp/airlock-perf)]
# Half the tree is incompressible (urandom), half text. Needs GNU time (/usr/bin/time) for
# peak memory; without it only wall times are shown.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=${1:-1024}
WORK=${2:-/tmp/airlock-perf}
BIN=${BIN:-$ROOT/${CARGO_TARGET_DIR:-target}/release}
cargo build --release --locked --workspace --bins -q
chmod 600 keys-dev/*.key

mkdir -p "$WORK" && cd "$WORK"
if [ ! -f "tree/.size-$SIZE" ]; then
  rm -rf tree && mkdir -p tree/bin tree/text
  files=$(( SIZE / 128 > 0 ? SIZE / 128 : 1 ))
  per=$(( SIZE * 1024 * 1024 / 2 / files ))
  for i in $(seq 1 "$files"); do head -c "$per" /dev/urandom > "tree/bin/blob$i.bin"; done
  python3 - "$files" "$per" <<'PY'
import random, sys
files, per = int(sys.argv[1]), int(sys.argv[2])
random.seed(1)
words = "license bundle verify offline gateway sovereign customer payload manifest signature archive tenant policy agent".split()
for i in range(files):
    with open(f"tree/text/log{i}.txt", "w") as f:
        n = 0
        while n < per:
            line = " ".join(random.choice(words) for _ in range(12)) + f" {random.randint(0, 10**9)}\n"
            f.write(line); n += len(line)
PY
  touch "tree/.size-$SIZE"
fi

export AIRLOCK_NOW=2026-11-22T10:00:00Z AIRLOCK_DB=$WORK/factory.db
export AIRLOCK_TRUST=$ROOT/keys-dev/trust.json AIRLOCK_CATALOG=$ROOT/fixtures/catalog.json
rm -rf lic out ref.tar.gz state.json factory.db*
"$BIN/factory" issue --tier sovereign --customer ACME --product gateway --expires 2027-11-22 \
  --key "$ROOT/keys-dev/dev-license.key" --out lic >/dev/null 2>&1

TIMEFMT='%e %M'
measure() { # label, command...: prints "label seconds peak_kib"
  local label=$1; shift
  sync
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -o "$WORK/.time" -f "$TIMEFMT" "$@" >/dev/null 2>&1
    echo "$label $(tail -1 "$WORK/.time")"
  else
    local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    echo "$label $(echo "$e - $s" | bc) 0"
  fi
}
ratio() { python3 -c "print(f'{($1)/($2):.2f}')"; }

P=$(measure packager "$BIN/packager" bundle --license lic --payload tree --product-manifest "$ROOT/fixtures/product-manifest.json" \
  --key "$ROOT/keys-dev/dev-release.key" --out out --airgap --trust "$AIRLOCK_TRUST" --state state.json --name big)
T=$(measure tar-czf tar -czf ref.tar.gz -C tree .)
S=$(measure sha256sum sh -c 'find tree -type f -print0 | xargs -0 sha256sum')
V=$(measure runtime-verify "$BIN/runtime-verify" out/big.tar.gz --trust "$AIRLOCK_TRUST" --root "$ROOT/keys-dev/dev-root.pub" --at 2026-11-22T10:00:00Z)
G=$(measure gzip-dc sh -c 'gzip -dc out/big.tar.gz > /dev/null')

read -r _ p pm <<<"$P"; read -r _ t _ <<<"$T"; read -r _ s _ <<<"$S"; read -r _ v vm <<<"$V"; read -r _ g _ <<<"$G"
echo "tree: ${SIZE} MiB (half incompressible), bundle $(stat -c %s out/big.tar.gz) bytes, $(nproc) cores"
printf '%-38s %8s s  peak %6s KiB\n' "packager bundle" "$p" "$pm"
printf '%-38s %8s s\n' "tar -czf + sha256sum" "$(python3 -c "print(f'{$t+$s:.2f}')")"
echo "  ratio packager / (tar -czf + sha256sum) = $(ratio "$p" "$t+$s")   (target <= 0.5)"
printf '%-38s %8s s  peak %6s KiB\n' "runtime-verify" "$v" "$vm"
printf '%-38s %8s s\n' "gzip -dc" "$g"
echo "  ratio runtime-verify / gzip -dc       = $(ratio "$v" "$g")   (target <= 0.27, peak < 32768 KiB)"
