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
interface Setup {
  readonly mix: string;
  readonly safetyMs?: number;
  /** How many seeds to try, and in how many of them the bug must be caught. */
  readonly seeds?: number;
  readonly minCaught?: number;
}

/**
 * The leadership bugs need a leader to be lost while alive (a partition) or a second term (a
 * crash), so they run longer and on more seeds; each must still be caught in a fair share.
 */
const SETUP: Readonly<Record<BugName, Setup>> = {
  'reorder-delivery': { mix: 'none' },
  'drop-delivery': { mix: 'none' },
  'duplicate-delivery': { mix: 'none' },
  'invent-delivery': { mix: 'none' },
  'corrupt-payload': { mix: 'none' },
  'wrong-view-members': { mix: 'none' },
  'non-monotonic-view': { mix: 'none' },
  'skip-old-view-delivery': { mix: 'crash' },
  'lose-own-message': { mix: 'none' },
  'stall': { mix: 'none' },
  'no-takeover-wait': { mix: 'partition', safetyMs: 8000, seeds: 12, minCaught: 4 },
  'leader-ignores-quorum': { mix: 'partition' },
  // Needs a second term with another coordinator; the longest-running node keeps the role, so
  // only some crash runs hand it over.
  'epoch-reuse': { mix: 'crash', safetyMs: 8000, seeds: 24, minCaught: 3 },
  // Core bugs: the node's own machines do the wrong thing.
  // A paused holder stops nothing until it resumes: the coordinator must wait for its deadline.
  'start-before-deadline': { mix: 'pause', safetyMs: 8000, seeds: 24, minCaught: 2 },
  'no-self-stop': { mix: 'partition', safetyMs: 12000, seeds: 12, minCaught: 3 },
  // Only the seeds that configure the flaky resource can show it.
  'no-backoff': { mix: 'none', safetyMs: 8000, seeds: 24, minCaught: 3 },
  // Needs every node to restart after the nodes holding a change crashed.
  'skip-cib-persist': { mix: 'crash', safetyMs: 8000, seeds: 24, minCaught: 3 },
  // A gap needs a lost packet.
  'deliver-past-gap': { mix: 'loss' },
  // Needs a node with failures (a crash leftover its probe finds failed, a failed start) to restart.
  'keep-old-fail-counts': { mix: 'crash', safetyMs: 12000, seeds: 24, minCaught: 4 },
};

describe('injected bugs on the real totem', () => {
  let totem: TotemModule;
  before(async () => {
    totem = await loadTotem();
  });

  for (const bug of Object.keys(BUGS) as BugName[]) {
    it(`${bug} is caught by ${BUG_CATCHERS[bug][0]}, and the same seeds are clean without it`, () => {
      const setup = SETUP[bug];
      const base = { nodes: [3, 5], faults: [setup.mix], profile: 'lan', safetyMs: setup.safetyMs ?? 4000, stopOnViolation: false };
      const seeds = Array.from({ length: setup.seeds ?? 6 }, (_, i) => i + 1);
      const caughtBy = new Set<string>();
      let caughtSeeds = 0;
      for (const seed of seeds) {
        const clean = runOneSeed(totem, seed, base);
        assert.deepEqual(clean.violations.map((v) => `${v.checker}: ${v.message}\n${v.reproduce}`), [], `clean seed ${seed}`);
        const buggy = runOneSeed(totem, seed, { ...base, bug });
        if (buggy.violations.length > 0) caughtSeeds++;
        for (const v of buggy.violations) caughtBy.add(v.checker);
      }
      const needed = setup.minCaught ?? seeds.length / 2;
      assert.ok(caughtSeeds >= needed, `caught in only ${caughtSeeds} of ${seeds.length} seeds`);
      assert.ok(caughtBy.has(BUG_CATCHERS[bug][0]!), `caught only by ${[...caughtBy].join(', ') || 'nothing'}`);
      for (const c of caughtBy) assert.ok((BUG_CATCHERS[bug] as readonly string[]).includes(c), `unexpected checker ${c}`);
    });
  }
});
