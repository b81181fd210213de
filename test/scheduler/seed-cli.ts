/**
 * Manual inspection of one differential scenario: `node .build/sched/test/scheduler/seed-cli.js SEED [DIR]`.
 * Prints the scenario (sanode's JSON CIB), each sanode round's actions, both settled placements
 * and their differences; with DIR, also writes the Pacemaker CIB given to crm_simulate
 * (DIR/seed-SEED.xml) so it can be re-run by hand with `crm_simulate -x FILE -s -S`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { schedule } from '../../lib/scheduler/index.js';
import { comparePlacements, sanodePlacement } from './differential.js';
import { runPacemaker, toPacemakerXml } from './pacemaker.js';
import { generateScenario } from './scenarios.js';
import { executeActions } from './settle.js';

const seed = Number(process.argv[2] ?? '1');
const dir = process.argv[3];
const s = generateScenario(seed);
process.stdout.write(`seed ${seed} level ${s.level} features [${s.features.join(' ')}] quorate ${s.quorate}\n`);
process.stdout.write(`${JSON.stringify({ config: s.cib.config, status: s.cib.status }, null, 1)}\n`);
if (dir !== undefined) writeFileSync(join(dir, `seed-${seed}.xml`), toPacemakerXml(s.cib, s.quorate, s.sets));
let cib = s.cib;
for (let round = 1; round <= 8; round++) {
  const r = schedule(cib, { quorate: s.quorate, nowMs: s.nowMs });
  const acts = r.actions.filter((a) => a.kind !== 'monitor');
  process.stdout.write(`sanode round ${round}: ${acts.map((a) => a.id).join(' ') || '(nothing)'}\n`);
  if (acts.length === 0) {
    process.stdout.write(`sanode scores: ${JSON.stringify(r.scores)}\n`);
    break;
  }
  cib = executeActions(cib, r.actions, s.nowMs);
}
const ours = sanodePlacement(s);
const theirs = runPacemaker(s.cib, s.quorate, s.nowMs, s.sets);
process.stdout.write(`sanode    ${JSON.stringify(ours.placement)}\npacemaker ${JSON.stringify(theirs.placement)} (rounds ${theirs.rounds}, ties [${theirs.ties.join(' ')}])\n`);
process.stdout.write(`differences: ${comparePlacements(s, ours.placement, theirs.placement).join('; ') || 'none'}\n`);
