#!/usr/bin/env bash
# The C test's site, made by the real vendor tools: keys and trust generated now, a sovereign
# license of the example catalog, a delivery bundle of the example payload, and a revocation
# list naming that license; this machine activated for it (as AIRLOCK_INSTANCE_ID=ffi-test-machine,
# which the test runs as too).   fixture.sh DIR   (uses $BIN, default target/debug)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
BIN=${BIN:-target/debug}
DIR=$1
rm -rf "$DIR" && mkdir -p "$DIR"
export AIRLOCK_HOME=$DIR/vendor-home
mkdir -p "$AIRLOCK_HOME" && cp fixtures/catalog.json "$AIRLOCK_HOME/catalog.json"
unset AIRLOCK_DB AIRLOCK_CATALOG AIRLOCK_PACKAGER_STATE AIRLOCK_TRUST AIRLOCK_NOW AIRLOCK_ROOT
for role in root license release activation; do
  $BIN/factory keygen --role $role --name $role --out "$DIR/keys" >/dev/null
done
$BIN/factory trust --root-key "$DIR/keys/root.key" --add "$DIR/keys/license.pub" \
  "$DIR/keys/release.pub" "$DIR/keys/activation.pub" --out "$DIR/trust.json" >/dev/null
grep -o '"public_key": *"[^"]*"' "$DIR/keys/root.pub" | cut -d'"' -f4 > "$DIR/root.txt"
LIC=$($BIN/factory issue --tier sovereign --customer "ACME Corp" --product gateway \
  --key "$DIR/keys/license.key" --out "$DIR/license" --trust "$DIR/trust.json" 2>/dev/null)
M="env AIRLOCK_INSTANCE_ID=ffi-test-machine"
$M $BIN/airlock-agent request --license "$DIR/license" --state "$DIR/state" --out "$DIR/request.json" >/dev/null
$BIN/factory activation fulfill "$DIR/request.json" --key "$DIR/keys/activation.key" \
  --out "$DIR/activation" >/dev/null
$M $BIN/airlock-agent install "$DIR/activation" --trust "$DIR/trust.json" --root "$DIR/keys/root.pub" \
  --state "$DIR/state" >/dev/null
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sed "s/\"released_at\": \"[^\"]*\"/\"released_at\": \"$NOW\"/" fixtures/product-manifest.json \
  > "$DIR/product-manifest.json"
$BIN/packager bundle --license "$DIR/license" --payload fixtures/payload \
  --product-manifest "$DIR/product-manifest.json" --key "$DIR/keys/release.key" \
  --out "$DIR/delivery" --trust "$DIR/trust.json" >/dev/null 2>&1
cp "$DIR"/delivery/*.tar.gz "$DIR/bundle.tar.gz"
cp "$DIR"/delivery/*.tar.gz.sig "$DIR/bundle.tar.gz.sig"
$BIN/factory revoke "$LIC" --reason "the C test revokes it" --key "$DIR/keys/license.key" >/dev/null 2>&1 \
  || $BIN/factory revoke "$LIC" --reason "the C test revokes it" >/dev/null
$BIN/factory revocations --key "$DIR/keys/license.key" --out "$DIR/revocations" >/dev/null

# What runtime-verify says, which every binding must say too: evaluation terms started now on a
# fresh state, and 61 days on (past their 60); a copy of the bundle with one bit flipped at
# byte 700 (where that lands depends on the bundle: a deflate fault or an altered manifest).
$BIN/factory issue --tier evaluation --customer "ACME Corp" --product gateway \
  --key "$DIR/keys/license.key" --out "$DIR/evaluation" --trust "$DIR/trust.json" >/dev/null 2>&1
field() { grep -o "\"$1\": \"[^\"]*\"" | cut -d'"' -f4; }
RV="$BIN/runtime-verify"
EVAL=("$RV" evaluation "$DIR/evaluation/license.json" --trust "$DIR/trust.json"
  --root "$DIR/keys/root.pub" --state "$DIR/state-eval-rv" --json)
"${EVAL[@]}" | field state > "$DIR/evaluation.state"
date -u -d '+61 days' +%s > "$DIR/evaluation-later.time"
{ "${EVAL[@]}" --at "$(date -u -d "@$(cat "$DIR/evaluation-later.time")" +%Y-%m-%dT%H:%M:%SZ)" || true; } \
  | field state > "$DIR/evaluation-later.state"
cp "$DIR/bundle.tar.gz" "$DIR/tampered.tar.gz"
b=$(od -An -tu1 -j700 -N1 "$DIR/bundle.tar.gz" | tr -d ' ')
printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$DIR/tampered.tar.gz" bs=1 seek=700 count=1 conv=notrunc 2>/dev/null
{ "$RV" "$DIR/tampered.tar.gz" --sig "$DIR/bundle.tar.gz.sig" --trust "$DIR/trust.json" \
  --root "$DIR/keys/root.pub" --json 2>/dev/null || true; } | field check > "$DIR/tampered.check"
for f in evaluation.state evaluation-later.state tampered.check; do
  test -s "$DIR/$f" || { echo "fixture: runtime-verify gave no $f" >&2; exit 1; }
done
echo "$DIR"
