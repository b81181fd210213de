/**
 * Manual check that PARITY_CASES still say what Pacemaker does:
 * `node .build/sched/test/scheduler/parity-check.js` (needs crm_simulate). Exits 1 on a mismatch.
 */
import { PARITY_CASES, PARITY_NOW_MS } from './parity-cases.js';
import { runPacemaker } from './pacemaker.js';

let bad = 0;
for (const c of PARITY_CASES) {
  // One transition: each case records what a single run of the scheduler decides.
  const theirs = runPacemaker(c.cib, c.quorate, PARITY_NOW_MS, c.sets ?? [], 1);
  const got = Object.fromEntries(Object.keys(c.expected).map((id) => [id, theirs.placement[id] ?? []]));
  const ok = JSON.stringify(got) === JSON.stringify(c.expected);
  if (!ok) bad++;
  process.stdout.write(`${ok ? 'ok  ' : 'DIFF'} ${c.name}${ok ? '' : `\n     pacemaker ${JSON.stringify(got)}\n     expected  ${JSON.stringify(c.expected)}`}\n`);
}
process.exitCode = bad === 0 ? 0 : 1;
