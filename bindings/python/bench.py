"""The Python side of scripts/bindings-bench.sh (issue 26, item 6), with the standard library's
own benchmark tool (timeit): the one-call check, and a feature check both through the Pythonic
Status.feature and the native method it wraps.

    python bench.py SITE [CHECKS=100] [FEATURES=200000]
                              (a site made by crates/runtime-ffi/tests/c/fixture.sh, run as
                               AIRLOCK_INSTANCE_ID=ffi-test-machine; the tests run it with
                               tiny counts so that it cannot rot)
"""
import os
import sys
import timeit

import airlock


def best(stmt, number, repeat=5):
    """Seconds per call: the fastest of `repeat` runs (timeit's advice: the others measure the
    machine's noise, not the code)."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def main() -> None:
    site = sys.argv[1]
    checks = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    features = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
    trust, lic, state = (os.path.join(site, p) for p in ("trust.json", "license", "state"))
    with open(os.path.join(site, "root.txt")) as f:
        root = f.read().strip()
    status = airlock.check(trust, lic, state, root=root)
    check = best(lambda: airlock.check(trust, lic, state), checks)
    native = status._inner.feature
    feature_native = best(lambda: native("gate"), features)
    feature = best(lambda: status.feature("gate"), features)
    print(f"python check {check * 1e6:8.1f} us   feature {feature_native * 1e9:7.1f} ns "
          f"(native method; Status.feature {feature * 1e9:.1f} ns)")


if __name__ == "__main__":
    main()
