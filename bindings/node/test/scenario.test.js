'use strict';
// The same scenario as the C and Python tests: the one-call check, gates with their codes and
// 402, a bundle verified and extracted, a tampered one refused with the code runtime-verify
// gave, evaluation terms now and after their end (the states runtime-verify gave), a
// revocation list imported, errors as typed exceptions carrying the code.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const airlock = require('..');

const REPO = path.resolve(__dirname, '../../..');

// What runtime-verify said in the fixture (fixture.sh).
const said = (site, name) => fs.readFileSync(path.join(site, name), 'utf8').trim();

test('a product checks, gates, verifies and stops on revocation', () => {
  const site = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-node-'));
  execFileSync('bash', [path.join(REPO, 'crates/runtime-ffi/tests/c/fixture.sh'), site], {
    env: { ...process.env, BIN: process.env.AIRLOCK_BIN || path.join(REPO, 'target/debug') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.env.AIRLOCK_INSTANCE_ID = 'ffi-test-machine';
  const trust = path.join(site, 'trust.json');
  const licenseDir = path.join(site, 'license');
  const stateDir = path.join(site, 'state');
  const root = fs.readFileSync(path.join(site, 'root.txt'), 'utf8').trim();

  const st = airlock.check({ trust, licenseDir, stateDir, root });
  assert.strictEqual(st.state, 'active');
  assert.strictEqual(st.license.product, 'gateway');
  assert.strictEqual(st.activation.kind, 'lease');
  st.feature('gate');
  assert.ok(st.allows('gate') && !st.allows('teleport'));
  assert.throws(() => st.feature('teleport'), (e) =>
    e instanceof airlock.Denied && e.code === 'feature_not_licensed' && e.httpStatus === 402);
  st.limit('agents', 1000000);

  const extractDir = path.join(site, 'extracted-node');
  const v = airlock.verifyBundle({ bundle: path.join(site, 'bundle.tar.gz'), trust, stateDir, extractDir });
  assert.strictEqual(v.product, 'gateway');
  assert.ok(fs.existsSync(path.join(extractDir, 'payload', 'README.txt')));
  const bad = path.join(site, 'tampered.tar.gz');
  const want = said(site, 'tampered.check');
  assert.throws(() => airlock.verifyBundle({ bundle: bad, trust, stateDir, sig: path.join(site, 'bundle.tar.gz.sig') }),
    (e) => e instanceof airlock.Rejected && e.code === want);

  // Evaluation terms on a fresh state, now and 61 days on: the states runtime-verify gave,
  // then the gate closed with evaluation_expired and 402.
  const terms = { trust, licenseDir: path.join(site, 'evaluation'), stateDir: path.join(site, 'state-eval-node') };
  const ev = airlock.check({ ...terms, root });
  assert.strictEqual(ev.state, said(site, 'evaluation.state'));
  ev.feature('gate');
  const over = airlock.check({ ...terms, now: Number(said(site, 'evaluation-later.time')) });
  assert.strictEqual(over.state, said(site, 'evaluation-later.state'));
  assert.throws(() => over.feature('gate'), (e) =>
    e instanceof airlock.Denied && e.code === 'evaluation_expired' && e.httpStatus === 402);

  // The small example product gates like the Rust one: exit 3, 402 and the code.
  const { spawnSync } = require('child_process');
  const ex = spawnSync(process.execPath, [path.join(__dirname, '..', 'examples', 'product.js'),
    trust, licenseDir, stateDir, 'gate', 'teleport'], { encoding: 'utf8', env: process.env });
  assert.strictEqual(ex.status, 3, ex.stderr);
  assert.ok(ex.stdout.includes('feature gate: allowed'));
  assert.ok(ex.stdout.includes('feature teleport: 402 feature_not_licensed'));

  airlock.importRevocations({ list: path.join(site, 'revocations', 'revocations.json'), trust, stateDir });
  assert.throws(() => airlock.check({ trust, licenseDir, stateDir }),
    (e) => e instanceof airlock.Rejected && e.code === 'license_revoked' && e.httpStatus === 403);

  assert.throws(() => airlock.verify({ kind: 'teleport', trust, root, doc: trust }),
    (e) => e instanceof airlock.UsageError && e.code === 'usage');
  assert.ok(airlock.version());
});
