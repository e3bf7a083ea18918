#!/usr/bin/env bash
# A seat server site, as a vendor and a customer would set it up: a license whose tier floats
# (the example catalog's professional tier, given floating terms), and a seat server machine
# activated for it with a pool lease (request --pool, fulfil, install).
#   scripts/seatd-site.sh DIR SEATS NODE_LEASE_MINUTES
# Uses $BIN (default target/release). Keys and trust: $KEYS and $TRUST when set (the demo's),
# else generated in DIR. The vendor's registry: $AIRLOCK_HOME, else DIR/vendor-home.
# Writes DIR/lic (the license), DIR/seatd (the seat server's state), DIR/float.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
DIR=$1 SEATS=$2 MINUTES=$3
mkdir -p "$DIR"
if [ -z "${KEYS:-}" ]; then
  KEYS=$DIR/keys
  for role in root license activation; do
    [ -f "$KEYS/$role.key" ] || $BIN/factory keygen --role $role --name $role --out "$KEYS" >/dev/null
  done
  TRUST=$DIR/trust.json
  $BIN/factory trust --root-key "$KEYS/root.key" --add "$KEYS/license.pub" "$KEYS/activation.pub" \
    --out "$TRUST" --force >/dev/null
fi
export AIRLOCK_HOME=${AIRLOCK_HOME:-$DIR/vendor-home}
mkdir -p "$AIRLOCK_HOME"
# The professional tier floats: SEATS nodes at once, node leases up to MINUTES, borrows up to
# three days.
sed "0,/\"activation\": {\"required\": true, \"device_limit\": 1}/s//\"activation\": {\"required\": true, \"device_limit\": 2}, \"floating\": {\"seats\": $SEATS, \"node_lease_minutes\": $MINUTES, \"borrow_hours\": 72}/" \
  fixtures/catalog.json > "$DIR/float.json"
grep -q '"floating"' "$DIR/float.json"
rm -rf "$DIR/lic" "$DIR/seatd" "$DIR/seatd-activation"
$BIN/factory issue --tier professional --customer "Hooli" --product gateway --catalog "$DIR/float.json" \
  --trust "$TRUST" \
  --key "$KEYS/license.key" --out "$DIR/lic" >/dev/null
S="env AIRLOCK_INSTANCE_ID=seat-server-host"
$S $BIN/airlock-agent request --license "$DIR/lic" --state "$DIR/seatd" --out "$DIR/seatd-request.json" \
  --label "seat server" --pool --force >/dev/null
$BIN/factory activation fulfill "$DIR/seatd-request.json" --key "$KEYS/activation.key" \
  --out "$DIR/seatd-activation" >/dev/null
$S $BIN/airlock-agent install "$DIR/seatd-activation" --trust "$TRUST" --root "$KEYS/root.pub" \
  --state "$DIR/seatd" >/dev/null
echo "$DIR: license $DIR/lic floats on $SEATS seats; the seat server's state is $DIR/seatd"
