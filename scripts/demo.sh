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
$BIN/runtime-verify sig "$OUT/hello.txt" --trust keys-dev/trust.json
if command -v minisign >/dev/null; then
  minisign -Vm "$OUT/hello.txt" -p keys-dev/dev-release.minisign.pub -x "$OUT/hello.txt.sig"
else
  echo "  (minisign not installed: apt-get install minisign to see the stock check)"
fi

step "5. issue a sovereign license from the example catalog (registry: $OUT/factory.db)"
export FACTORY_DB=$OUT/factory.db FACTORY_TRUST=keys-dev/trust.json FACTORY_CATALOG=fixtures/catalog.json
LIC=$($BIN/factory issue --tier sovereign --customer "ACME Corp" --product gateway \
  --expires 2027-11-30 --key keys-dev/dev-license.key --out "$OUT/license")
$BIN/factory verify "$OUT/license/license.json" --trust keys-dev/trust.json

step "6. renew it, then list the license book"
$BIN/factory renew "$LIC" --expires 2028-11-30 --key keys-dev/dev-license.key --out "$OUT/license-renewed" >/dev/null
$BIN/factory list
$BIN/factory show "$LIC"
$BIN/factory audit verify

step "7. a tampered signed file is rejected"
printf 'hello from an attacker\n' > "$OUT/hello.txt"
if $BIN/runtime-verify sig "$OUT/hello.txt" --trust keys-dev/trust.json; then
  echo "ERROR: tampered file accepted"; exit 1
else
  echo "  rejected as expected (exit $?)"
fi
