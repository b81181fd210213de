import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { BUG_CATCHERS, BUGS, type BugName } from '../../lib/sim/bugs.js';
import { loadTotem, runOneSeed, type TotemModule } from '../../lib/sim/runner.js';

/**
 * Every injectable bug must be caught, on the real totem, within a few seeds; and the same
 * seeds without the bug must be clean. Staggered start-up already produces several view changes,
 * so most bugs run on a quiet network; skip-old-view-delivery needs nodes to leave a view together
 * after delivering in it, which crashes provide.
 */
const MIX_FOR: Readonly<Record<BugName, string>> = {
  'reorder-delivery': 'none',
  'drop-delivery': 'none',
  'duplicate-delivery': 'none',
  'invent-delivery': 'none',
  'corrupt-payload': 'none',
  'wrong-view-members': 'none',
  'non-monotonic-view': 'none',
  'skip-old-view-delivery': 'crash',
  'lose-own-message': 'none',
  'stall': 'none',
};
const SEEDS = [1, 2, 3, 4, 5, 6];

describe('injected bugs on the real totem', () => {
  let totem: TotemModule;
  before(async () => {
    totem = await loadTotem();
  });

  for (const bug of Object.keys(BUGS) as BugName[]) {
    it(`${bug} is caught by ${BUG_CATCHERS[bug][0]}, and the same seeds are clean without it`, () => {
      const base = { nodes: [3, 5], faults: [MIX_FOR[bug]], profile: 'lan', safetyMs: 4000, stopOnViolation: false };
      const caughtBy = new Set<string>();
      let caughtSeeds = 0;
      for (const seed of SEEDS) {
        const clean = runOneSeed(totem, seed, base);
        assert.deepEqual(clean.violations.map((v) => `${v.checker}: ${v.message}\n${v.reproduce}`), [], `clean seed ${seed}`);
        const buggy = runOneSeed(totem, seed, { ...base, bug });
        if (buggy.violations.length > 0) caughtSeeds++;
        for (const v of buggy.violations) caughtBy.add(v.checker);
      }
      assert.ok(caughtSeeds >= SEEDS.length / 2, `caught in only ${caughtSeeds} of ${SEEDS.length} seeds`);
      assert.ok(caughtBy.has(BUG_CATCHERS[bug][0]!), `caught only by ${[...caughtBy].join(', ') || 'nothing'}`);
      for (const c of caughtBy) assert.ok((BUG_CATCHERS[bug] as readonly string[]).includes(c), `unexpected checker ${c}`);
    });
  }
});
