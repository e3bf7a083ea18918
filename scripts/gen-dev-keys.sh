#!/usr/bin/env bash
# Regenerates keys-dev/: a development root, license and release key and a dev trust file.
# DEV ONLY: these keys are public in the repository and must never be trusted in production.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked -p factory
factory=target/debug/factory
export AIRLOCK_NOW=2026-11-01T00:00:00Z
rm -f keys-dev/*.key keys-dev/*.pub keys-dev/trust.json
$factory keygen --role root    --name dev-root    --out keys-dev
$factory keygen --role license --name dev-license --out keys-dev
$factory keygen --role release --name dev-release --out keys-dev
$factory trust --root-key keys-dev/dev-root.key \
  --add keys-dev/dev-license.pub keys-dev/dev-release.pub --out keys-dev/trust.json
