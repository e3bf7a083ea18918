"""The same scenario as the C test, through the Pythonic API: the one-call check, gates with
their codes and 402, a bundle verified and extracted, a tampered one refused with the code
runtime-verify gave, evaluation terms now and after their end (the states runtime-verify gave),
a revocation list imported, errors as exceptions carrying the code, and a status read from
several threads."""

import os
import shutil
import threading

import pytest

import airlock


@pytest.fixture(autouse=True)
def machine(monkeypatch):
    monkeypatch.setenv("AIRLOCK_INSTANCE_ID", "ffi-test-machine")


def paths(site):
    return (str(site / "trust.json"), str(site / "license"), str(site / "state"),
            (site / "root.txt").read_text().strip())


def test_a_product_checks_gates_verifies_and_stops_on_revocation(site):
    trust, lic, state, root = paths(site)
    st = airlock.check(trust, lic, state, root=root)
    assert st.state == "active"
    assert st.license["product"] == "gateway"
    assert st.activation["kind"] == "lease"
    st.feature("gate")
    assert st.allows("gate") and not st.allows("teleport")
    with pytest.raises(airlock.Denied) as e:
        st.feature("teleport")
    assert (e.value.code, e.value.http_status) == ("feature_not_licensed", 402)
    st.limit("agents", 10**6)

    # Four threads read one status at once.
    errors = []

    def reader():
        for _ in range(200):
            if not st.allows("gate"):
                errors.append(1)

    ts = [threading.Thread(target=reader) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors

    # The bundle, verified with the state and extracted; a tampered copy refused.
    out = site / "extracted-py"
    v = airlock.verify_bundle(str(site / "bundle.tar.gz"), trust, state, extract_dir=str(out))
    assert v["product"] == "gateway" and (out / "payload" / "README.txt").exists()
    with pytest.raises(airlock.Rejected) as e:
        airlock.verify_bundle(str(site / "tampered.tar.gz"), trust, state,
                              sig=str(site / "bundle.tar.gz.sig"))
    assert e.value.code == said(site, "tampered.check")

    # The small example product gates like the Rust one: exit 3, 402 and the code.
    import subprocess, sys, pathlib
    ex = pathlib.Path(__file__).resolve().parents[1] / "examples" / "product.py"
    p = subprocess.run([sys.executable, str(ex), trust, lic, state, "gate", "teleport"],
                       capture_output=True, text=True)
    assert p.returncode == 3, p.stderr
    assert "feature gate: allowed" in p.stdout
    assert "feature teleport: 402 feature_not_licensed" in p.stdout

    # The revocation list naming the license: the product's check is refused with its code.
    airlock.import_revocations(str(site / "revocations" / "revocations.json"), trust, state)
    with pytest.raises(airlock.Rejected) as e:
        airlock.check(trust, lic, state)
    assert (e.value.code, e.value.http_status) == ("license_revoked", 403)


def said(site, name):
    """What runtime-verify said in the fixture (fixture.sh)."""
    return (site / name).read_text().strip()


def test_evaluation_terms_start_here_and_end_with_the_gate_closed(site):
    trust, _, _, root = paths(site)
    terms, state = str(site / "evaluation"), str(site / "state-eval-py")
    st = airlock.check(trust, terms, state, root=root)
    assert st.state == said(site, "evaluation.state") == "evaluation"
    st.feature("gate")
    later = int(said(site, "evaluation-later.time"))
    st = airlock.check(trust, terms, state, now=later)
    assert st.state == said(site, "evaluation-later.state") == "evaluation_expired"
    with pytest.raises(airlock.Denied) as e:
        st.feature("gate")
    assert (e.value.code, e.value.http_status) == ("evaluation_expired", 402)


def test_errors_are_exceptions_with_codes(site):
    trust, lic, state, root = paths(site)
    with pytest.raises(airlock.UsageError) as e:
        airlock.verify("teleport", trust, root, trust)
    assert e.value.code == "usage"
    with pytest.raises(airlock.UsageError) as e:
        airlock.check(str(site / "no-such-trust.json"), lic, state)
    assert e.value.code == "io"
    v = airlock.verify("license", trust, root, os.path.join(lic, "license.json"),
                       os.path.join(lic, "license.sig"), at=int(__import__("time").time()))
    assert v["valid"] and v["state"] == "active"
    assert airlock.version()
