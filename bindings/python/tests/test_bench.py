"""The benchmark (bench.py, run by scripts/bindings-bench.sh) runs, on a site of its own, with
tiny counts: a broken benchmark fails here, not the day someone measures."""

import os
import pathlib
import subprocess
import sys

from conftest import make_site


def test_the_benchmark_runs(tmp_path):
    site = make_site(tmp_path / "site")
    bench = pathlib.Path(__file__).resolve().parents[1] / "bench.py"
    env = dict(os.environ, AIRLOCK_INSTANCE_ID="ffi-test-machine")
    p = subprocess.run([sys.executable, str(bench), str(site), "2", "10"], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("python check") and " ns " in p.stdout, p.stdout
