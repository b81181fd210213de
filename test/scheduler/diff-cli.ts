/**
 * Manual differential run: `node .build/sched/test/scheduler/diff-cli.js FROM COUNT [--show] [--jsonl FILE]`.
 * Prints agreement on settled results per feature level and per feature, and the disagreements;
 * --jsonl also writes one line per scenario, so runs over several seed ranges can be added up.
 */
import { appendFileSync } from 'node:fs';
import { compareSeed, summarize, type Comparison } from './differential.js';

const from = Number(process.argv[2] ?? '1');
const count = Number(process.argv[3] ?? '100');
const show = process.argv.includes('--show');
const all: Comparison[] = [];
const jsonl = process.argv.includes('--jsonl') ? process.argv[process.argv.indexOf('--jsonl') + 1] : undefined;
for (let seed = from; seed < from + count; seed++) {
  const c = compareSeed(seed);
  all.push(c);
  if (jsonl !== undefined) {
    const { scenario, ...rest } = c;
    appendFileSync(jsonl, `${JSON.stringify({ ...rest, level: scenario.level, features: scenario.features })}\n`);
  }
}
process.stdout.write(summarize(all));
const bad = all.filter((c) => !c.incomplete && !c.ambiguous && !c.agree);
for (const c of bad.slice(0, show ? 10_000 : 15)) process.stdout.write(`seed ${c.seed} [${c.scenario.level}${c.scenario.features.length > 0 ? ` ${c.scenario.features.join(' ')}` : ''}]: ${c.differences.join('; ')}\n`);
