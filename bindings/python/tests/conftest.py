import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """A site the vendor tools make (crates/runtime-ffi/tests/c/fixture.sh): keys, a trust
    file, a license, this machine's activation, a bundle, a revocation list naming the
    license."""
    return make_site(tmp_path_factory.mktemp("site"))


def make_site(d):
    """Runs fixture.sh into the new directory `d` with the vendor binaries of AIRLOCK_BIN."""
    env = dict(os.environ, BIN=os.environ.get("AIRLOCK_BIN", str(REPO / "target" / "debug")))
    subprocess.run(["bash", str(REPO / "crates/runtime-ffi/tests/c/fixture.sh"), str(d)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return d
