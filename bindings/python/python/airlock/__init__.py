"""Airlock's verify-only license runtime for Python: the same runtime as libairlock.

    import airlock
    status = airlock.check("/etc/gateway/trust.json", "/etc/gateway/license",
                           "/var/lib/gateway/airlock")
    print(status.state, status.warnings)
    if status.allows("recording"):
        ...
    status.feature("recording")   # raises airlock.Denied("feature_not_licensed", 402)

Every refusal is an ``airlock.AirlockError`` carrying ``code`` (the check or denial code, the
same as runtime-verify's), ``message`` and ``http_status``: ``Rejected`` (a check failed),
``Denied`` (a feature or limit gate is closed, 402) or ``UsageError`` (an argument or a
local problem). See docs/SDK.md.
"""

from __future__ import annotations

import json as _json
from typing import Any, Dict, List, Optional

from . import _airlock

__all__ = [
    "AirlockError", "Rejected", "Denied", "UsageError", "Status", "check", "verify",
    "verify_bundle", "import_revocations", "version",
]


class AirlockError(Exception):
    """A refusal or an error: ``code``, ``message``, ``http_status``."""

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


class Rejected(AirlockError):
    """A check failed (``code`` is the check: ``license_expired``, ``signature_invalid``, ...)."""


class Denied(AirlockError):
    """A feature or limit gate is closed (``code``: ``feature_not_licensed``, ...; 402)."""


class UsageError(AirlockError):
    """An argument or a local problem (``code``: ``usage``, ``io`` or ``internal``)."""


_KINDS = {"rejected": Rejected, "denied": Denied}


def _raise(e: Exception) -> None:
    kind, code, message, http = e.args
    raise _KINDS.get(kind, UsageError)(code, message, http) from None


class Status:
    """What the one-call check answered."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._data: Dict[str, Any] = _json.loads(inner.json)

    @property
    def state(self) -> str:
        """The combined state: ``active``, ``expiring_soon``, ``grace``, ``expired``,
        ``activation_required``, ``lease_expired``, ``revoked``, ..."""
        return self._inner.state

    @property
    def warnings(self) -> List[str]:
        """Sentences to show the operator (empty when all is well)."""
        return list(self._data["warnings"])

    @property
    def license(self) -> Dict[str, Any]:
        """The license's facts (id, lineage, product, tier, customer, dates, features, limits)."""
        return dict(self._data["license"])

    @property
    def activation(self) -> Dict[str, Any]:
        """The activation: ``kind`` none, missing, lease, floating or refused (with ``check``)."""
        return dict(self._data["activation"])

    @property
    def data(self) -> Dict[str, Any]:
        """The whole status as a dict (the JSON of docs/SDK.md)."""
        return _json.loads(self._inner.json)

    def feature(self, name: str) -> None:
        """Raises ``Denied`` when ``name`` may not be used."""
        try:
            self._inner.feature(name)
        except _airlock.AirlockError as e:
            _raise(e)

    def allows(self, name: str) -> bool:
        """Whether ``name`` may be used."""
        try:
            self._inner.feature(name)
            return True
        except _airlock.AirlockError:
            return False

    def limit(self, name: str, in_use: int) -> None:
        """Raises ``Denied`` when one more of ``name`` may not start with ``in_use`` running."""
        try:
            self._inner.limit(name, in_use)
        except _airlock.AirlockError as e:
            _raise(e)

    def __repr__(self) -> str:
        return f"Status(state={self.state!r}, license={self._data['license']['license_id']!r})"


def check(trust: str, license_dir: str, state_dir: str, root: Optional[str] = None,
          now: int = -1) -> Status:
    """The product's one call: trust file, license directory, state directory, the vendor's
    root for a first use (base64 key or key id), ``now`` (Unix seconds; -1 the system clock)."""
    try:
        return Status(_airlock.check(trust, license_dir, state_dir, root, now))
    except _airlock.AirlockError as e:
        _raise(e)
        raise  # unreachable


def verify(kind: str, trust: str, root: str, doc: str, sig: Optional[str] = None,
           at: int = 0, context: Optional[str] = None) -> Dict[str, Any]:
    """One signed artifact (``trust``, ``license``, ``revocations``, ``product-manifest``,
    ``bundle-manifest``, ``bundle``) verified without a state: its verdict as a dict."""
    try:
        return _json.loads(_airlock.verify(kind, trust, root, doc, sig, at, context))
    except _airlock.AirlockError as e:
        _raise(e)
        raise


def verify_bundle(bundle: str, trust: str, state_dir: str, sig: Optional[str] = None,
                  root: Optional[str] = None, extract_dir: Optional[str] = None,
                  now: int = -1) -> Dict[str, Any]:
    """A delivery bundle verified with the state directory and, with ``extract_dir`` (a new
    directory), extracted once everything verified."""
    try:
        return _json.loads(
            _airlock.verify_bundle(bundle, trust, state_dir, sig, root, extract_dir, now))
    except _airlock.AirlockError as e:
        _raise(e)
        raise


def import_revocations(list_path: str, trust: str, state_dir: str, sig: Optional[str] = None,
                       root: Optional[str] = None, now: int = -1) -> None:
    """A revocation list imported into the state directory."""
    try:
        _airlock.import_revocations(list_path, trust, state_dir, sig, root, now)
    except _airlock.AirlockError as e:
        _raise(e)


def version() -> str:
    """The runtime's version."""
    return _airlock.version()
