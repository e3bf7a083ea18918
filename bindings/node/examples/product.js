'use strict';
// A small product in Node.js, like example-product: the one-call check, then each feature named
// on the command line is gated (402 and its code when closed). Exit 0 all allowed, 3 something
// denied, 2 cannot judge.
//   node product.js TRUST LICENSE_DIR STATE_DIR FEATURE...
const airlock = require('..');

const [trust, licenseDir, stateDir, ...features] = process.argv.slice(2);
let status;
try {
  status = airlock.check({ trust, licenseDir, stateDir });
} catch (e) {
  console.error(`cannot run licensed work: ${e.code}: ${e.detail}`);
  process.exit(2);
}
console.log(`license state: ${status.state}`);
let denied = false;
for (const f of features) {
  try {
    status.feature(f);
    console.log(`feature ${f}: allowed`);
  } catch (e) {
    if (!(e instanceof airlock.Denied)) throw e;
    console.log(`feature ${f}: ${e.httpStatus} ${e.code}`);
    denied = true;
  }
}
process.exit(denied ? 3 : 0);
