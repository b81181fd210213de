/**
 * Behaviours found by differential testing against crm_simulate (Pacemaker 2.1.5), one case each.
 * Every CIB here is in PARITY_CASES with the placement crm_simulate chose, so
 * `node .build/sched/test/scheduler/parity-check.js` can re-check them against Pacemaker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../lib/scheduler/index.js';
import { PARITY_CASES, PARITY_NOW_MS, placementOf } from './parity-cases.js';

describe('scheduler: parity with pacemaker', () => {
  for (const c of PARITY_CASES) {
    it(c.name, () => {
      const result = schedule(c.cib, { quorate: c.quorate, nowMs: PARITY_NOW_MS });
      assert.deepEqual(placementOf(result.placement, Object.keys(c.expected)), c.expected);
    });
  }
});
