import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFaultMix, parseFaultMixes } from '../../lib/sim/faults.js';
import { parseNodeCounts, parseSeeds, planSeed, runRange, type SeedResult } from '../../lib/sim/runner.js';

const TOY_TOTEM = new URL('./toy-totem.js', import.meta.url).href;

describe('the seed runner', () => {
  it('cycles node counts and fault mixes so consecutive seeds cover every combination', () => {
    const nodes = [3, 5, 7];
    const faults = ['none', 'loss'];
    const combos = new Set<string>();
    for (let seed = 12; seed < 18; seed++) {
      const p = planSeed(seed, nodes, faults);
      combos.add(`${p.nodes}/${p.faults}`);
    }
    assert.equal(combos.size, 6);
  });

  it('parses seed ranges, node lists and fault mixes, and rejects bad ones', () => {
    assert.deepEqual(parseSeeds('3-5,9'), [3, 4, 5, 9]);
    assert.throws(() => parseSeeds('5-3'), /bad seed range/);
    assert.deepEqual(parseNodeCounts('3,5'), [3, 5]);
    assert.throws(() => parseNodeCounts('1'), /2\.\.32/);
    assert.deepEqual([...parseFaultMix('all')].length, 6);
    assert.deepEqual([...parseFaultMix('loss, crash')], ['loss', 'crash']);
    assert.throws(() => parseFaultMix('flood'), /unknown fault 'flood'/);
    assert.deepEqual(parseFaultMixes('none;loss,crash'), ['none', 'loss,crash']);
    assert.equal(parseFaultMixes('each').length, 8);
  });

  it('two worker threads give the same results, in the same order, as one thread', async () => {
    const options = { seeds: [1, 2, 3, 4, 5, 6], nodes: [3, 4], faults: ['none'], profile: 'lan', coreModule: TOY_TOTEM };
    const summarize = (r: SeedResult): string => `${r.seed} ${r.nodes} ${r.stats.steps} ${r.violations.map((v) => `${v.checker}@${v.step}`).join(',')}`;
    const seen: number[] = [];
    const one = await runRange({ ...options, jobs: 1 }, () => undefined);
    const two = await runRange({ ...options, jobs: 2 }, (r) => seen.push(r.seed));
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(two.map(summarize), one.map(summarize));
    assert.ok(one.some((r) => r.violations.length > 0), 'the arrival-order toy should break agreed order');
  });
});
