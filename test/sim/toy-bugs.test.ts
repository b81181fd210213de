import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUG_CATCHERS, type BugName } from '../../lib/sim/bugs.js';
import { runToy } from './toy-sim.js';

/**
 * The toy core never changes view, so the bugs that need a view change (non-monotonic-view,
 * skip-old-view-delivery) are proven against the real totem in bugs.test.ts; the rest are
 * proven here too, so the checkers are covered even without the protocol.
 */
const TOY_BUGS: BugName[] = [
  'reorder-delivery', 'drop-delivery', 'duplicate-delivery', 'invent-delivery', 'corrupt-payload',
  'wrong-view-members', 'lose-own-message', 'stall',
];

describe('injected bugs on the toy core', () => {
  for (const bug of TOY_BUGS) {
    it(`${bug} is caught by ${BUG_CATCHERS[bug][0]} within a few seeds`, () => {
      const caughtBy = new Set<string>();
      for (let seed = 1; seed <= 3; seed++) {
        const r = runToy(seed, { bug, stopOnViolation: false });
        assert.ok(r.violations.length > 0, `seed ${seed}: no violation`);
        for (const v of r.violations) caughtBy.add(v.checker);
      }
      assert.ok(caughtBy.has(BUG_CATCHERS[bug][0]!), `caught only by ${[...caughtBy].join(', ')}`);
      for (const c of caughtBy) assert.ok((BUG_CATCHERS[bug] as readonly string[]).includes(c), `unexpected checker ${c}`);
    });
  }
});
