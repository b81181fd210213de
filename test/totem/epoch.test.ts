import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTotem, PROFILES, type TotemCore, type TotemMessage } from '../../lib/totem/index.js';
import { runRange, type SeedResult } from '../../lib/sim/runner.js';

const lan = PROFILES.lan;

interface WireJoin {
  kind: number;
  epoch: number;
  edges: number[];
  joined: number[];
}

/** Node 1 of [1, 2, 3], booted alone: after failToRecvMs it gives up on 2 and 3 and rings alone in epoch 1. */
function singletonFromEpochOne(): TotemCore {
  const core = createTotem(
    { nodeId: 1, incarnation: 1, nodes: [1, 2, 3], ringSeq: 0, timers: lan, maxSendQueue: 16, maxMessagesPerToken: 4 },
    0,
  );
  const boot = core.takeOutput().sends.map((s) => s.msg as unknown as WireJoin).find((m) => m.kind === 1);
  assert.equal(boot?.epoch, 1, 'boot episode is epoch 1');
  for (let t = 0; t <= lan.failToRecvMs + 50; t += 10) core.tick(t);
  const s = core.status();
  assert.equal(s.state, 'operational');
  assert.deepEqual(s.view?.members, [1]);
  core.takeOutput();
  return core;
}

/**
 * Regression (sim seed 15086, 7 nodes, crash, lan): two live nodes took turns forming singleton
 * rings forever. Each, once operational, was pulled back into gather by the other's join and
 * re-entered the *same* epoch it had just finished, merging the other's stale sets: `joined`
 * still named crashed incarnations (so the group waited for them until failToRecv gave up on
 * them with edges only the giver-up held, leaving it alone), plus old edges. The epoch never
 * advanced, so the stale sets never cleared. A node must never re-enter an episode it
 * installed a view from.
 */
test('a node pulled into gather by a join of the epoch it already finished starts a newer epoch', () => {
  const core = singletonFromEpochOne();
  const stale: TotemMessage = {
    kind: 1, inc: 1, round: 7, epoch: 1, ver: 3, ringSeq: 1,
    proc: [1, 2, 3], edges: [], left: [], heard: [1], joinedFrom: [], joined: [2, 3],
  } as unknown as TotemMessage;
  core.receive(2, stale, lan.failToRecvMs + 100);
  assert.equal(core.status().state, 'gather', 'a join that would group with us still triggers a merge');
  const joins = core.takeOutput().sends.map((s) => s.msg as unknown as WireJoin).filter((m) => m.kind === 1);
  assert.ok(joins.length > 0);
  for (const j of joins) {
    assert.equal(j.epoch, 2, 'a finished episode is not re-entered');
    assert.ok(!j.joined.includes(3), 'stale joined entries of the old episode are not merged');
  }
  // The peer still gathering in epoch 1 is brought over by our epoch-2 join; its own epoch-1 joins are ignored.
  const before = core.status().counters['dropOldEpochJoin'] ?? 0;
  core.receive(2, { ...(stale as object), ver: 4 } as unknown as TotemMessage, lan.failToRecvMs + 110);
  assert.equal(core.status().counters['dropOldEpochJoin'], before + 1);
});

test('sim seed 15086 (7 nodes, crash, lan): the live nodes end in one view', { timeout: 120_000 }, async () => {
  const failures: string[] = [];
  const results: SeedResult[] = await runRange(
    { seeds: [15086], nodes: [7], faults: ['crash'], profile: 'lan', jobs: 1 },
    (r) => {
      for (const v of r.violations) failures.push(`${v.checker} (${v.kind}): ${v.message}`);
    },
  );
  assert.equal(results.length, 1);
  assert.deepEqual(failures, []);
});
