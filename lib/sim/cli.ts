#!/usr/bin/env node
/**
 * `npm run sim -- --seeds A-B [--nodes N|N,M] [--faults MIX] [--profile lan|fast|wan]
 *                [--inject-bug NAME] [--list-bugs] [--verbose] [--trace SEED] [--jobs K]`
 *
 * Runs the simulator over a seed range, prints every violation with the command that replays
 * it, and ends with exactly `N seeds, V violations` (exit status 1 when V > 0).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BUGS, isBugName } from './bugs.js';
import { isQuorumFlavour, KNOWN_UNSAFE_FLAVOURS, QUORUM_FLAVOURS } from './leadership-plan.js';
import { FAULT_MIX_HELP, parseFaultMixes } from './faults.js';
import { loadTotem, parseNodeCounts, parseSeeds, runOneSeed, runRange, type SeedResult } from './runner.js';
import type { Violation } from './types.js';
import { formatTimeUs } from './types.js';

const HELP = `usage: npm run sim -- --seeds A-B [options]

  --seeds A-B        seeds to run (also N, or a comma list of ranges)
  --nodes N[,M...]   node counts, 2..32 (lists cycle by seed; default 3,5,7)
  --faults MIX       fault mix (default all); several mixes separated by ';' or '|' cycle by seed;
                     'each' cycles through none, every single fault, and all
  --profile NAME     timer profile: lan (default), fast, wan
  --inject-bug NAME  make the harness corrupt one node's reports (see --list-bugs)
  --list-bugs        print the injectable bug names, one per line
  --safety-ms MS     length of the safety phase (default: drawn from the seed)
  --quorum FLAVOUR   force the quorum options: ${QUORUM_FLAVOURS.join(', ')}
                     (default: drawn from the seed${KNOWN_UNSAFE_FLAVOURS.length > 0 ? `; ${KNOWN_UNSAFE_FLAVOURS.join(', ')} only when forced` : ''})
  --keep-going       do not stop a run at its first violation (reports one per checker)
  --jobs K           worker threads (default 1)
  --trace SEED       run one seed and print its full trace
  --verbose          one summary line per seed
  --core-module PATH run another core: a module exporting createTotem and PROFILES

fault mixes:
${Object.entries(FAULT_MIX_HELP).map(([k, v]) => `  ${k.padEnd(11)} ${v}`).join('\n')}
`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      nodes: { type: 'string', default: '3,5,7' },
      faults: { type: 'string', default: 'all' },
      profile: { type: 'string', default: 'lan' },
      'inject-bug': { type: 'string' },
      'list-bugs': { type: 'boolean', default: false },
      'safety-ms': { type: 'string' },
      quorum: { type: 'string' },
      'keep-going': { type: 'boolean', default: false },
      jobs: { type: 'string', default: '1' },
      trace: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'core-module': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values['list-bugs']) {
    for (const name of Object.keys(BUGS)) process.stdout.write(`${name}\n`);
    return 0;
  }
  const bug = values['inject-bug'];
  if (bug !== undefined && !isBugName(bug)) throw new RangeError(`unknown bug '${bug}': see --list-bugs`);
  const nodes = parseNodeCounts(values.nodes);
  const faults = parseFaultMixes(values.faults);
  const safetyMs = values['safety-ms'] === undefined ? undefined : Number(values['safety-ms']);
  if (safetyMs !== undefined && !(Number.isInteger(safetyMs) && safetyMs > 0)) throw new RangeError('--safety-ms must be a positive integer');
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new RangeError('--jobs must be a positive integer');
  const coreModule = values['core-module'] === undefined ? undefined : pathToFileURL(resolve(values['core-module'])).href;
  const quorumFlavour = values.quorum;
  if (quorumFlavour !== undefined && !isQuorumFlavour(quorumFlavour)) throw new RangeError(`unknown quorum flavour '${quorumFlavour}': use ${QUORUM_FLAVOURS.join(', ')}`);
  const common = { nodes, faults, profile: values.profile, bug, safetyMs, quorumFlavour, stopOnViolation: !values['keep-going'] };

  if (values.trace !== undefined) {
    const seed = Number(values.trace);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError('--trace takes one seed');
    const totem = await loadTotem(coreModule);
    const r = runOneSeed(totem, seed, common, { traceSink: (line) => process.stdout.write(`${line}\n`) });
    report(r, true);
    process.stdout.write(`1 seeds, ${r.violations.length} violations\n`);
    return r.violations.length > 0 ? 1 : 0;
  }

  if (values.seeds === undefined) throw new RangeError('--seeds is required (e.g. --seeds 1-100)');
  const seeds = parseSeeds(values.seeds);
  let violations = 0;
  const started = performance.now();
  let wallMsTotal = 0;
  let simUsTotal = 0;
  await runRange({ ...common, seeds, jobs, coreModule }, (r) => {
    violations += r.violations.length;
    wallMsTotal += r.wallMs;
    simUsTotal += r.simTimeUs;
    report(r, values.verbose);
  });
  if (values.verbose) {
    const elapsedMs = performance.now() - started;
    process.stdout.write(
      `cost: ${(wallMsTotal / seeds.length).toFixed(1)}ms per seed (${(simUsTotal / 1000 / seeds.length).toFixed(0)}ms simulated), ` +
        `${(elapsedMs / 1000).toFixed(1)}s elapsed on ${jobs} job(s)\n`,
    );
  }
  process.stdout.write(`${seeds.length} seeds, ${violations} violations\n`);
  return violations > 0 ? 1 : 0;
}

function report(r: SeedResult, verbose: boolean): void {
  if (verbose) {
    const s = r.stats;
    process.stdout.write(
      `seed ${r.seed}: ${r.nodes} nodes, faults ${r.faults}, ${s.steps} steps, ${s.packetsSent} packets (${s.packetsLost} lost), ` +
        `${s.views} views, ${s.broadcastsOk} broadcasts, ${s.deliveries} deliveries, ${s.crashes} crashes, ${s.pauses} pauses, ` +
        `${s.partitions} partitions, ${s.cuts} cuts; ${formatTimeUs(r.simTimeUs)} simulated in ${r.wallMs.toFixed(0)}ms` +
        `${r.violations.length > 0 ? ` — ${r.violations.length} VIOLATION(S)` : ''}\n`,
    );
  }
  for (const v of r.violations) process.stdout.write(formatViolation(v, r));
}

function formatViolation(v: Violation, r: { nodes: number; faults: string; profile: string }): string {
  return (
    `\nVIOLATION ${v.checker} (${v.kind}) seed ${v.seed}: ${r.nodes} nodes, faults ${r.faults}, profile ${r.profile}, ` +
    `step ${v.step}, t=${formatTimeUs(v.timeUs)}\n  ${v.message}\n  trace (most recent last):\n${v.trace}\n  reproduce: ${v.reproduce}\n\n`
  );
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);

