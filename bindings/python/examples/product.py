"""A small product in Python, like example-product: the one-call check, then each feature named
on the command line is gated (402 and its code when closed). Exit 0 all allowed, 3 something
denied, 2 cannot judge.
    python product.py TRUST LICENSE_DIR STATE_DIR FEATURE...
"""
import sys

import airlock


def main(argv):
    trust, license_dir, state_dir, *features = argv
    try:
        status = airlock.check(trust, license_dir, state_dir)
    except airlock.AirlockError as e:
        print(f"cannot run licensed work: {e.code}: {e.message}", file=sys.stderr)
        return 2
    print(f"license state: {status.state}")
    denied = False
    for f in features:
        try:
            status.feature(f)
            print(f"feature {f}: allowed")
        except airlock.Denied as e:
            print(f"feature {f}: {e.http_status} {e.code}")
            denied = True
    return 3 if denied else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
