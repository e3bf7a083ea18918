"""The repository's language-neutral vectors (vectors/README.md): every case gets the verdict
it expects, as runtime-verify and libairlock give it."""

import calendar
import pathlib
import time

import pytest

import airlock

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "vectors"


def cases():
    return sorted(p for p in VECTORS.glob("*/*") if (p / "case.txt").exists())


def header(d):
    out = {}
    for line in (d / "case.txt").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


def unix(t):
    return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.parametrize("d", cases(), ids=lambda d: f"{d.parent.name}/{d.name}")
def test_vector(d):
    h = header(d)
    kind = h["verify"]
    root = (d / "anchor.txt").read_text().strip()
    trust = str(d / "trust.json")
    if kind == "trust":
        doc, sig = trust, None
    elif kind == "bundle":
        doc, sig = str(d / "bundle.tar.gz"), str(d / "bundle.tar.gz.sig")
    else:
        doc, sig = str(d / f"{kind}.json"), d / f"{kind}.sig"
        sig = str(sig) if sig.exists() else None
    at = unix(h["at"]) if "at" in h else 0
    context = h.get("signed-at") or h.get("runtime-version")
    try:
        v = airlock.verify(kind, trust, root, doc, sig, at, context)
        got = f"valid {v['state']}" if h["expect"].startswith("valid ") else "valid"
    except airlock.Rejected as e:
        got = f"rejected {e.code}"
    assert got == h["expect"], h.get("comment")


def test_there_are_vectors():
    assert len(cases()) > 50
