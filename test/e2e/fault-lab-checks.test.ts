import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { HaLab, type WatchLine } from '../helpers/ha-lab.js';
import { analyse, clean, failoverBoundMs, planFaults, FAULT_KINDS, type FaultRecord } from '../helpers/fault-lab.js';

/**
 * The fault lab's checks (test/helpers/fault-lab.ts) on hand-made records, no namespaces: each
 * one fires on the violation it exists for, and stays quiet on the near miss that poll
 * granularity or a legitimate handover produces.
 */

interface Scenario {
  /** VIP poll reports per node: [t, prevT, present]. */
  vip: Record<number, [number, number, boolean][]>;
  answers?: { node: string; t0: number; t: number }[];
  leaders?: { node: number; epoch: number; at: number; ticks: number[] }[];
  faults?: Partial<FaultRecord>[];
}

function judge(s: Scenario) {
  const lab = new HaLab({ profile: 'lan' });
  try {
    for (const [id, reports] of Object.entries(s.vip)) {
      const lines = lab.watch.get(Number(id))!;
      for (const [t, prevT, present] of reports) lines.push({ src: 'poll', t, prevT, present, running: true } satisfies WatchLine);
    }
    for (const a of s.answers ?? []) lab.client.push({ ...a, ok: true });
    for (const l of s.leaders ?? []) {
      const history = lab.history.get(l.node)!;
      history.push({ ev: 'leader-start', epoch: l.epoch, atMs: l.at });
      for (const t of l.ticks) history.push({ ev: 'leader-tick', epoch: l.epoch, atMs: t });
    }
    const faults = (s.faults ?? [{}]).map((f, index) => ({ index, kind: 'kill-holder', target: 'holder', holdMs: 1000, node: 1, holderBefore: 1, appliedAt: 500, healedAt: 1500, settledAt: 20_000, ...f }) as FaultRecord);
    return analyse(lab, { profile: 'lan', seed: 1, faults: faults.length }, faults.length, faults, [{ afterFault: 0, node: 1, ok: true }], undefined, 0, 20_000, 0, 3);
  } finally {
    rmSync(lab.dir, { recursive: true, force: true });
  }
}

// Node 1 holds the VIP until about 2,000, node 2 from `takeover` on, to the end.
const handover = (takeover: number, prev = takeover - 10): Scenario['vip'] => ({
  1: [[0, -10, true], [2000, 1990, false]],
  2: [[takeover, prev, true]],
});

test('VIP on two nodes: counted only where both watchers saw it; a handover within one poll step is not', () => {
  const overlap = judge({ vip: handover(1500) });
  assert.equal(overlap.vipOverlapMs, 490);
  assert.deepEqual(overlap.vipOverlaps.map((o) => o.nodes), [[1, 2]]);
  assert.equal(clean(overlap), false);

  // Node 2's first sample at 1,995 comes after node 1's last sample that saw it (1,990): the
  // first-to-last reports overlap by 5 ms, but no two samples saw both.
  const nearMiss = judge({ vip: handover(1995, 1985) });
  assert.equal(nearMiss.vipOverlapMs, 0);
  assert.equal(nearMiss.possibleOverlapMs, 5);
});

test('dual answers: two nodes within 25 ms of each other fire, a real move does not', () => {
  const vip = handover(2100);
  const dual = judge({ vip, answers: [{ node: 'node-1', t0: 1100, t: 1102 }, { node: 'node-2', t0: 1115, t: 1117 }, { node: 'node-1', t0: 1130, t: 1131 }] });
  assert.equal(dual.dualAnswers.length, 2);
  assert.equal(clean(dual), false);
  const moved = judge({ vip, answers: [{ node: 'node-1', t0: 1100, t: 1102 }, { node: 'node-2', t0: 2300, t: 2302 }] });
  assert.deepEqual(moved.dualAnswers, []);
});

test('leader overlap: a callback that acts after another term began fires; one that stopped before does not', () => {
  const vip = handover(2100);
  const overlap = judge({ vip, leaders: [{ node: 1, epoch: 1, at: 1000, ticks: [1020, 1040, 2600] }, { node: 2, epoch: 2, at: 2500, ticks: [2520] }] });
  assert.equal(overlap.leaderOverlaps.length, 1);
  assert.equal(overlap.leaderOverlaps[0]!.ms, 20);
  const clear = judge({ vip, leaders: [{ node: 1, epoch: 1, at: 1000, ticks: [1020, 1040] }, { node: 2, epoch: 2, at: 2500, ticks: [2520] }] });
  assert.deepEqual(clear.leaderOverlaps, []);
  assert.equal(clean(clear), true);
});

test('VIP gaps: held to the bound; the down time of a kill of every node is excluded', () => {
  const bound = failoverBoundMs('lan', 3);
  const late = 2000 + bound + 500;
  const tooLong = judge({ vip: handover(late) });
  assert.equal(tooLong.gapViolations.length, 1);
  assert.equal(Math.round(tooLong.gapViolations[0]!.ms), bound + 500);
  assert.equal(tooLong.gapViolations[0]!.kind, 'kill-holder');
  // The same gap after a kill-all whose processes were up again only at 11,000.
  const killAll = judge({ vip: handover(late), faults: [{ kind: 'kill-all', appliedAt: 1900, healedAt: 3000, runningAt: 11_000 }] });
  assert.deepEqual(killAll.gapViolations, []);
  assert.equal(Math.round(killAll.longestGap!.ms), late - 11_000);
});

test('the schedule: seeded, every kind in each block of seven', () => {
  assert.deepEqual(planFaults(7, 30, [300, 2500]), planFaults(7, 30, [300, 2500]));
  assert.notDeepEqual(planFaults(7, 30, [300, 2500]), planFaults(8, 30, [300, 2500]));
  const plan = planFaults(7, 14, [300, 2500]);
  for (const block of [plan.slice(0, 7), plan.slice(7, 14)]) assert.deepEqual(block.map((f) => f.kind).sort(), [...FAULT_KINDS].sort());
  assert.ok(plan.every((f) => f.holdMs >= 300 && f.holdMs <= 2500));
});
