import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net } from './harness.js';
import { PROFILES } from '../../lib/totem/index.js';

const lan = PROFILES.lan;

function noProblems(net: Net): void {
  assert.deepEqual(net.failures, []);
  assert.deepEqual(net.checkOrderAndSynchrony(), []);
}

test('3 nodes form one view with all three', () => {
  const net = new Net({ nodes: 3, seed: 1 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn([1, 2, 3]), 2000);
  assert.deepEqual(net.view(2)?.members, [1, 2, 3]);
  noProblems(net);
});

test('32 nodes form one view and stay stable for 60 s with no spurious view change', () => {
  const net = new Net({ nodes: 32, seed: 2, delayMinMs: 0.5, delayMaxMs: 3 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 3000);
  const views = net.ids.map((id) => net.viewCount(id));
  net.run(60_000);
  assert.deepEqual(net.ids.map((id) => net.viewCount(id)), views, 'no view change at rest');
  for (const id of net.ids) assert.equal(net.core(id).status().counters.tokenTimeouts ?? 0, 0);
  noProblems(net);
});

test('crash of one node: survivors install a view without it within the bound; restarted, it rejoins with growing view ids', () => {
  const net = new Net({ nodes: 5, seed: 3 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  net.run(1000);
  net.crash(5);
  // Bound: token loss (timeout for 5 members) + silent node given up after failToRecvMs + a few
  // round trips for commit and recovery (generous 100 ms here).
  const boundMs = lan.tokenTimeoutMs + 3 * (lan.tokenPerMemberMs ?? 0) + lan.failToRecvMs + 100;
  const took = net.runUntilTrue(() => net.agreeOn([1, 2, 3, 4]), boundMs + 50, 1);
  assert.ok(took <= boundMs, `failover took ${took} ms > ${boundMs} ms`);
  net.run(500);
  const before = net.view(1)!.id;
  net.start(5);
  net.runUntilTrue(() => net.agreeOn(net.ids), 4 * lan.mergeDetectMs + lan.consensusMs);
  const after = net.view(5)!.id;
  assert.ok(after.seq > before.seq, 'the merged view has a larger seq');
  // Node 5's view ids grew across its restart (checked by the harness on every install).
  noProblems(net);
});

test('a node that restarts before anyone noticed is taken back at once', () => {
  const net = new Net({ nodes: 4, seed: 4 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  net.crash(3);
  net.run(20);
  net.start(3);
  net.runUntilTrue(() => net.agreeOn(net.ids), lan.tokenTimeoutMs + lan.consensusMs);
  assert.equal(net.core(3).status().incarnation, 2);
  noProblems(net);
});

test('partition 2|1 then heal: each side forms its own view, then they merge; in-flight messages keep virtual synchrony', () => {
  const net = new Net({ nodes: 3, seed: 5, delayMinMs: 1, delayMaxMs: 4 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  for (let i = 0; i < 20; i++) for (const id of net.ids) net.broadcast(id, `before-${id}-${i}`);
  net.run(3); // messages are in flight at the cut
  net.partition([1, 2], [3]);
  for (let i = 0; i < 10; i++) for (const id of net.ids) net.broadcast(id, `during-${id}-${i}`);
  net.runUntilTrue(() => net.agreeOn([1, 2]) && net.agreeOn([3]), 3000);
  net.run(2000);
  assert.ok(net.agreeOn([1, 2]) && net.agreeOn([3]), 'sides stay apart while cut');
  net.heal();
  net.runUntilTrue(() => net.agreeOn(net.ids), 4 * lan.mergeDetectMs + 2 * lan.consensusMs);
  net.run(1000);
  // Self-delivery: every node delivered everything it broadcast.
  for (const id of net.ids) {
    const mine = [...net.broadcasts].filter((k) => k.startsWith(`${id}.`));
    const got = new Set(net.deliveredKeys(id));
    for (const k of mine) assert.ok(got.has(k), `n${id} never delivered its own ${k}`);
  }
  // 1 and 2 moved together: identical deliveries.
  assert.deepEqual(net.deliveredKeys(1), net.deliveredKeys(2));
  noProblems(net);
});

test('one-way link (1→2 dropped, 2→1 fine): membership settles with 1 and 2 in different rings, no flapping', () => {
  const net = new Net({ nodes: 3, seed: 6 });
  net.block(1, 2);
  net.startAll();
  net.run(5000);
  const views = net.ids.map((id) => net.viewCount(id));
  net.run(20_000);
  assert.deepEqual(net.ids.map((id) => net.viewCount(id)), views, 'no view change once settled');
  const v1 = net.view(1)!;
  const v2 = net.view(2)!;
  assert.ok(!(v1.members.includes(2) && v2.members.includes(1)), 'nodes 1 and 2 never share a ring');
  assert.ok(net.agreeOn([1, 3]) && net.agreeOn([2]), `expected {1,3} and {2}, got ${v1.members} / ${v2.members}`);
  // Healing the link merges everything.
  net.heal();
  net.runUntilTrue(() => net.agreeOn(net.ids), 4 * lan.mergeDetectMs + 2 * lan.consensusMs);
  noProblems(net);
});

test('one-way link appearing in a running ring: the ring splits once and settles', () => {
  const net = new Net({ nodes: 4, seed: 7 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  net.block(2, 3);
  net.run(5000);
  const views = net.ids.map((id) => net.viewCount(id));
  net.run(20_000);
  assert.deepEqual(net.ids.map((id) => net.viewCount(id)), views, 'no view change once settled');
  assert.ok(!(net.view(2)!.members.includes(3)), 'nodes 2 and 3 do not share a ring');
  noProblems(net);
});

test('leave(): the others install the new view in much less than the token timeout', () => {
  const net = new Net({ nodes: 4, seed: 8 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  net.run(500);
  net.leave(4);
  assert.equal(net.core(4).status().state, 'left');
  assert.deepEqual(net.core(4).broadcast(new Uint8Array([1]), net.nowMs), { ok: false, reason: 'left' });
  const took = net.runUntilTrue(() => net.agreeOn([1, 2, 3]), lan.tokenTimeoutMs, 1);
  assert.ok(took < lan.tokenTimeoutMs / 4, `leave took ${took} ms`);
  net.run(3000);
  assert.ok(net.agreeOn([1, 2, 3]), 'the leaver is not merged back');
  noProblems(net);
});

test('pauses: a short pause changes nothing; after a long one the node rejoins', () => {
  const net = new Net({ nodes: 3, seed: 9 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  net.run(1000);
  const views = net.ids.map((id) => net.viewCount(id));
  // Shorter than the token timeout for the others, longer than the paused node's own timers.
  net.pause(2, 250);
  net.run(3000);
  assert.deepEqual(net.ids.map((id) => net.viewCount(id)), views);
  // A long pause: the others move on, the paused node rejoins afterwards.
  net.pause(2, 3000);
  net.run(1500);
  assert.ok(net.agreeOn([1, 3]));
  net.runUntilTrue(() => net.agreeOn(net.ids), 3000 + 4 * lan.mergeDetectMs + 2 * lan.consensusMs);
  noProblems(net);
});
