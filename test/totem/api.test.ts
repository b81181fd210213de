import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTotem, PROFILES, validateTotemConfig, type TotemConfig } from '../../lib/totem/index.js';
import { isSanodeError } from '../../lib/errors/index.js';
import { Net } from './harness.js';

function config(over: Partial<TotemConfig> = {}): TotemConfig {
  return {
    nodeId: 1,
    incarnation: 1,
    nodes: [1, 2, 3],
    ringSeq: 0,
    timers: PROFILES.lan,
    maxSendQueue: 4,
    maxMessagesPerToken: 2,
    ...over,
  };
}

test('createTotem starts gathering at once: the first output holds a join', () => {
  const core = createTotem(config(), 0);
  const out = core.takeOutput();
  assert.equal(core.status().state, 'gather');
  assert.ok(out.sends.some((s) => s.to === 'all' && s.msg.kind === 1));
  assert.ok(core.nextDeadlineMs() !== undefined);
});

test('profiles are valid configurations', () => {
  for (const p of Object.values(PROFILES)) validateTotemConfig(config({ timers: p }));
});

test('validateTotemConfig names the bad field', () => {
  const bad: [Partial<TotemConfig>, string][] = [
    [{ nodeId: 9 }, 'nodeId'],
    [{ nodes: [] }, 'nodes'],
    [{ nodes: [1, 1] }, 'nodes[1]'],
    [{ maxSendQueue: 0 }, 'maxSendQueue'],
    [{ maxMessagesPerToken: 1.5 }, 'maxMessagesPerToken'],
    [{ maxPayloadBytes: 0 }, 'maxPayloadBytes'],
    [{ ringSeq: -1 }, 'ringSeq'],
    [{ timers: { ...PROFILES.lan, tokenRetransmitMs: 300 } }, 'timers.tokenRetransmitMs'],
    [{ timers: { ...PROFILES.lan, consensusMs: 100 } }, 'timers.failToRecvMs'],
  ];
  for (const [over, field] of bad) {
    assert.throws(() => validateTotemConfig(config(over)), (e: unknown) => isSanodeError(e) && e.field === field, field);
  }
});

test('send queue full → {ok:false, reason:"queue-full"}', () => {
  const core = createTotem(config(), 0);
  for (let i = 0; i < 4; i++) assert.equal(core.broadcast(new Uint8Array([i]), 0).ok, true);
  assert.deepEqual(core.broadcast(new Uint8Array([9]), 0), { ok: false, reason: 'queue-full' });
  assert.equal(core.status().sendQueueLength, 4);
});

test('a payload over maxPayloadBytes → {ok:false, reason:"too-large"} and nothing is queued', () => {
  const core = createTotem(config({ maxPayloadBytes: 8 }), 0);
  assert.deepEqual(core.broadcast(new Uint8Array(9), 0), { ok: false, reason: 'too-large', maxPayloadBytes: 8 });
  assert.equal(core.status().sendQueueLength, 0);
  assert.equal(core.broadcast(new Uint8Array(8), 0).ok, true);
  assert.equal(core.status().sendQueueLength, 1);
});

test('malformed, unknown-sender and out-of-context messages are counted, never thrown', () => {
  const core = createTotem(config(), 0);
  const junk: unknown[] = [
    null, 42, 'x', [], {}, { kind: 999 }, { kind: 1 }, { kind: 1, inc: -1 },
    { kind: 8, ringSeq: 1, ringRep: 1, tokenSeq: 1, seq: 0, arus: 'no', rtr: [], busy: 0 },
    { kind: 10, ringSeq: 1, ringRep: 1, seq: 1, sender: 2, inc: 1, msgId: 1, payload: 'not bytes' },
    { kind: 1, inc: 1, round: 1, ver: 1, ringSeq: 0, proc: [77], edges: [], left: [], heard: [], joinedFrom: [] },
    { kind: 4, repInc: 1, repRound: 1, ringSeq: 5, members: [2, 1], infos: [] },
    { kind: 6, oldSeq: 1, oldRep: 1, msgs: [{ seq: 0 }] },
  ];
  for (const m of junk) core.receive(2, m as never, 1);
  assert.equal(core.status().counters.dropMalformed, junk.length);
  core.receive(42, { kind: 12, inc: 1 }, 1);
  assert.equal(core.status().counters.dropUnknownSender, 1);
  // Well-formed but out of context: a token for a ring we are not in.
  core.receive(2, { kind: 8, ringSeq: 7, ringRep: 2, tokenSeq: 3, seq: 0, arus: [0, 0], rtr: [], busy: 0 }, 1);
  core.receive(2, { kind: 7, ringSeq: 7, ringRep: 2 }, 1);
  assert.equal(core.status().counters.ignoreToken, 1);
  assert.equal(core.status().counters.ignoreReady, 1);
});

test('stall: timers that expired while the process was frozen get their remaining time back', () => {
  const core = createTotem(config(), 0);
  core.takeOutput();
  const d = core.nextDeadlineMs()!;
  core.tick(d + 10_000); // frozen for 10 s
  assert.equal(core.status().counters.stallsDetected, 1);
  assert.equal(core.status().state, 'gather');
  assert.equal(core.status().counters.failToRecvEdges, undefined, 'nobody given up on yet');
  for (let i = 0; i < 20 && core.status().state !== 'operational'; i++) core.tick(core.nextDeadlineMs()!);
  assert.equal(core.status().state, 'operational');
  assert.deepEqual(core.status().view?.members, [1]);
});

test('a new ring seq is persisted before it is sent and exceeds the persisted one after restart', () => {
  const net = new Net({ nodes: 3, seed: 21 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  const seq1 = net.view(1)!.id.seq;
  assert.ok(net.nodes.get(1)!.persistedRingSeq >= seq1);
  for (const id of net.ids) net.crash(id);
  for (const id of net.ids) net.start(id);
  net.runUntilTrue(() => net.agreeOn(net.ids), 2000);
  assert.ok(net.view(1)!.id.seq > seq1);
  assert.deepEqual(net.failures, []);
});

// The sans-IO guard for lib/totem and every other core is test/node/purity.test.ts.

test('an operational ring reports every new token it accepts (lease renewals), and never a duplicate', () => {
  const net = new Net({ nodes: 3, seed: 11 });
  net.startAll();
  net.runUntilTrue(() => net.agreeOn([1, 2, 3]), 5000);
  const before = net.tokens(2).acceptedMs.length;
  const startMs = net.nowMs;
  net.run(2000);
  const renewals = net.tokens(2).acceptedMs.filter((t) => t >= startMs);
  // An idle ring still rotates (the representative holds it at most tokenHoldMs per turn).
  assert.ok(renewals.length >= 2000 / (PROFILES.lan.tokenTimeoutMs / 2), `at least one renewal per half token timeout, got ${renewals.length}`);
  const gaps = renewals.slice(1).map((t, i) => t - renewals[i]!);
  assert.ok(Math.max(...gaps) < PROFILES.lan.tokenTimeoutMs, 'no gap in renewals as long as a token timeout');
  assert.ok(net.tokens(2).acceptedMs.length > before);

  const seen = net.tokens(2).received;
  const old = seen[seen.length - 1]!;
  const count = net.tokens(2).acceptedMs.length;
  net.inject(2, old.from, old.msg);
  assert.equal(net.tokens(2).acceptedMs.length, count, 'a replayed token renews nothing');
});
