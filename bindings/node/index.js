'use strict';
// Airlock's verify-only license runtime for Node.js: the same runtime as libairlock (see
// docs/SDK.md). Every refusal is an AirlockError carrying `code` (the check or denial code,
// the same as runtime-verify's), `message` and `httpStatus`: Rejected (a check failed),
// Denied (a feature or limit gate is closed, 402) or UsageError (an argument or a local
// problem).

const path = require('path');
const native = require(process.env.AIRLOCK_NODE_ADDON || path.join(__dirname, 'airlock.node'));

class AirlockError extends Error {
  constructor(code, message, httpStatus) {
    super(`${code}: ${message}`);
    this.name = this.constructor.name;
    this.code = code;
    this.httpStatus = httpStatus;
    this.detail = message;
  }
}
class Rejected extends AirlockError {}
class Denied extends AirlockError {}
class UsageError extends AirlockError {}

const KINDS = { rejected: Rejected, denied: Denied };

function call(f) {
  try {
    return f();
  } catch (e) {
    const parts = String(e && e.message).split('\t');
    if (parts.length < 4) throw e;
    const [kind, code, http, ...rest] = parts;
    throw new (KINDS[kind] || UsageError)(code, rest.join('\t'), Number(http));
  }
}

class Status {
  constructor(inner) {
    this._inner = inner;
    this._data = JSON.parse(inner.json);
  }
  /** The combined state: active, expiring_soon, grace, expired, activation_required, ... */
  get state() { return this._inner.state; }
  /** Sentences to show the operator (empty when all is well). */
  get warnings() { return [...this._data.warnings]; }
  /** The license's facts. */
  get license() { return { ...this._data.license }; }
  /** The activation: kind none, missing, lease, floating or refused. */
  get activation() { return { ...this._data.activation }; }
  /** The whole status (the JSON of docs/SDK.md). */
  get data() { return JSON.parse(this._inner.json); }
  /** Throws Denied when `name` may not be used. */
  feature(name) { call(() => this._inner.feature(name)); }
  /** Whether `name` may be used. */
  allows(name) {
    try { this._inner.feature(name); return true; } catch (_) { return false; }
  }
  /** Throws Denied when one more of `name` may not start with `inUse` running. */
  limit(name, inUse) { call(() => this._inner.limit(name, inUse)); }
}

/** The product's one call. */
function check({ trust, licenseDir, stateDir, root = null, now = -1 }) {
  return new Status(call(() => native.check(trust, licenseDir, stateDir, root, now)));
}

/** One signed artifact verified without a state: its verdict. */
function verify({ kind, trust, root, doc, sig = null, at = 0, context = null }) {
  return JSON.parse(call(() => native.verify(kind, trust, root, doc, sig, at, context)));
}

/** A delivery bundle verified with the state directory, extracted when asked. */
function verifyBundle({ bundle, trust, stateDir, sig = null, root = null, extractDir = null, now = -1 }) {
  return JSON.parse(call(() => native.verifyBundle(bundle, trust, stateDir, sig, root, extractDir, now)));
}

/** A revocation list imported into the state directory. */
function importRevocations({ list, trust, stateDir, sig = null, root = null, now = -1 }) {
  call(() => native.importRevocations(list, trust, stateDir, sig, root, now));
}

/** The runtime's version. */
function version() { return native.version(); }

module.exports = {
  AirlockError, Rejected, Denied, UsageError, Status, check, verify, verifyBundle,
  importRevocations, version,
};
