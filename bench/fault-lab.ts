/**
 * The fault lab's manual run (docs/fault-lab.md): `sudo node dist/bench/fault-lab.js` runs
 * 150 seeded faults on each of the `lan` and `fast` profiles (300 in all) against three nodes and
 * a client in network namespaces, and prints, per profile: ms of VIP on two nodes, dual answers,
 * leader-callback overlaps, the longest stretch without the VIP against the profile's failover
 * bound, and whether the configuration survived every kill of every node. Exit status 0 only if
 * every profile is clean.
 *
 * Options (or the SANODE_FAULTLAB_* environment variables the CI test reads):
 *   --seed N       (SANODE_FAULTLAB_SEED; default random, printed)
 *   --faults N     per profile (SANODE_FAULTLAB_FAULTS; default 150)
 *   --profiles L   (SANODE_FAULTLAB_PROFILES; default lan,fast)
 *   --hold MIN-MAX seeded hold per fault in ms (default 200-6000)
 *   --verbose      one line per fault on stderr
 *
 * Needs root. Everything it creates carries an `snt-fl…` prefix and is removed at the end, also on
 * failure or Ctrl-C; the lab dir (node events, watcher reports, client samples) is kept when a
 * profile finds something.
 */
import { parseArgs } from 'node:util';
import { HaLab, type Profile } from '../test/helpers/ha-lab.js';
import { clean, formatReport, randomSeed, runFaultLab } from '../test/helpers/fault-lab.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: process.env.SANODE_FAULTLAB_SEED },
    faults: { type: 'string', default: process.env.SANODE_FAULTLAB_FAULTS ?? '150' },
    profiles: { type: 'string', default: process.env.SANODE_FAULTLAB_PROFILES ?? 'lan,fast' },
    hold: { type: 'string', default: '200-6000' },
    verbose: { type: 'boolean', default: false },
  },
});
const fail = (message: string): never => {
  console.error(`fault-lab: ${message}`);
  process.exit(2);
};
const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
if (!Number.isSafeInteger(seed) || seed < 0) fail(`--seed: expected a non-negative integer, got '${values.seed}'`);
const faults = Number(values.faults);
if (!Number.isSafeInteger(faults) || faults < 1) fail(`--faults: expected a positive integer, got '${values.faults}'`);
const profiles = values.profiles.split(',').map((p) => p.trim()) as Profile[];
for (const p of profiles) if (!['lan', 'fast', 'wan'].includes(p)) fail(`--profiles: unknown profile '${p}'; use lan, fast or wan`);
const hold = /^(\d+)-(\d+)$/.exec(values.hold);
if (hold === null || Number(hold[1]) > Number(hold[2])) fail(`--hold: expected MIN-MAX in ms, got '${values.hold}'`);
const holdMs: [number, number] = [Number(hold![1]), Number(hold![2])];

const reason = await HaLab.unavailable();
if (reason !== undefined) fail(reason);

console.log(`fault-lab: seed ${seed}, ${faults} faults per profile on ${profiles.join(',')}, hold ${holdMs[0]}-${holdMs[1]} ms`);
let allClean = true;
for (const profile of profiles) {
  const report = await runFaultLab({ profile, seed, faults, holdMs, log: values.verbose ? (line) => console.error(line) : undefined });
  console.log(formatReport(report));
  allClean &&= clean(report);
}
console.log(allClean ? 'fault-lab: clean' : `fault-lab: VIOLATIONS found (seed ${seed})`);
process.exit(allClean ? 0 : 1);
