'use strict';
// The repository's language-neutral vectors (vectors/README.md): every case gets the verdict
// it expects, as runtime-verify and libairlock give it.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const airlock = require('..');

const VECTORS = path.resolve(__dirname, '../../../vectors');

function cases() {
  const out = [];
  for (const g of fs.readdirSync(VECTORS).sort()) {
    const gd = path.join(VECTORS, g);
    if (!fs.statSync(gd).isDirectory()) continue;
    for (const c of fs.readdirSync(gd).sort()) {
      if (fs.existsSync(path.join(gd, c, 'case.txt'))) out.push(path.join(gd, c));
    }
  }
  return out;
}

function header(d) {
  const h = {};
  for (const line of fs.readFileSync(path.join(d, 'case.txt'), 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) h[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return h;
}

test('there are vectors', () => assert.ok(cases().length > 50));

for (const d of cases()) {
  test(`${path.basename(path.dirname(d))}/${path.basename(d)}`, () => {
    const h = header(d);
    const kind = h.verify;
    const trust = path.join(d, 'trust.json');
    let doc, sig = null;
    if (kind === 'trust') doc = trust;
    else if (kind === 'bundle') { doc = path.join(d, 'bundle.tar.gz'); sig = doc + '.sig'; }
    else {
      doc = path.join(d, `${kind}.json`);
      const s = path.join(d, `${kind}.sig`);
      if (fs.existsSync(s)) sig = s;
    }
    const at = h.at ? Math.floor(Date.parse(h.at) / 1000) : 0;
    const context = h['signed-at'] || h['runtime-version'] || null;
    const root = fs.readFileSync(path.join(d, 'anchor.txt'), 'utf8').trim();
    let got;
    try {
      const v = airlock.verify({ kind, trust, root, doc, sig, at, context });
      got = h.expect.startsWith('valid ') ? `valid ${v.state}` : 'valid';
    } catch (e) {
      assert.ok(e instanceof airlock.Rejected, String(e));
      got = `rejected ${e.code}`;
    }
    assert.strictEqual(got, h.expect, h.comment);
  });
}
