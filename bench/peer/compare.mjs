// Compares the final outputs of Stepd (machines_bench --outputs) and of the peer
// (run.mjs --outputs), given as two JSON files of {machine: output}. Prints one line per
// machine; exit code 0 when all are equal (object member order ignored), 1 otherwise.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

const [stepdFile, peerFile] = process.argv.slice(2);
const stepd = JSON.parse(readFileSync(stepdFile, 'utf8'));
const peer = JSON.parse(readFileSync(peerFile, 'utf8'));
let same = true;
for (const name of Object.keys(stepd)) {
  if (!(name in peer)) continue;
  const equal = isDeepStrictEqual(stepd[name], peer[name]);
  same &&= equal;
  const text = equal
    ? 'same output'
    : `OUTPUTS DIFFER\n  stepd: ${JSON.stringify(stepd[name]).slice(0, 300)}\n` +
      `  peer:  ${JSON.stringify(peer[name]).slice(0, 300)}`;
  console.log(`${name}: ${text}`);
}
process.exit(same ? 0 : 1);
