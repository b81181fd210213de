/**
 * `npm run bench:scheduler`: how long sanode's scheduler takes to place 100, 1,000 and 5,000
 * resources on 16 and 32 nodes with about two constraints per resource, next to Pacemaker's own
 * scheduler on the same CIB, as wall time of the whole crm_simulate process (start-up, XML
 * parsing, scheduling): `crm_simulate -x FILE -R` computes the transition, which is what
 * sanode's schedule() does; `-S` also executes it action by action on a copy of the CIB, which is
 * far slower, so it runs only for the smallest size (--simulate-max N to change that).
 *
 * Options: --quick (fewer runs), --sizes 100,1000 (resource counts), --nodes 16,32,
 * --crm-timeout-s S (per crm_simulate run; a slower run is shown as "> S s").
 * The cluster is seeded, so every run schedules the same CIBs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Cib } from '../lib/cib/model.js';
import { schedule } from '../lib/scheduler/index.js';
import { crmSimulateAvailable, toPacemakerXml } from '../test/scheduler/pacemaker.js';
import { BENCH_NOW_MS, benchCib } from './scheduler-cib.js';
import { formatTable, median, percentile } from './stats.js';

const NOW_MS = BENCH_NOW_MS;

function timeSanode(cib: Cib, runs: number): number[] {
  schedule(cib, { quorate: true, nowMs: NOW_MS }); // warm-up: JIT and caches
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    schedule(cib, { quorate: true, nowMs: NOW_MS });
    times.push(performance.now() - t0);
  }
  return times;
}

function timeCrmSimulate(file: string, mode: '-R' | '-S', runs: number, timeoutMs: number): number[] | string {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync('crm_simulate', ['-x', file, mode, '-Q'], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, PCMK_logfile: '/dev/null' } });
    const ms = performance.now() - t0;
    if (r.error !== undefined) return (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `> ${timeoutMs / 1000} s` : `failed: ${r.error.message}`;
    if (r.status !== 0) return `exit ${r.status}: ${(r.stderr ?? '').split('\n')[0]}`;
    times.push(ms);
  }
  return times;
}

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

function main(): void {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, sizes: { type: 'string' }, nodes: { type: 'string' }, 'crm-timeout-s': { type: 'string' }, 'simulate-max': { type: 'string' } },
  });
  const quick = values.quick === true;
  const sizes = (values.sizes ?? '100,1000,5000').split(',').map(Number);
  const nodeCounts = (values.nodes ?? '16,32').split(',').map(Number);
  const crmTimeoutMs = Number(values['crm-timeout-s'] ?? '300') * 1000;
  const simulateMax = Number(values['simulate-max'] ?? '100');
  const haveCrm = crmSimulateAvailable();
  if (!haveCrm) process.stdout.write('crm_simulate not found (apt-get install pacemaker-cli-utils): showing sanode only\n');
  const dir = mkdtempSync(join(tmpdir(), 'sanode-bench-'));
  const rows: (string | number)[][] = [];
  try {
    for (const size of sizes) {
      for (const nodeCount of nodeCounts) {
        const { cib, constraints } = benchCib(size, nodeCount);
        const runs = quick ? 3 : size <= 100 ? 50 : size <= 1000 ? 15 : 5;
        const ours = timeSanode(cib, runs);
        let crmRun = '-';
        let crmRuns = 0;
        let ratio = '-';
        let crmSim = '-';
        if (haveCrm) {
          const file = join(dir, `bench-${size}-${nodeCount}.xml`);
          writeFileSync(file, toPacemakerXml(cib, true));
          crmRuns = quick || size >= 5000 ? 1 : size >= 1000 ? 3 : 5;
          const theirs = timeCrmSimulate(file, '-R', crmRuns, crmTimeoutMs);
          if (typeof theirs === 'string') crmRun = theirs;
          else {
            crmRun = fmt(median(theirs));
            ratio = `${(median(theirs) / median(ours)).toFixed(1)}x`;
          }
          // -S also executes the transition action by action on a copy of the CIB; that costs
          // far more than deciding it (minutes for 1,000 resources), so only the smallest size.
          if (size <= simulateMax) {
            const sim = timeCrmSimulate(file, '-S', 1, crmTimeoutMs);
            crmSim = typeof sim === 'string' ? sim : fmt(sim[0]!);
          }
        }
        rows.push([size, nodeCount, constraints, runs, fmt(median(ours)), fmt(percentile(ours, 99)), crmRuns, crmRun, ratio, crmSim]);
        process.stderr.write(`done: ${size} resources on ${nodeCount} nodes\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `${formatTable(['resources', 'nodes', 'constraints', 'runs', 'sanode median ms', 'sanode p99 ms', 'crm runs', 'crm_simulate -R median ms', 'crm -R/sanode', 'crm_simulate -S ms'], rows)}\n`,
  );
}

main();
