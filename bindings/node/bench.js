'use strict';
// The Node side of scripts/bindings-bench.sh (issue 26, item 6): the one-call check and a
// feature check, through the typed wrapper (index.js) and the native addon method it calls,
// timed with process.hrtime.bigint (best of five runs).
//   node bench.js SITE [CHECKS=100] [FEATURES=200000]
//     (a site made by crates/runtime-ffi/tests/c/fixture.sh, run as
//      AIRLOCK_INSTANCE_ID=ffi-test-machine; the tests run it with tiny counts so that it
//      cannot rot)
const fs = require('fs');
const path = require('path');
const airlock = require('./index.js');

function best(fn, n) {
  let min = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t) / n);
  }
  return min; // nanoseconds per call
}

const site = process.argv[2];
const checks = Number(process.argv[3] || 100);
const features = Number(process.argv[4] || 200000);
const opts = {
  trust: path.join(site, 'trust.json'),
  licenseDir: path.join(site, 'license'),
  stateDir: path.join(site, 'state'),
};
const root = fs.readFileSync(path.join(site, 'root.txt'), 'utf8').trim();
const status = airlock.check({ ...opts, root });
const check = best(() => airlock.check(opts), checks);
const inner = status._inner;
const native = best(() => inner.feature('gate'), features);
const wrapped = best(() => status.feature('gate'), features);
console.log(`node   check ${(check / 1e3).toFixed(1).padStart(8)} us   feature ${native.toFixed(1).padStart(7)} ns (native method; Status.feature ${wrapped.toFixed(1)} ns)`);
