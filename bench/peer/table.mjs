// Prints the comparison table of bench/run.sh from the JSON of machines_bench --json
// (env STEPD_JSON) and of run.mjs (env PEER_JSON), as a Markdown table.
const stepd = JSON.parse(process.env.STEPD_JSON).machines;
const peer = JSON.parse(process.env.PEER_JSON || '{}');
const fmt = (n) => Math.round(n).toLocaleString('en-US');

const rows = [['machine', 'stepd transitions/s', 'peer transitions/s', 'ratio']];
const short = [];
for (const m of stepd) {
  const theirs = peer[m.machine];
  const ratio = theirs ? m.transitions_per_s / theirs : null;
  if (ratio !== null && ratio < 10) short.push(m.machine);
  rows.push([
    m.machine,
    fmt(m.transitions_per_s),
    theirs ? fmt(theirs) : 'n/a',
    ratio !== null ? `${ratio.toFixed(1)}x` : 'n/a',
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
const pad = (c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]));
const line = (r) => '| ' + r.map(pad).join(' | ') + ' |';
const rule = (w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':');
console.log(line(rows[0]));
console.log('|' + widths.map(rule).join('|') + '|');
for (const r of rows.slice(1)) console.log(line(r));
if (Object.keys(peer).length > 0) {
  console.log(
    '\ntarget >= 10x the peer on every machine: ' +
      (short.length === 0 ? 'met' : `NOT met on ${short.join(', ')}`),
  );
}
