/**
 * Manual differential run: `node .build/sched/test/scheduler/diff-cli.js FROM COUNT [--show]`.
 * Prints agreement figures and the first disagreements.
 */
import { compareSeed } from './differential.js';

const from = Number(process.argv[2] ?? '1');
const count = Number(process.argv[3] ?? '100');
const show = process.argv.includes('--show');
let agree = 0;
let ambiguous = 0;
let ambiguousAgree = 0;
let incomplete = 0;
const bad: string[] = [];
for (let seed = from; seed < from + count; seed++) {
  const c = compareSeed(seed);
  if (c.incomplete) {
    incomplete++;
    continue;
  }
  if (c.ambiguous) {
    ambiguous++;
    if (c.agree) ambiguousAgree++;
    continue;
  }
  if (c.agree) agree++;
  else bad.push(`seed ${seed}: ${c.differences.join('; ')}`);
}
const clear = count - ambiguous - incomplete;
process.stdout.write(`scenarios ${count}: pacemaker transition incomplete ${incomplete}; unambiguous ${clear}, agree ${agree}, disagree ${clear - agree}; ambiguous (ties) ${ambiguous}, of which agree ${ambiguousAgree}\n`);
for (const line of bad.slice(0, show ? 1000 : 15)) process.stdout.write(`${line}\n`);
