import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventHeap } from '../../lib/sim/heap.js';
import { Prng } from '../../lib/sim/prng.js';
import { runToy } from './toy-sim.js';

describe('determinism', () => {
  it('the same seed gives the same trace hash, byte for byte', () => {
    const a = runToy(42, { nodes: 5, hashTrace: true });
    const b = runToy(42, { nodes: 5, hashTrace: true });
    assert.equal(a.traceHash, b.traceHash);
    assert.deepEqual(a.stats, b.stats);
  });

  it('a different seed gives a different trace', () => {
    const a = runToy(42, { nodes: 5, hashTrace: true });
    const b = runToy(43, { nodes: 5, hashTrace: true });
    assert.notEqual(a.traceHash, b.traceHash);
  });

  it('the PRNG replays the same stream for a seed, and different streams for neighbouring seeds', () => {
    const draw = (seed: number): number[] => {
      const p = new Prng(seed);
      return Array.from({ length: 8 }, () => p.u32());
    };
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
    assert.notDeepEqual(draw(1), draw(1 + 2 ** 32));
  });

  it('PRNG ranges stay inside their bounds and cover them', () => {
    const p = new Prng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = p.int(3, 9);
      assert.ok(v >= 3 && v <= 9);
      seen.add(v);
      const f = p.float();
      assert.ok(f >= 0 && f < 1);
    }
    assert.equal(seen.size, 7);
  });

  it('the event heap pops by time, and events at the same instant in scheduling order', () => {
    const heap = new EventHeap<string>();
    const p = new Prng(3);
    const expected: [number, number, string][] = [];
    for (let i = 0; i < 500; i++) {
      const t = p.int(0, 20);
      heap.push(t, `e${i}`);
      expected.push([t, i, `e${i}`]);
    }
    expected.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    const popped: string[] = [];
    for (let e = heap.pop(); e !== undefined; e = heap.pop()) popped.push(e.item);
    assert.deepEqual(popped, expected.map((x) => x[2]));
  });
});

describe('the simulator on a toy core', () => {
  it('a correct sequencer core on a fault-free network yields no violations', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const r = runToy(seed, { nodes: 2 + (seed % 5) });
      assert.deepEqual(r.violations.map((v) => `${v.checker}: ${v.message}`), [], `seed ${seed}`);
      assert.ok(r.stats.deliveries > 0);
    }
  });

  it('a core that delivers in arrival order is caught breaking agreed order', () => {
    let caught = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const r = runToy(seed, { mode: 'deliver-on-receipt' });
      if (r.violations.some((v) => v.checker === 'agreed-order')) caught++;
    }
    assert.ok(caught >= 4, `caught in ${caught} of 5 seeds`);
  });

  it('a violation carries its seed, a readable trace and the command that reproduces it', () => {
    const r = runToy(3, { mode: 'deliver-on-receipt' });
    const v = r.violations[0]!;
    assert.equal(v.seed, 3);
    assert.equal(v.kind, 'correctness');
    assert.match(v.reproduce, /^npm run sim -- --seeds 3 --nodes 3 --faults none --profile lan$/);
    assert.match(v.trace, /DELIV n\d+\/1 /);
    assert.ok(v.trace.split('\n').length >= 20);
  });
});
