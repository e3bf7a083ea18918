#!/usr/bin/env bash
# `make demo`: the whole Airlock job end to end on the embedded defaults.
# Dev keys from keys-dev/ (DEV ONLY), fixtures from fixtures/, output in out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
OUT=out/demo
rm -rf "$OUT" && mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Git does not keep file modes; the tools refuse private keys others can read.
chmod 600 keys-dev/*.key

step "1. keys and trust (keys-dev/: DEV ONLY)"
for k in keys-dev/*.pub; do case "$k" in *.minisign.pub) ;; *) echo "  $k: $(cat "$k")";; esac; done
echo "  trust file keys-dev/trust.json, signed by dev-root"

step "2. canonical form (RFC 8785) of fixtures/example.json"
$BIN/factory canon fixtures/example.json; echo

step "3. sign a file with the release key (minisign prehashed)"
printf 'hello from the vendor\n' > "$OUT/hello.txt"
$BIN/packager sign "$OUT/hello.txt" --key keys-dev/dev-release.key
cat "$OUT/hello.txt.sig"

step "4. verify it: runtime-verify, and stock minisign when installed"
# The trust file is checked against the vendor's root key, delivered out of band.
$BIN/runtime-verify sig "$OUT/hello.txt" --trust keys-dev/trust.json --root keys-dev/dev-root.pub
if command -v minisign >/dev/null; then
  minisign -Vm "$OUT/hello.txt" -p keys-dev/dev-release.minisign.pub -x "$OUT/hello.txt.sig"
else
  echo "  (minisign not installed: apt-get install minisign to see the stock check)"
fi

step "5. a tampered signed file is rejected"
printf 'hello from an attacker\n' > "$OUT/hello.txt"
if $BIN/runtime-verify sig "$OUT/hello.txt" --trust keys-dev/trust.json --root keys-dev/dev-root.pub; then
  echo "ERROR: tampered file accepted"; exit 1
else
  echo "  rejected as expected (exit $?)"
fi

step "6. issue a sovereign license from the example catalog (registry: $OUT/factory.db)"
export AIRLOCK_DB=$OUT/factory.db AIRLOCK_TRUST=keys-dev/trust.json AIRLOCK_CATALOG=fixtures/catalog.json
LIC=$($BIN/factory issue --tier sovereign --customer "ACME Corp" --product gateway \
  --expires 2027-11-30 --key keys-dev/dev-license.key --out "$OUT/license")
$BIN/factory verify "$OUT/license/license.json" --trust keys-dev/trust.json

step "7. renew it, then list the license book"
$BIN/factory renew "$LIC" --expires 2028-11-30 --key keys-dev/dev-license.key --out "$OUT/license-renewed" >/dev/null
$BIN/factory list
$BIN/factory show "$LIC"
$BIN/factory audit verify

step "8. package an air-gap bundle for the license (payload: fixtures/payload)"
$BIN/packager bundle --license "$OUT/license" --payload fixtures/payload \
  --product-manifest fixtures/product-manifest.json --key keys-dev/dev-release.key \
  --out "$OUT/delivery" --airgap --trust keys-dev/trust.json --state "$OUT/packager-state.json"
echo "delivery set:"
ls -l "$OUT/delivery"
BUNDLE=$(ls "$OUT"/delivery/*.tar.gz)

step "9. the customer checks it with stock tools first (sha256sum, minisign)"
(cd "$OUT/delivery" && sha256sum -c CHECKSUMS.txt)
if command -v minisign >/dev/null; then
  minisign -Vm "$BUNDLE" -p keys-dev/dev-release.minisign.pub -x "$BUNDLE.sig"
else
  echo "  (minisign not installed: apt-get install minisign to see the stock check)"
fi

step "10. runtime-verify accepts the bundle and extracts it (state: $OUT/runtime-state)"
# First use: the vendor's root anchors the trust file; the state then pins its roots.
$BIN/runtime-verify "$BUNDLE" --trust keys-dev/trust.json --edition sovereign \
  --root keys-dev/dev-root.pub --state "$OUT/runtime-state" --extract "$OUT/installed"
echo "  state pins trust version $(grep -o '"version":[0-9]*' "$OUT/runtime-state/state.json" | tail -1 | cut -d: -f2); later runs need no --root"
export AIRLOCK_ROOT=keys-dev/dev-root.pub   # for the stateless checks below

step "11. a tampered copy is rejected, with the failing check"
cp "$BUNDLE" "$OUT/tampered.tar.gz" && cp "$BUNDLE.sig" "$OUT/tampered.tar.gz.sig"
printf 'X' | dd of="$OUT/tampered.tar.gz" bs=1 seek=1000 conv=notrunc 2>/dev/null
if $BIN/runtime-verify "$OUT/tampered.tar.gz" --trust keys-dev/trust.json; then
  echo "ERROR: tampered bundle accepted"; exit 1
else
  echo "  rejected as expected (exit $?)"
fi

step "12. cron reminder: silent today, speaks 30 days before expiry"
$BIN/runtime-verify remind --license "$OUT/license/license.json" --trust keys-dev/trust.json && echo "  (no output: nothing needs attention; exit 0)"
set +e
$BIN/runtime-verify remind --license "$OUT/license/license.json" --trust keys-dev/trust.json --at 2027-10-31
echo "  exit $? (3 = a reminder threshold was reached)"
set -e
