import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createEpochMonotonicChecker, createLeaderOverlapChecker, createSinglePartitionChecker } from '../../lib/sim/checkers/index.js';
import type { QuorumOverride } from '../../lib/sim/leadership-plan.js';
import { loadTotem, runOneSeed, type TotemModule } from '../../lib/sim/runner.js';
import { runSimulation, type NodeProbe } from '../../lib/sim/simulator.js';
import type { Checker, Observation } from '../../lib/sim/types.js';

/**
 * Quorum math through the simulator: real totem cores, a scripted partition, and each node's
 * own QuorumTracker + Leadership; we read who is quorate and who leads once the views settle.
 */
let totem: TotemModule;
before(async () => {
  totem = await loadTotem();
});

function split(nodes: number, groups: number[][], quorum: QuorumOverride, seed = 7, extra: { atMs: number; groups: number[][] }[] = []): readonly NodeProbe[] {
  const r = runSimulation({
    seed, nodes, faults: 'none', profile: 'lan', timers: totem.PROFILES['lan']!, createCore: totem.createTotem,
    denseIds: true, quorum, safetyMs: 12_000,
    scriptedPartitions: [{ atMs: 3000, groups }, ...extra],
    probeAtMs: [11_000],
  });
  assert.deepEqual(r.violations.map((v) => `${v.checker}: ${v.message}\n${v.reproduce}`), []);
  return r.probes[0]!.nodes;
}

const quorateIds = (p: readonly NodeProbe[]): number[] => p.filter((n) => n.quorate).map((n) => n.node);
const leaders = (p: readonly NodeProbe[]): number[] => p.filter((n) => n.leading).map((n) => n.node);

describe('quorum math through simulated partitions', () => {
  it('2|1: the pair is quorate and leads, the single node is not', () => {
    const p = split(3, [[1, 2], [3]], {});
    assert.deepEqual(quorateIds(p), [1, 2]);
    assert.equal(p[2]!.reason, 'no-majority');
    assert.deepEqual(leaders(p), [1]);
  });

  it('2|1 with the leader cut off: the majority elects node 2, node 1 stops', () => {
    const p = split(3, [[1], [2, 3]], {});
    assert.deepEqual(quorateIds(p), [2, 3]);
    assert.deepEqual(leaders(p), [2]);
  });

  it('2|2 without a tie-breaker: nobody is quorate, nobody leads', () => {
    const p = split(4, [[1, 3], [2, 4]], {});
    assert.deepEqual(quorateIds(p), []);
    assert.deepEqual(leaders(p), []);
  });

  it('2|2 with autoTieBreaker: the side holding the lowest (or highest) id wins', () => {
    const low = split(4, [[1, 3], [2, 4]], { autoTieBreaker: true });
    assert.deepEqual(quorateIds(low), [1, 3]);
    assert.equal(low[1]!.reason, 'lost-tie-break');
    assert.deepEqual(leaders(low), [1]);
    const high = split(4, [[1, 3], [2, 4]], { autoTieBreaker: true, autoTieBreakerNodes: 'highest' });
    assert.deepEqual(quorateIds(high), [2, 4]);
    assert.deepEqual(leaders(high), [2]);
  });

  it('3|2: the three are quorate, the two are not', () => {
    const p = split(5, [[1, 2], [3, 4, 5]], {});
    assert.deepEqual(quorateIds(p), [3, 4, 5]);
    assert.deepEqual(leaders(p), [3]);
  });

  it('1|1|1: nobody is quorate', () => {
    const p = split(3, [[1], [2], [3]], {});
    assert.deepEqual(quorateIds(p), []);
    assert.deepEqual(leaders(p), []);
  });

  it('votes: a node with 3 of 5 votes is quorate alone', () => {
    const p = split(3, [[1], [2, 3]], { votes: { 1: 3, 2: 1, 3: 1 } });
    assert.deepEqual(quorateIds(p), [1]);
    assert.deepEqual(leaders(p), [1]);
  });

  it('lastManStanding: after 3|2 and a wait, {1,2} of the three stays quorate, without it not', () => {
    const then = [{ atMs: 6000, groups: [[1, 2], [3], [4, 5]] }];
    const lms = split(5, [[1, 2, 3], [4, 5]], { lastManStanding: true, lastManStandingWindowMs: 1000 }, 7, then);
    assert.deepEqual(quorateIds(lms), [1, 2]);
    const plain = split(5, [[1, 2, 3], [4, 5]], {}, 7, then);
    assert.deepEqual(quorateIds(plain), []);
  });

  it('waitForAll: split before all nodes ever met, the majority waits', () => {
    const r = runSimulation({
      seed: 3, nodes: 3, faults: 'none', profile: 'lan', timers: totem.PROFILES['lan']!, createCore: totem.createTotem,
      denseIds: true, quorum: { waitForAll: true }, safetyMs: 8000, startSpreadMs: 0,
      scriptedPartitions: [{ atMs: 0, groups: [[1, 2], [3]] }], probeAtMs: [7000],
    });
    assert.deepEqual(r.violations.map((v) => v.message), []);
    const p = r.probes[0]!.nodes;
    assert.deepEqual(quorateIds(p), []);
    assert.equal(p[0]!.reason, 'waiting-for-all');
  });

  it('twoNode 1|1: each node is quorate alone and leads (split-brain by design; fencing decides)', () => {
    const p = split(2, [[1], [2]], { twoNode: true });
    assert.deepEqual(quorateIds(p), [1, 2]);
    assert.deepEqual(leaders(p), [1, 2]);
  });
});

describe('leadership over random seeds', () => {
  it('lastManStanding forced: seed 1975 (two quorate partitions before the fix) and its neighbours show no violation', () => {
    for (const seed of [1975, 1976, 1977, 1978]) {
      const r = runOneSeed(totem, seed, { nodes: [5], faults: ['partition'], profile: 'lan', quorumFlavour: 'last-man-standing' });
      assert.deepEqual(r.violations.map((v) => `${v.checker}: ${v.message}\n${v.reproduce}`), [], `seed ${seed}`);
    }
  });


  it('2-node clusters (twoNode in some runs) show no violation', () => {
    for (let seed = 1; seed <= 24; seed++) {
      const r = runOneSeed(totem, seed, { nodes: [2], faults: ['none', 'partition', 'crash', 'all'], profile: 'lan' });
      assert.deepEqual(r.violations.map((v) => `${v.checker}: ${v.message}\n${v.reproduce}`), [], `seed ${seed}`);
    }
  });
});

function feed(checker: Checker, observations: Observation[]): string[] {
  const out: string[] = [];
  for (const o of observations) {
    const p = checker.observe(o);
    if (p !== undefined) out.push(p);
  }
  return out;
}

const view = (seq: number, members: number[]) => ({ id: { seq, rep: members[0]! }, members });

describe('leadership checkers on synthetic observations', () => {
  it('leader-overlap: silent for back-to-back intervals and crash-ended ones, loud for an overlap', () => {
    const ok: Observation[] = [
      { type: 'leader-start', timeUs: 1, node: 1, incarnation: 1, epoch: 10 },
      { type: 'leader-stop', timeUs: 2, node: 1, incarnation: 1, epoch: 10, reason: 'lost-quorum' },
      { type: 'leader-start', timeUs: 3, node: 2, incarnation: 1, epoch: 11 },
      { type: 'crash', timeUs: 4, node: 2, incarnation: 1 },
      { type: 'leader-start', timeUs: 5, node: 3, incarnation: 1, epoch: 12 },
    ];
    assert.deepEqual(feed(createLeaderOverlapChecker(), ok), []);
    const bad: Observation[] = [
      { type: 'leader-start', timeUs: 1, node: 1, incarnation: 1, epoch: 10 },
      { type: 'leader-start', timeUs: 3, node: 2, incarnation: 1, epoch: 11 },
    ];
    assert.match(feed(createLeaderOverlapChecker(), bad)[0]!, /node 2\/1 starts leading epoch 11 .* while node 1\/1 has led epoch 10/);
  });

  it('epoch-monotonic: a same-term resume is fine; a lower epoch or a second coordinator is not', () => {
    const resume: Observation[] = [
      { type: 'leader-start', timeUs: 1, node: 1, incarnation: 1, epoch: 10 },
      { type: 'leader-stop', timeUs: 2, node: 1, incarnation: 1, epoch: 10, reason: 'lease-expired' },
      { type: 'leader-start', timeUs: 3, node: 1, incarnation: 1, epoch: 10 },
      { type: 'leader-start', timeUs: 4, node: 2, incarnation: 1, epoch: 12 },
    ];
    assert.deepEqual(feed(createEpochMonotonicChecker(), resume), []);
    const lower: Observation[] = [
      { type: 'leader-start', timeUs: 1, node: 1, incarnation: 1, epoch: 12 },
      { type: 'leader-start', timeUs: 3, node: 2, incarnation: 1, epoch: 11 },
    ];
    assert.match(feed(createEpochMonotonicChecker(), lower)[0]!, /epoch 11, below epoch 12/);
    const twoCoordinators: Observation[] = [
      { type: 'term', timeUs: 1, node: 1, incarnation: 1, epoch: 12, coordinator: 1 },
      { type: 'term', timeUs: 1, node: 3, incarnation: 1, epoch: 12, coordinator: 3 },
    ];
    assert.match(feed(createEpochMonotonicChecker({ growth: false }), twoCoordinators)[0]!, /epoch 12 has two coordinators/);
  });

  it('single-quorate-partition: overlapping quorate views are fine, disjoint ones are not', () => {
    const ok: Observation[] = [
      { type: 'quorum', timeUs: 1, node: 1, incarnation: 1, view: view(1, [1, 2, 3]), quorate: true, reason: 'majority' },
      { type: 'quorum', timeUs: 2, node: 2, incarnation: 1, view: view(2, [2, 3]), quorate: true, reason: 'majority' },
      { type: 'quorum', timeUs: 3, node: 1, incarnation: 1, view: view(3, [1]), quorate: false, reason: 'no-majority' },
    ];
    assert.deepEqual(feed(createSinglePartitionChecker(), ok), []);
    const bad: Observation[] = [
      { type: 'quorum', timeUs: 1, node: 1, incarnation: 1, view: view(2, [1, 2]), quorate: true, reason: 'majority' },
      { type: 'quorum', timeUs: 2, node: 4, incarnation: 1, view: view(2, [3, 4]), quorate: true, reason: 'auto-tie-breaker' },
    ];
    assert.match(feed(createSinglePartitionChecker(), bad)[0]!, /two disjoint quorate partitions/);
  });
});
