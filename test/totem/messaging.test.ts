import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net } from './harness.js';
import { PROFILES } from '../../lib/totem/index.js';

const lan = PROFILES.lan;

function noProblems(net: Net): void {
  assert.deepEqual(net.failures, []);
  assert.deepEqual(net.checkOrderAndSynchrony(), []);
}

function selfDelivered(net: Net, id: number): void {
  const got = new Set(net.deliveredKeys(id));
  for (const k of net.broadcasts) if (k.startsWith(`${id}.`)) assert.ok(got.has(k), `n${id} never delivered its own ${k}`);
}

test('concurrent broadcasts from all nodes: identical delivery sequences everywhere', () => {
  const net = new Net({ nodes: 5, seed: 11, delayMinMs: 0.2, delayMaxMs: 5 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  for (let round = 0; round < 40; round++) {
    for (const id of net.ids) net.broadcast(id, `r${round}-n${id}`);
    net.run(1 + (round % 3));
  }
  net.run(2000);
  const first = net.deliveredKeys(1);
  assert.equal(first.length, 200);
  for (const id of net.ids) assert.deepEqual(net.deliveredKeys(id), first);
  noProblems(net);
});

test('with 20% loss, duplication and reordering, all messages are delivered in the same order', () => {
  const net = new Net({ nodes: 4, seed: 12, loss: 0.2, dup: 0.05, delayMinMs: 0.2, delayMaxMs: 8 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 5000);
  for (let round = 0; round < 50; round++) {
    for (const id of net.ids) net.broadcast(id, `r${round}-n${id}`);
    net.run(3);
  }
  net.run(5000);
  for (const id of net.ids) selfDelivered(net, id);
  const first = net.deliveredKeys(1);
  assert.equal(first.length, 200);
  for (const id of net.ids) assert.deepEqual(net.deliveredKeys(id), first);
  noProblems(net);
});

test('maxBytesPerToken: a visit sends at most its bytes (one message at least), and every message still arrives in one order', () => {
  const net = new Net({ nodes: 3, seed: 14, loss: 0.05, maxMessagesPerToken: 16, maxBytesPerToken: 100 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  const tokensBefore = net.tokens(1).acceptedMs.length;
  // 60 bytes each: a second message would take a visit over 100 bytes, so one per visit.
  for (let i = 0; i < 40; i++) net.broadcast(1, `m${String(i).padStart(2, '0')}`.padEnd(60, '.'));
  net.runUntilTrue(() => net.ids.every((id) => net.deliveredKeys(id).length >= 40), 20_000);
  for (const id of net.ids) selfDelivered(net, id);
  assert.deepEqual(net.deliveredKeys(2), net.deliveredKeys(1));
  assert.deepEqual(net.deliveredKeys(3), net.deliveredKeys(1));
  assert.ok(net.tokens(1).acceptedMs.length - tokensBefore >= 40, 'node 1 needed a token visit per message');
  noProblems(net);
});

test('messages queued across a view change are carried into the next view, not dropped', () => {
  const net = new Net({ nodes: 4, seed: 13 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  net.crash(4);
  net.run(lan.tokenTimeoutMs + 10); // the survivors are gathering now
  for (let i = 0; i < 30; i++) for (const id of [1, 2, 3]) net.broadcast(id, `queued-${id}-${i}`);
  net.runUntilTrue(() => net.agreeOn([1, 2, 3]), 2000);
  net.run(1000);
  for (const id of [1, 2, 3]) selfDelivered(net, id);
  assert.deepEqual(net.deliveredKeys(2), net.deliveredKeys(1));
  assert.deepEqual(net.deliveredKeys(3), net.deliveredKeys(1));
  noProblems(net);
});

test('many seeds: partitions, crashes and loss never break the guarantees, and the cluster converges afterwards', () => {
  for (let seed = 100; seed < 112; seed++) {
    const net = new Net({ nodes: 5, seed, loss: 0.05, delayMinMs: 0.2, delayMaxMs: 6 });
    net.startAll();
    net.run(500);
    let k = 0;
    const chatter = (ms: number): void => {
      for (let t = 0; t < ms; t += 20) {
        for (const id of net.ids) if (net.nodes.get(id)!.core !== undefined && net.core(id).status().state !== 'left') {
          if ((seed + t + id) % 3 === 0) net.broadcast(id, `s${seed}-${k++}`);
        }
        net.run(20);
      }
    };
    chatter(500);
    net.partition([1, 2, 3], [4, 5]);
    chatter(1500);
    net.crash(2);
    chatter(800);
    net.heal();
    net.start(2);
    chatter(1500);
    net.block(5, 1);
    chatter(1500);
    net.heal();
    net.loss = 0;
    net.runUntilTrue(() => net.agreeOn(net.ids), 10 * lan.tokenTimeoutMs + 5 * lan.consensusMs + 2 * lan.mergeDetectMs);
    net.run(2000);
    for (const id of [1, 3, 4, 5]) selfDelivered(net, id);
    assert.deepEqual(net.failures, [], `seed ${seed}`);
    assert.deepEqual(net.checkOrderAndSynchrony(), [], `seed ${seed}`);
  }
});

test('the safe mark: reported only once every member has delivered up to it, and it reaches every message', () => {
  // The harness fails the run if any mark is reported before every member delivered that far.
  const net = new Net({ nodes: 4, seed: 15, loss: 0.1, dup: 0.05, delayMinMs: 0.2, delayMaxMs: 6 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 5000);
  const views = net.ids.map((id) => net.viewCount(id));
  for (let round = 0; round < 30; round++) {
    for (const id of net.ids) net.broadcast(id, `r${round}-n${id}`);
    net.run(2);
  }
  net.run(3000);
  noProblems(net);
  assert.deepEqual(net.ids.map((id) => net.viewCount(id)), views, 'one ring throughout, so its seqs count every message');
  const view = net.view(1)!;
  const key = `${view.id.seq}/${view.id.rep}`;
  for (const id of net.ids) {
    const marks = net.safeMarks(id).filter((m) => m.view === key);
    assert.ok(marks.length > 1, `n${id} reported the mark as it grew`);
    assert.equal(marks[marks.length - 1]!.seq, 120, `n${id}: all 120 messages of the ring became safe`);
  }
});

test('the safe mark: a ring of one is safe as it delivers', () => {
  const net = new Net({ nodes: 1, seed: 16 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  for (let i = 0; i < 3; i++) net.broadcast(1, `m${i}`);
  net.run(10);
  noProblems(net);
  assert.deepEqual(net.safeMarks(1).map((m) => m.seq), [1, 2, 3]);
});
