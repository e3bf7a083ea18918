#!/usr/bin/env bash
# The language-neutral vectors (vectors/README.md) through a `runtime-verify` binary: every
# license and bundle case (the kinds the command line verifies on their own) must give the
# verdict it expects. Used on the static musl build (make musl-test).
#   scripts/vectors-cli.sh RUNTIME_VERIFY
set -euo pipefail
cd "$(dirname "$0")/.."
RV=$1
n=0 failed=0
field() { sed -n "s/^  \"$1\": \"\\{0,1\\}\\([^\",]*\\)\"\\{0,1\\},\\{0,1\\}$/\\1/p" | head -1; }
for d in vectors/license/* vectors/bundle/*; do
  [ -f "$d/case.txt" ] || continue
  expect=$(sed -n 's/^expect: //p' "$d/case.txt")
  at=$(sed -n 's/^at: //p' "$d/case.txt")
  root=$(cat "$d/anchor.txt")
  case "$d" in
    vectors/license/*)
      # license.sig, when there is one, is read from beside license.json.
      out=$("$RV" license "$d/license.json" --trust "$d/trust.json" --root "$root" --at "$at" --json 2>/dev/null || true) ;;
    *)
      out=$("$RV" "$d/bundle.tar.gz" --trust "$d/trust.json" --root "$root" --at "$at" --json 2>/dev/null || true) ;;
  esac
  valid=$(printf '%s\n' "$out" | field valid)
  check=$(printf '%s\n' "$out" | field check)
  # The command line refuses to use an expired or not-yet-valid license (valid false), while
  # the vector judges the signed license and names its date state: the same verdict.
  case "$d:$check" in vectors/license/*:license_expired | vectors/license/*:license_not_yet_valid) valid=true ;; esac
  if [ "$valid" = true ]; then
    got=valid
    case "$expect" in "valid "*) got="valid $(printf '%s\n' "$out" | field state)" ;; esac
  else
    got="rejected $check"
  fi
  n=$((n + 1))
  if [ "$got" != "$expect" ]; then
    echo "FAIL $d: expected $expect, got $got" >&2
    failed=$((failed + 1))
  fi
done
echo "$RV: $n license and bundle vectors, $failed failed"
[ "$n" -gt 30 ] && [ "$failed" = 0 ]
