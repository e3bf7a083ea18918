#!/usr/bin/env bash
# `make demo`: the whole Airlock job end to end, as a vendor and a customer would run it.
# Keys are generated here, now (keys-dev/ is for tests that need fixed bytes and is never used
# here); the product manifest is released today; the catalog and payload are the examples in
# fixtures/. Everything is written under out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
OUT=out/demo
rm -rf "$OUT" && mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# days_from DATE N: the date N days after DATE (YYYY-MM-DD).
days_from() { date -u -d "$1 $2 days" +%Y-%m-%d; }

# The vendor home keeps the registry, the catalog and the packager's sequence state.
export AIRLOCK_HOME=$OUT/vendor-home
mkdir -p "$AIRLOCK_HOME" && cp fixtures/catalog.json "$AIRLOCK_HOME/catalog.json"
unset AIRLOCK_DB AIRLOCK_CATALOG AIRLOCK_PACKAGER_STATE AIRLOCK_TRUST AIRLOCK_NOW AIRLOCK_ROOT

step "1. the vendor's keys, generated now, and trust file v1 signed by the root"
for role in root license release activation; do
  $BIN/factory keygen --role $role --name $role --out "$OUT/keys"
done
# The key-encryption key: sealed builds' content keys are wrapped to it (never in a trust file).
$BIN/factory keygen --role kek --name kek --out "$OUT/keys"
$BIN/factory trust --root-key "$OUT/keys/root.key" --add "$OUT/keys/license.pub" "$OUT/keys/release.pub" \
  "$OUT/keys/activation.pub" --out "$OUT/trust.json"
export AIRLOCK_TRUST=$OUT/trust.json   # the signing commands refuse retired or revoked keys
$BIN/factory home

step "2. canonical form (RFC 8785) of fixtures/example.json"
$BIN/factory canon fixtures/example.json; echo

step "3. sign a file with the release key (minisign prehashed)"
printf 'hello from the vendor\n' > "$OUT/hello.txt"
$BIN/packager sign "$OUT/hello.txt" --key "$OUT/keys/release.key"
cat "$OUT/hello.txt.sig"

step "4. verify it: runtime-verify, and stock minisign when installed"
# The trust file is checked against the vendor's root key, delivered out of band.
$BIN/runtime-verify sig "$OUT/hello.txt" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"
if command -v minisign >/dev/null; then
  minisign -Vm "$OUT/hello.txt" -p "$OUT/keys/release.minisign.pub" -x "$OUT/hello.txt.sig"
else
  echo "  (minisign not installed: apt-get install minisign to see the stock check)"
fi

step "5. a tampered signed file is rejected"
printf 'hello from an attacker\n' > "$OUT/hello.txt"
if $BIN/runtime-verify sig "$OUT/hello.txt" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"; then
  echo "ERROR: tampered file accepted"; exit 1
else
  echo "  rejected as expected (exit $?)"
fi

step "6. issue a sovereign license from the catalog (the tier's 365 days from now)"
LIC=$($BIN/factory issue --tier sovereign --customer "ACME Corp" --product gateway \
  --key "$OUT/keys/license.key" --out "$OUT/license")
$BIN/factory verify "$OUT/license/license.json" --trust "$OUT/trust.json"
EXPIRES=$(grep -o '"expires_at": "[^"]*"' "$OUT/license/license.json" | cut -d'"' -f4)

step "7. renew it, then list the license book"
$BIN/factory renew "$LIC" --expires "$(days_from "${EXPIRES%T*}" 365)" --key "$OUT/keys/license.key" \
  --out "$OUT/license-renewed" >/dev/null
$BIN/factory list
$BIN/factory show "$LIC"
$BIN/factory audit verify

step "8. package an air-gap bundle (payload: fixtures/payload; the release is dated today)"
sed "s/\"released_at\": \"[^\"]*\"/\"released_at\": \"$NOW\"/" fixtures/product-manifest.json \
  > "$OUT/product-manifest.json"
$BIN/packager bundle --license "$OUT/license" --payload fixtures/payload \
  --product-manifest "$OUT/product-manifest.json" --key "$OUT/keys/release.key" \
  --out "$OUT/delivery" --airgap
echo "delivery set:"
ls -l "$OUT/delivery"
BUNDLE=$(ls "$OUT"/delivery/*.tar.gz)

step "9. the customer checks it with stock tools first (sha256sum, minisign)"
(cd "$OUT/delivery" && sha256sum -c CHECKSUMS.txt)
if command -v minisign >/dev/null; then
  minisign -Vm "$BUNDLE" -p "$OUT/keys/release.minisign.pub" -x "$BUNDLE.sig"
else
  echo "  (minisign not installed: apt-get install minisign to see the stock check)"
fi

step "10. runtime-verify accepts the bundle and extracts it (state: $OUT/runtime-state)"
# First use: the vendor's root anchors the trust file; the state then pins its roots.
$BIN/runtime-verify "$BUNDLE" --trust "$OUT/trust.json" --edition sovereign \
  --root "$OUT/keys/root.pub" --state "$OUT/runtime-state" --extract "$OUT/installed"
echo "  state pins trust version $(grep -o '"version":[0-9]*' "$OUT/runtime-state/state.json" | tail -1 | cut -d: -f2); later runs need no --root"
export AIRLOCK_ROOT=$OUT/keys/root.pub   # for the stateless checks below

step "11. a tampered copy is rejected, with the failing check and what to do"
cp "$BUNDLE" "$OUT/tampered.tar.gz" && cp "$BUNDLE.sig" "$OUT/tampered.tar.gz.sig"
printf 'X' | dd of="$OUT/tampered.tar.gz" bs=1 seek=1000 conv=notrunc 2>/dev/null
if $BIN/runtime-verify "$OUT/tampered.tar.gz" --trust "$OUT/trust.json"; then
  echo "ERROR: tampered bundle accepted"; exit 1
else
  echo "  rejected as expected (exit $?)"
fi

step "12. the license, and the cron reminder: silent today, speaks 30 days before expiry"
$BIN/runtime-verify license "$OUT/installed/license.json" --trust "$OUT/trust.json"
$BIN/runtime-verify remind --license "$OUT/installed/license.json" --trust "$OUT/trust.json" \
  && echo "  (no output: nothing needs attention; exit 0)"
set +e
$BIN/runtime-verify remind --license "$OUT/installed/license.json" --trust "$OUT/trust.json" \
  --at "$(days_from "${EXPIRES%T*}" -31)"
echo "  exit $? (3 = a reminder threshold was reached)"
set -e

step "13. evaluation: the catalog's evaluation tier as signed terms, started on first run"
$BIN/factory issue --tier evaluation --customer Evaluation --product gateway \
  --key "$OUT/keys/license.key" --out "$OUT/evaluation" >/dev/null
$BIN/runtime-verify evaluation "$OUT/evaluation/license.json" --trust "$OUT/trust.json" \
  --state "$OUT/runtime-state"

step "14. activation, air-gap first: a professional license (1 device) bound to machine A"
PRO=$($BIN/factory issue --tier professional --customer "Globex" --product gateway \
  --key "$OUT/keys/license.key" --out "$OUT/pro")
# Two machines, each with its own state directory and explicit instance id (as containers
# and Kubernetes set it); on a real host the agent uses /etc/machine-id.
A="env AIRLOCK_INSTANCE_ID=demo-machine-a"
B="env AIRLOCK_INSTANCE_ID=demo-machine-b"
$A $BIN/airlock-agent id --product gateway
$A $BIN/airlock-agent request --license "$OUT/pro" --state "$OUT/machine-a" --out "$OUT/request-a.json" --label "machine A"
echo "  (the request travels to the vendor by hand: USB stick, paste, QR code)"
$BIN/factory activation fulfill "$OUT/request-a.json" --key "$OUT/keys/activation.key" --out "$OUT/activation-a"
$A $BIN/airlock-agent install "$OUT/activation-a" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub" --state "$OUT/machine-a"
$A $BIN/airlock-agent status --state "$OUT/machine-a"
$A $BIN/runtime-verify activation --state "$OUT/machine-a" --trust "$OUT/trust.json" --license "$OUT/pro"
echo "  the product asks one call what it may do:"
$A $BIN/example-product --trust "$OUT/trust.json" --license "$OUT/pro" --state "$OUT/machine-a" \
  --feature gate --feature helm_chart --limit agents=0

step "15. machine B is refused at the device limit"
$B $BIN/airlock-agent request --license "$OUT/pro" --state "$OUT/machine-b" --out "$OUT/request-b.json" --label "machine B"
set +e
$BIN/factory activation fulfill "$OUT/request-b.json" --key "$OUT/keys/activation.key" --out "$OUT/activation-b"
echo "  exit $? (1 = refused: DEVICE_LIMIT_EXCEEDED)"
set -e

step "16. machine A is retired: deactivate, carry the receipt back, release the seat"
$A $BIN/airlock-agent deactivate --state "$OUT/machine-a" --out "$OUT/receipt-a.json"
$BIN/factory activation release --receipt "$OUT/receipt-a.json"
set +e
$A $BIN/example-product --trust "$OUT/trust.json" --license "$OUT/pro" --state "$OUT/machine-a" --feature gate
echo "  exit $? on machine A (3 = licensed work denied, data kept)"
set -e

step "17. machine B activates now"
$BIN/factory activation fulfill "$OUT/request-b.json" --key "$OUT/keys/activation.key" --out "$OUT/activation-b"
$B $BIN/airlock-agent install "$OUT/activation-b" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub" --state "$OUT/machine-b"
$B $BIN/example-product --trust "$OUT/trust.json" --license "$OUT/pro" --state "$OUT/machine-b" --feature gate
$BIN/factory activation list "$PRO"

step "18. hardware replaced: reset the license's seats; the next revocation list voids old leases"
$BIN/factory activation reset "$PRO" --reason "hardware replaced"
$BIN/factory revocations --key "$OUT/keys/license.key" --out "$OUT/revocations"
$B $BIN/runtime-verify revocations import "$OUT/revocations/revocations.json" --trust "$OUT/trust.json" --state "$OUT/machine-b"
set +e
$B $BIN/runtime-verify activation --state "$OUT/machine-b" --trust "$OUT/trust.json" --license "$OUT/pro"
echo "  exit $? (1 = the old lease no longer verifies; machine B makes a new request)"
set -e

step "19. online: the activation service on the loopback (SQLite registry, the same seat rules)"
SOV=$($BIN/factory issue --tier sovereign --customer "Initech" --product gateway \
  --key "$OUT/keys/license.key" --out "$OUT/sov")
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$OUT/admin-token" && chmod 600 "$OUT/admin-token"
# The registry token realm signs with an EC P-256 key and certificate (openssl, when installed).
REGISTRY_FLAGS=()
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=airlock-registry-tokens -keyout "$OUT/token.key" -out "$OUT/token.crt" 2>/dev/null
  chmod 600 "$OUT/token.key"
  REGISTRY_FLAGS=(--registry-key "$OUT/token.key" --registry-cert "$OUT/token.crt")
fi
$BIN/airlock-server --listen 127.0.0.1:0 --db "$AIRLOCK_HOME/factory.db" \
  --key "$OUT/keys/activation.key" --trust "$OUT/trust.json" --admin-token-file "$OUT/admin-token" \
  --kek "$OUT/keys/kek.key" --catalog "$AIRLOCK_HOME/catalog.json" "${REGISTRY_FLAGS[@]}" \
  --license-rate 60/min,burst=8 > "$OUT/server.out" 2> "$OUT/server.log" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q listening "$OUT/server.out" 2>/dev/null && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.1
done
cat "$OUT/server.out"
URL=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$OUT/server.out")
curl -s "$URL/healthz" 2>/dev/null && echo || echo "  (curl not installed: skipping the health probe)"

step "20. an install token activates two machines with no license key; the third is refused"
$BIN/factory token create --license "$SOV" --instances 2 --ttl 24h \
  --key "$OUT/keys/activation.key" --out "$OUT/token"
for m in c d; do
  env AIRLOCK_INSTANCE_ID=demo-machine-$m $BIN/airlock-agent activate --server "$URL" \
    --token @"$OUT/token" --license "$OUT/machine-$m-license" --label "machine $m" \
    --state "$OUT/machine-$m" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"
done
env AIRLOCK_INSTANCE_ID=demo-machine-c $BIN/example-product --trust "$OUT/trust.json" \
  --license "$OUT/machine-c-license" --state "$OUT/machine-c" --feature gate
set +e
env AIRLOCK_INSTANCE_ID=demo-machine-e $BIN/airlock-agent activate --server "$URL" \
  --token @"$OUT/token" --license "$OUT/machine-e-license" \
  --state "$OUT/machine-e" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"
echo "  exit $? (1 = refused: TOKEN_USED, audited)"
set -e
echo "  the sovereign tier allows 3 devices plus 34 %: machine E with the license key gets the third seat"
env AIRLOCK_INSTANCE_ID=demo-machine-e $BIN/airlock-agent activate --server "$URL" \
  --license "$OUT/sov" --state "$OUT/machine-e" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"
env AIRLOCK_INSTANCE_ID=demo-machine-f $BIN/airlock-agent activate --server "$URL" \
  --license "$OUT/sov" --state "$OUT/machine-f" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"
set +e
env AIRLOCK_INSTANCE_ID=demo-machine-g $BIN/airlock-agent activate --server "$URL" \
  --license "$OUT/sov" --state "$OUT/machine-g" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"
echo "  exit $? (1 = refused: 409 DEVICE_LIMIT_EXCEEDED)"
set -e
echo "  a clone of machine C (the same instance id, another state directory) is never handed C's seat:"
set +e
env AIRLOCK_INSTANCE_ID=demo-machine-c $BIN/airlock-agent activate --server "$URL" \
  --license "$OUT/sov" --state "$OUT/machine-c-clone" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"
echo "  exit $? (1 = refused: 409 SEAT_TAKEN)"
set -e

step "21. a renewal: the local agent renews at renew_after (here at once, with --force)"
env AIRLOCK_INSTANCE_ID=demo-machine-c $BIN/airlock-agent run --once --force \
  --state "$OUT/machine-c" --trust "$OUT/trust.json"
env AIRLOCK_INSTANCE_ID=demo-machine-c $BIN/airlock-agent status --state "$OUT/machine-c"

step "22. a sealed build: only a machine whose lease carries its key opens the payload"
$BIN/packager bundle --license "$OUT/sov" --payload fixtures/payload \
  --product-manifest "$OUT/product-manifest.json" --key "$OUT/keys/release.key" \
  --out "$OUT/sealed" --encrypt "$OUT/keys/kek.pub"
SEALED=$(ls "$OUT"/sealed/*.tar.gz)
BID=$($BIN/runtime-verify "$SEALED" --trust "$OUT/trust.json" --json | sed -n 's/.*"bundle_id": "\([^"]*\)".*/\1/p')
echo "  the archive holds no plaintext: $(tar -xzOf "$SEALED" payload/README.txt 2>/dev/null | head -c 24 | od -An -tx1 | head -1)"
$BIN/factory build register "$OUT"/sealed/*.build.json --kek "$OUT/keys/kek.key"
echo "  machine C asks for the build's key with its seat (the same seat, a fresh lease):"
env AIRLOCK_INSTANCE_ID=demo-machine-c $BIN/airlock-agent activate --server "$URL" \
  --license "$OUT/machine-c-license" --build "$BID" --state "$OUT/machine-c" --trust "$OUT/trust.json"
env AIRLOCK_INSTANCE_ID=demo-machine-c $BIN/runtime-verify "$SEALED" --trust "$OUT/trust.json" \
  --state "$OUT/machine-c" --extract "$OUT/sealed-on-c"
head -3 "$OUT/sealed-on-c/payload/README.txt"
set +e
env AIRLOCK_INSTANCE_ID=demo-machine-h $BIN/runtime-verify "$SEALED" --trust "$OUT/trust.json" \
  --root "$OUT/keys/root.pub" --state "$OUT/machine-h" --extract "$OUT/sealed-on-h"
echo "  exit $? on machine H, which has the files but no seat (1 = build_not_granted; nothing extracted)"
set -e

step "23. a registry pull with a live seat (the service is the registry's token realm)"
TOKEN=""
if [ ${#REGISTRY_FLAGS[@]} -gt 0 ]; then
  TOKEN=$(env AIRLOCK_INSTANCE_ID=demo-machine-c $BIN/airlock-agent registry-token \
    --scope repository:gateway/runtime:pull --state "$OUT/machine-c" --trust "$OUT/trust.json")
  echo "  machine C got a pull token for gateway/runtime (${#TOKEN} bytes, 5 minutes)"
fi
if [ -n "$TOKEN" ] && command -v docker-registry >/dev/null && command -v skopeo >/dev/null; then
  bash scripts/demo-registry.sh "$OUT" "$URL" "$(cat "$OUT/admin-token")" "$TOKEN"
else
  echo "  (docker-registry, skopeo or openssl not installed: apt-get install docker-registry skopeo to see a real pull)"
fi

step "24. a burst of activations for one license is answered 429 with Retry-After"
set +e
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
  env AIRLOCK_INSTANCE_ID=demo-burst-$i $BIN/airlock-agent activate --server "$URL" \
    --license "$OUT/sov" --state "$OUT/burst-$i" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub" 2>&1 | tail -1
done
set -e
curl -s -H "Authorization: Bearer $(cat "$OUT/admin-token")" "$URL/metrics" 2>/dev/null | grep -E '^airlock_(rate_limited|operations)_total' || true

step "25. the server stops; the machines keep working on their leases"
kill $SERVER_PID && wait $SERVER_PID || true
trap - EXIT
env AIRLOCK_INSTANCE_ID=demo-machine-d $BIN/example-product --trust "$OUT/trust.json" \
  --license "$OUT/machine-d-license" --state "$OUT/machine-d" --feature gate
set +e
env AIRLOCK_INSTANCE_ID=demo-machine-d $BIN/airlock-agent run --once --state "$OUT/machine-d" --trust "$OUT/trust.json"
echo "  exit $? (0 = nothing due yet; 4 = due, the service unreachable, the lease still holds)"
set -e

step "26. floating seats: a seat server inside the customer's network leases a pool of two"
# The vendor's license floats (the catalog's professional tier, given floating terms); the seat
# server is activated once like a machine, with a pool lease; nodes claim from it.
F=$OUT/floating
KEYS=$OUT/keys TRUST=$OUT/trust.json bash scripts/seatd-site.sh "$F" 2 15 2>/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$F/admin.cred" && chmod 600 "$F/admin.cred"
env AIRLOCK_INSTANCE_ID=seat-server-host $BIN/airlock-seatd serve --state "$F/seatd" \
  --trust "$OUT/trust.json" --license "$F/lic" --listen 127.0.0.1:0 --admin-credential "$F/admin.cred" \
  > "$F/seatd.out" 2> "$F/seatd.log" &
SEATD_PID=$!
trap 'kill $SEATD_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q listening "$F/seatd.out" 2>/dev/null && break
  kill -0 $SEATD_PID 2>/dev/null || { cat "$F/seatd.log"; exit 1; }
  sleep 0.1
done
cat "$F/seatd.out"
SEATS=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$F/seatd.out")
node() { local n=$1; shift; env AIRLOCK_INSTANCE_ID=demo-node-$n $BIN/airlock-agent "$@" --seat-server "$SEATS" \
  --license "$F/lic" --state "$F/node-$n" --trust "$OUT/trust.json" --root "$OUT/keys/root.pub"; }
node 1 claim --name node-1
node 2 claim --name node-2
set +e
node 3 claim --name node-3
echo "  exit $? on node 3 (4 = POOL_FULL: both seats are held; it may retry)"
set -e
$BIN/airlock-seatd admin --server "$SEATS" --credential "$F/admin.cred" seats
node 1 release
node 3 claim --name node-3
env AIRLOCK_INSTANCE_ID=demo-node-3 $BIN/example-product --trust "$OUT/trust.json" \
  --license "$F/lic" --state "$F/node-3" --feature gate
kill $SEATD_PID && wait $SEATD_PID || true
trap - EXIT
echo "  the lease log, signed by the seat server, carried to the vendor and checked:"
env AIRLOCK_INSTANCE_ID=seat-server-host $BIN/airlock-seatd export-log --state "$F/seatd" \
  --trust "$OUT/trust.json" --license "$F/lic" --out "$F/seat-log"
$BIN/factory activation seat-logs "$F/seat-log" --trust "$OUT/trust.json"

echo
echo "demo complete: everything is in $OUT (keys generated at $NOW)"
