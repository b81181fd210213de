import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAULT_KINDS } from '../../lib/sim/faults.js';
import { runRange, type SeedResult } from '../../lib/sim/runner.js';

/**
 * The CI-sized run: a range of seeds across 3, 5 and 7 nodes and every fault mix (none, each
 * fault alone, all together), on two worker threads, with zero violations allowed.
 * SANODE_SIM_SEEDS sets the number of seeds (see docs/simulator.md for the measured cost).
 */
const SEEDS = Number(process.env['SANODE_SIM_SEEDS'] ?? 2000);
const JOBS = Number(process.env['SANODE_SIM_JOBS'] ?? 2);

describe('simulated seeds', () => {
  it(`${SEEDS} seeds across 3, 5 and 7 nodes and every fault mix show no violation`, { timeout: 60 * 60 * 1000 }, async () => {
    const failures: string[] = [];
    const results: SeedResult[] = await runRange(
      {
        seeds: Array.from({ length: SEEDS }, (_, i) => i + 1),
        nodes: [3, 5, 7],
        faults: ['none', ...FAULT_KINDS, 'all'],
        profile: 'lan',
        jobs: JOBS,
      },
      (r) => {
        for (const v of r.violations) failures.push(`${v.checker} (${v.kind}) seed ${v.seed}: ${v.message}\n${v.trace}\n  reproduce: ${v.reproduce}`);
      },
    );
    assert.equal(results.length, SEEDS);
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} violations`);
  });
});
