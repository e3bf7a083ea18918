'use strict';
// The benchmark (bench.js, run by scripts/bindings-bench.sh) runs, on a site of its own, with
// tiny counts: a broken benchmark fails here, not the day someone measures.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');

const REPO = path.resolve(__dirname, '../../..');

test('the benchmark runs', () => {
  const site = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-node-bench-'));
  execFileSync('bash', [path.join(REPO, 'crates/runtime-ffi/tests/c/fixture.sh'), site], {
    env: { ...process.env, BIN: process.env.AIRLOCK_BIN || path.join(REPO, 'target/debug') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench.js'), site, '2', '10'], {
    encoding: 'utf8', env: { ...process.env, AIRLOCK_INSTANCE_ID: 'ffi-test-machine' },
  });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /^node {3}check .* ns/);
  fs.rmSync(site, { recursive: true, force: true });
});
