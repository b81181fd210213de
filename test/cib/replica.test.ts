import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyCib, type Cib, type CibConfig, type PrimitiveConfig } from '../../lib/cib/model.js';
import { CibReplica, digestOf, type CibChange, type CibMessage, type CibOutcome, type CibVersion } from '../../lib/cib/replica.js';
import { CibError } from '../../lib/cib/validate.js';
import { Prng } from '../../lib/sim/prng.js';
import type { View } from '../../lib/totem/types.js';

/**
 * A small stand-in for totem: each partition is one view with one agreed-order queue; a message
 * goes to the tail of its sender's partition queue and is delivered to every member of that
 * partition in queue order. Messages not yet delivered when the views change stay with their
 * sender and go to the tail of its next partition's queue, as totem keeps unordered messages in
 * the send queue across views. Like the node driver, a proposer told to retry (the view changed
 * before its change was ordered) proposes the change again once its copy is the group's; the
 * outcome is reported under the first request id.
 */
class Group {
  readonly replicas = new Map<number, CibReplica>();
  /** What each node persisted last: its "disk". */
  readonly disks = new Map<number, Cib>();
  readonly outcomes = new Map<string, CibOutcome>();
  /** Which nodes applied each request: a request its proposer saw rejected must be in none. */
  readonly appliedBy = new Map<string, Set<number>>();
  private partitions: { view: View; queue: { from: number; message: CibMessage }[] }[] = [];
  /** Every proposed change, by request id, and the first request id of each re-proposal. */
  private readonly changes = new Map<string, CibChange>();
  private readonly firstIdOf = new Map<string, string>();
  private readonly retries = new Map<number, string[]>();
  /** How many times a change was proposed again after a view change overtook it. */
  retried = 0;
  private seq = 0;
  private sessions = 0;

  constructor(ids: number[], config: CibConfig) {
    for (const id of ids) this.disks.set(id, emptyCib(config));
    for (const id of ids) this.boot(id);
  }

  /** Starts (or restarts) a node from its disk; it is in no view until `install`. */
  boot(id: number, from?: Cib): void {
    this.replicas.set(id, new CibReplica({ nodeId: id, session: ++this.sessions, initial: from ?? this.disks.get(id)! }));
  }

  crash(id: number): void {
    // Its unsent messages die with it; the others notice only at the next view.
    this.replicas.delete(id);
    for (const p of this.partitions) p.queue = p.queue.filter((q) => q.from !== id);
  }

  /** Installs one view per group; members of no group are crashed. */
  install(...groups: number[][]): void {
    const carried = this.partitions.flatMap((p) => p.queue);
    this.partitions = groups.map((members) => {
      const sorted = [...members].sort((a, b) => a - b);
      return { view: { id: { seq: ++this.seq, rep: sorted[0]! }, members: sorted }, queue: [] };
    });
    for (const q of carried) this.partitionOf(q.from)?.queue.push(q);
    for (const p of this.partitions) {
      for (const id of p.view.members) {
        this.replicas.get(id)!.onView(p.view);
        this.collect(id);
      }
    }
  }

  propose(id: number, change: CibChange): string {
    const { requestId, message } = this.replicas.get(id)!.propose(change);
    this.changes.set(requestId, change);
    this.partitionOf(id)!.queue.push({ from: id, message: structuredClone(message) });
    return requestId;
  }

  /** Delivers up to `limit` messages (each to every member of its partition); returns how many. */
  deliver(limit = 10_000): number {
    let delivered = 0;
    while (delivered < limit) {
      const p = this.partitions.find((x) => x.queue.length > 0);
      if (p === undefined) break;
      const { from, message } = p.queue.shift()!;
      for (const id of p.view.members) {
        if (!this.replicas.has(id)) continue; // crashed since the view was installed
        // Each member decodes its own copy, as it would from the wire.
        this.replicas.get(id)!.onDeliver(from, structuredClone(message));
        this.collect(id);
      }
      delivered++;
    }
    return delivered;
  }

  queued(): number {
    return this.partitions.reduce((n, p) => n + p.queue.length, 0);
  }

  cib(id: number): Cib {
    return this.replicas.get(id)!.current;
  }

  version(id: number): CibVersion {
    return this.replicas.get(id)!.version;
  }

  private partitionOf(id: number): Group['partitions'][number] | undefined {
    return this.partitions.find((p) => p.view.members.includes(id));
  }

  private collect(id: number): void {
    const replica = this.replicas.get(id)!;
    const out = replica.takeOutput();
    if (out.persist !== undefined) this.disks.set(id, out.persist);
    for (const o of out.outcomes) {
      const first = this.firstIdOf.get(o.requestId) ?? o.requestId;
      if (!o.ok && o.retry === true) {
        this.retries.set(id, [...(this.retries.get(id) ?? []), o.requestId]);
        continue;
      }
      this.outcomes.set(first, { ...o, requestId: first });
    }
    for (const c of out.changed) {
      if (c.requestId === undefined) continue;
      const first = this.firstIdOf.get(c.requestId) ?? c.requestId;
      const set = this.appliedBy.get(first) ?? new Set<number>();
      set.add(id);
      this.appliedBy.set(first, set);
    }
    for (const message of out.sends) this.partitionOf(id)!.queue.push({ from: id, message: structuredClone(message) });
    const waiting = this.retries.get(id);
    if (waiting !== undefined && replica.synced && this.partitionOf(id) !== undefined) {
      this.retries.delete(id);
      for (const old of waiting) {
        const first = this.firstIdOf.get(old) ?? old;
        this.retried++;
        let again: string;
        try {
          again = this.propose(id, this.changes.get(old)!);
        } catch (error) {
          this.outcomes.set(first, { requestId: first, ok: false, error: error as CibError });
          continue;
        }
        this.firstIdOf.set(again, first);
      }
    }
  }
}

const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;
const primitive = (id: string): PrimitiveConfig => ({ kind: 'primitive', id, agent });

function nodesConfig(n = 3): CibConfig {
  return { nodes: Array.from({ length: n }, (_, i) => ({ id: String(i + 1), name: `n${i + 1}` })), resources: [] };
}

function assertIdentical(g: Group, ids: number[]): void {
  const first = g.cib(ids[0]!);
  for (const id of ids.slice(1)) {
    assert.deepEqual(g.version(id), g.version(ids[0]!), `node ${id} has the version of node ${ids[0]}`);
    assert.equal(digestOf(g.cib(id)), digestOf(first), `node ${id} has the contents of node ${ids[0]}`);
    assert.deepEqual(g.cib(id), first);
  }
}

function rejectedWith(fn: () => unknown, pattern: RegExp): CibError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CibError, String(error));
    assert.equal(error.code, 'SANODE_INVALID_CIB');
    assert.match(error.message, pattern);
    return error;
  }
  assert.fail('expected a CibError');
}

describe('CIB replica', () => {
  it('three replicas that deliver the same changes in the same order end identical, with the same version', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.deliver();
    const ids = [
      g.propose(1, { op: 'set-resource', resource: primitive('ip') }),
      g.propose(2, { op: 'set-resource', resource: primitive('web') }),
    ];
    // A proposal is checked against the applied copy, so what depends on them waits for them.
    g.deliver();
    ids.push(
      g.propose(3, { op: 'set-constraint', constraint: { kind: 'order', id: 'ip-then-web', first: 'ip', then: 'web' } }),
      g.propose(1, { op: 'set-property', name: 'stonithEnabled', value: false }),
      g.propose(2, { op: 'record-op', node: 'n2', resource: 'ip', record: { op: 'start', intervalMs: 0, rc: 0, timeMs: 1000, callId: 1 } }),
      g.propose(3, { op: 'set-fail-count', node: 'n3', resource: 'web', failCount: 2, lastFailureMs: 2000 }),
    );
    g.deliver();
    for (const id of ids) assert.equal(g.outcomes.get(id)?.ok, true, `request ${id} applied`);
    assertIdentical(g, [1, 2, 3]);
    // Four configuration changes; then two status changes counted since the last of them.
    assert.deepEqual(g.version(1), { adminEpoch: 0, epoch: 4, numUpdates: 2 });
    assert.deepEqual(g.disks.get(3), g.cib(3), 'every node persisted what it applied');
  });

  it('an invalid change is refused at propose() with a typed error naming the problem, and nothing is sent', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.deliver();
    g.propose(1, { op: 'set-resource', resource: primitive('a') });
    g.propose(1, { op: 'set-resource', resource: primitive('b') });
    g.deliver();
    g.propose(1, { op: 'set-constraint', constraint: { kind: 'order', id: 'a-then-b', first: 'a', then: 'b' } });
    g.deliver();
    const before = g.version(1);
    const r = g.replicas.get(2)!;
    const unknown = rejectedWith(() => r.propose({ op: 'set-constraint', constraint: { kind: 'colocation', id: 'c1', rsc: 'a', withRsc: 'nope', score: 100 } }), /unknown resource "nope"/);
    assert.equal(unknown.objectId, 'c1');
    rejectedWith(() => r.propose({ op: 'set-constraint', constraint: { kind: 'order', id: 'b-then-a', first: 'b', then: 'a' } }), /mandatory orders form a cycle/);
    rejectedWith(() => r.propose({ op: 'set-constraint', constraint: { kind: 'location', id: 'a', rsc: 'b', node: 'n1', score: 5 } }), /duplicate id/);
    rejectedWith(() => r.propose({ op: 'remove-resource', id: 'a' }), /unknown resource "a"/);
    rejectedWith(() => r.propose({ op: 'set-standby', node: 'n9', standby: true }), /unknown node/);
    rejectedWith(() => r.propose({ op: 'record-op', node: 'n1', resource: 'a', record: { op: 'start', intervalMs: 0, rc: 999, timeMs: 1, callId: 1 } }), /OCF exit code/);
    rejectedWith(() => r.propose({ op: 'frobnicate' } as unknown as CibChange), /unknown change "frobnicate"/);
    assert.equal(g.queued(), 0, 'nothing was sent');
    assert.deepEqual(r.takeOutput().sends, []);
    assert.deepEqual(g.version(2), before, 'nothing was applied');
    assertIdentical(g, [1, 2, 3]);
  });

  it('a change made invalid by a concurrent one is rejected identically on every node, and only its proposer gets the error', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.propose(1, { op: 'set-resource', resource: primitive('db') });
    g.deliver();
    // Both are valid where they are proposed; the order decides that the removal comes first.
    const removal = g.propose(1, { op: 'remove-resource', id: 'db' });
    const dependent = g.propose(3, { op: 'set-constraint', constraint: { kind: 'location', id: 'db-on-n3', rsc: 'db', node: 'n3', score: 100 } });
    g.deliver();
    assert.equal(g.outcomes.get(removal)?.ok, true);
    const outcome = g.outcomes.get(dependent);
    assert.ok(outcome !== undefined && !outcome.ok, 'the dependent change is rejected');
    assert.equal(outcome.error.code, 'SANODE_INVALID_CIB');
    assert.match(outcome.error.message, /unknown resource "db"/);
    assertIdentical(g, [1, 2, 3]);
    assert.deepEqual(g.version(2), { adminEpoch: 0, epoch: 2, numUpdates: 0 }, 'the rejected change bumped nothing anywhere');
  });

  it('a joiner with an empty CIB catches up by state transfer', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2]);
    g.deliver();
    g.propose(1, { op: 'set-resource', resource: primitive('ip') });
    g.propose(2, { op: 'set-node-attribute', node: 'n3', name: 'rack', value: 'r2' });
    g.deliver();
    assert.deepEqual(g.version(3), { adminEpoch: 0, epoch: 0, numUpdates: 0 });
    g.install([1, 2, 3]);
    g.deliver();
    assertIdentical(g, [1, 2, 3]);
    assert.deepEqual(g.version(3), { adminEpoch: 0, epoch: 2, numUpdates: 0 });
    assert.deepEqual(g.disks.get(3), g.cib(1), 'the joiner persisted the copy it adopted');
  });

  it('after a partition heals the newest version wins on every node when both copies were written in one ring', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.propose(1, { op: 'set-resource', resource: primitive('first') });
    g.deliver();
    // Node 3 stops before the ring's second change reaches it: its copy is a shorter prefix.
    g.crash(3);
    g.propose(2, { op: 'set-resource', resource: primitive('second') });
    g.deliver();
    g.boot(3);
    assert.equal(g.cib(3).lastWriteRing, g.cib(1).lastWriteRing, 'both copies were last written in one ring');
    g.install([1, 2, 3]);
    g.deliver();
    assertIdentical(g, [1, 2, 3]);
    assert.deepEqual(g.cib(3).config.resources.map((r) => r.id), ['first', 'second']);
  });

  it('the copy written in the newest ring wins over a higher version from an older ring', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.deliver();
    // The seeds' shape (simulator seed 5646): node 3 wrote twice in its ring, then was cut off;
    // nodes 1 and 2 formed a newer ring and wrote once there. Theirs is the later history.
    g.install([3]);
    g.propose(3, { op: 'set-resource', resource: primitive('old-ring-a') });
    g.propose(3, { op: 'set-resource', resource: primitive('old-ring-b') });
    g.deliver();
    g.install([1, 2]);
    g.propose(1, { op: 'set-resource', resource: primitive('new-ring') });
    g.deliver();
    assert.ok(g.version(3).epoch > g.version(1).epoch, 'the older ring reached the higher version');
    assert.ok((g.cib(1).lastWriteRing ?? 0) > (g.cib(3).lastWriteRing ?? 0));
    g.install([1, 2, 3]);
    g.deliver();
    assertIdentical(g, [1, 2, 3]);
    assert.deepEqual(g.cib(3).config.resources.map((r) => r.id), ['new-ring']);
    assert.equal(g.cib(3).lastWriteRing, g.cib(1).lastWriteRing, 'the adopted copy keeps the ring it was written in');
  });

  it('two partitions that reach the same version with different contents converge on the copy of the newer ring', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1], [2, 3]);
    g.propose(1, { op: 'set-resource', resource: primitive('from-1') });
    g.propose(3, { op: 'set-resource', resource: primitive('from-3') });
    g.deliver();
    assert.deepEqual(g.version(1), g.version(3));
    g.install([1, 2, 3]);
    g.deliver();
    assertIdentical(g, [1, 2, 3]);
    // install() numbers the rings in the order given: [2, 3]'s is the newer one.
    assert.deepEqual(g.cib(2).config.resources.map((r) => r.id), ['from-3']);
  });

  it('an admin_epoch bump makes its configuration win over one with more config changes', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2], [3]);
    for (let i = 0; i < 5; i++) g.propose(1, { op: 'set-resource', resource: primitive(`busy-${i}`) });
    g.propose(3, { op: 'bump-admin-epoch' });
    g.propose(3, { op: 'set-resource', resource: primitive('chosen') });
    g.deliver();
    assert.deepEqual(g.version(3), { adminEpoch: 1, epoch: 1, numUpdates: 0 });
    g.install([1, 2, 3]);
    g.deliver();
    assertIdentical(g, [1, 2, 3]);
    assert.deepEqual(g.cib(1).config.resources.map((r) => r.id), ['chosen']);
  });

  it('changes delivered during the state exchange are held and applied after it, in delivery order, on top of the adopted copy', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2], [3]);
    g.propose(1, { op: 'set-resource', resource: primitive('ip') });
    g.deliver();
    g.install([1, 2, 3]);
    // Both changes are queued behind the announcements. Node 2's depends on 'ip', which node 3's
    // stale copy lacks: node 3 must apply it on top of the copy the exchange adopts.
    const a = g.propose(3, { op: 'set-node-attribute', node: 'n1', name: 'zone', value: 'a' });
    const b = g.propose(2, { op: 'set-constraint', constraint: { kind: 'location', id: 'pin', rsc: 'ip', node: 'n1', score: 10 } });
    assert.equal(g.replicas.get(2)!.synced, false, 'the exchange is pending');
    g.deliver();
    assert.equal(g.outcomes.get(a)?.ok, true);
    assert.equal(g.outcomes.get(b)?.ok, true);
    assertIdentical(g, [1, 2, 3]);
    assert.deepEqual(g.version(3), { adminEpoch: 0, epoch: 3, numUpdates: 0 }, 'the adopted 0.1.0, then the two held changes');
    assert.deepEqual(g.cib(3).config.nodes[0]!.attributes, { zone: 'a' });
  });

  it('held changes of an exchange cut short by another view are dropped everywhere, proposed again by their proposer, and applied exactly once', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.deliver();
    g.propose(1, { op: 'set-resource', resource: primitive('x') });
    g.deliver();
    g.install([1, 2, 3]); // a new view: three announcements queued
    const req = g.propose(2, { op: 'set-resource', resource: primitive('y') });
    g.deliver(2); // two announcements; the exchange is still pending
    g.crash(3); // ...and node 3's announcement is lost with it
    g.deliver(); // the change is delivered and held by 1 and 2
    assert.equal(g.outcomes.get(req), undefined, 'held, not decided');
    assert.equal(g.version(1).epoch, 1);
    g.install([1, 2]);
    g.deliver();
    assert.equal(g.outcomes.get(req)?.ok, true, 'the proposer proposed it again and it was applied');
    assert.equal(g.retried, 1);
    assertIdentical(g, [1, 2]);
    assert.deepEqual(g.cib(1).config.resources.map((r) => r.id), ['x', 'y']);
    assert.equal(g.version(1).epoch, 2, 'applied once');
  });

  it("a stale node's proposal is judged against the synced copy, even when the exchange it was held for is cut short", () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.propose(1, { op: 'set-resource', resource: primitive('x') });
    g.deliver();
    g.install([1, 2], [3]);
    g.propose(1, { op: 'remove-resource', id: 'x' });
    g.deliver();
    // Valid on node 3's stale copy, which still has x; invalid on the copy the group agrees on.
    const req = g.propose(3, { op: 'set-constraint', constraint: { kind: 'location', id: 'x-here', rsc: 'x', node: 'n3', score: 1 } });
    g.install([1, 2, 3]); // the change, not yet ordered, is carried ahead of the announcements
    g.deliver(1); // ...and delivered first: every member holds it
    assert.equal(g.outcomes.get(req), undefined);
    g.install([1, 2, 3]);
    g.deliver();
    const outcome = g.outcomes.get(req);
    assert.ok(outcome !== undefined && !outcome.ok, 'rejected');
    assert.match(outcome.error.message, /unknown resource "x"/);
    assert.equal(g.appliedBy.get(req), undefined, 'and applied nowhere');
    assertIdentical(g, [1, 2, 3]);
  });

  it('a change proposed in one view and delivered in the next is applied nowhere and its proposer is told to retry', () => {
    // Quorum is checked when a change is proposed; a change still queued when the ring breaks is
    // ordered in the next view, which may be a minority whose copy must not move ahead.
    const view = (seq: number, members: number[]): View => ({ id: { seq, rep: members[0]! }, members });
    const a = new CibReplica({ nodeId: 1, session: 1, initial: emptyCib(nodesConfig()) });
    const b = new CibReplica({ nodeId: 2, session: 1, initial: emptyCib(nodesConfig()) });
    for (const r of [a, b]) r.onView(view(1, [1]));
    const { requestId, message } = a.propose({ op: 'set-resource', resource: primitive('late') });
    for (const r of [a, b]) {
      r.takeOutput();
      r.onView(view(2, [1]));
      r.takeOutput();
      r.onDeliver(1, structuredClone(message));
    }
    const outA = a.takeOutput();
    assert.deepEqual(outA.outcomes.map((o) => [o.requestId, o.ok, !o.ok && o.retry === true]), [[requestId, false, true]]);
    assert.equal(outA.persist, undefined, 'nothing to persist: nothing applied');
    assert.equal(a.version.epoch, 0);
    assert.equal(b.takeOutput().changed.length, 0);
    assert.equal(b.version.epoch, 0);
    assert.equal(a.ignored, 1);
  });

  it('status changes bump num_updates only; an op record replaces the same op and interval; fail counts set and clear', () => {
    const g = new Group([1, 2], nodesConfig(2));
    g.install([1, 2]);
    g.propose(1, { op: 'set-resource', resource: primitive('svc') });
    g.deliver();
    const record = (op: 'start' | 'stop' | 'monitor', intervalMs: number, callId: number, rc = 0): CibChange => ({
      op: 'record-op',
      node: 'n1',
      resource: 'svc',
      record: { op, intervalMs, rc, timeMs: callId * 1000, callId },
    });
    g.propose(2, record('start', 0, 1));
    g.propose(2, record('monitor', 10_000, 2));
    g.propose(2, record('monitor', 10_000, 3, 7));
    g.propose(2, { op: 'set-fail-count', node: 'n1', resource: 'svc', failCount: 1, lastFailureMs: 3000 });
    g.propose(2, record('stop', 0, 4));
    g.propose(2, record('start', 0, 5));
    g.deliver();
    assert.deepEqual(g.version(1), { adminEpoch: 0, epoch: 1, numUpdates: 6 });
    const rs = g.cib(1).status.nodes['n1']!.resources!['svc']!;
    assert.deepEqual(rs.ops.map((o) => `${o.op}/${o.intervalMs}#${o.callId}`), ['monitor/10000#3', 'stop/0#4', 'start/0#5']);
    assert.equal(rs.failCount, 1);
    g.propose(1, { op: 'clear-fail-count', node: 'n1', resource: 'svc' });
    g.propose(1, { op: 'set-node-state', node: 'n2', state: 'offline' });
    g.propose(1, { op: 'set-standby', node: 'n2', standby: true });
    g.deliver();
    assert.equal(g.cib(2).status.nodes['n1']!.resources!['svc']!.failCount, undefined);
    assert.equal(g.cib(2).status.nodes['n2']!.state, 'offline');
    assert.deepEqual(g.version(2), { adminEpoch: 0, epoch: 2, numUpdates: 0 }, 'a config change resets num_updates');
    // Removing the resource drops its status too, so the CIB stays loadable.
    g.propose(2, { op: 'remove-resource', id: 'svc' });
    g.deliver();
    assert.deepEqual(g.cib(1).status.nodes['n1']!.resources, {});
    assertIdentical(g, [1, 2]);
  });

  it('a restarted node starts from its persisted copy and a stale one loses the exchange', () => {
    const g = new Group([1, 2, 3], nodesConfig());
    g.install([1, 2, 3]);
    g.propose(1, { op: 'set-resource', resource: primitive('a') });
    g.deliver();
    g.crash(3);
    g.install([1, 2]);
    g.propose(2, { op: 'set-resource', resource: primitive('b') });
    g.deliver();
    g.boot(3);
    assert.deepEqual(g.version(3), { adminEpoch: 0, epoch: 1, numUpdates: 0 }, 'its disk had the first change');
    g.install([1, 2, 3]);
    g.deliver();
    assertIdentical(g, [1, 2, 3]);
    assert.deepEqual(g.version(3).epoch, 2);
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) {
    it(`seed ${seed}: random proposals, partial deliveries, partitions and restarts; identical copies in every settled view`, () => {
      const prng = new Prng(seed);
      const ids = [1, 2, 3, 4];
      const g = new Group(ids, nodesConfig(4));
      g.install(ids);
      const resources = ['r1', 'r2', 'r3', 'r4'];
      let alive = [...ids];
      for (let step = 0; step < 120; step++) {
        const roll = prng.float();
        if (roll < 0.5 && alive.length > 0) {
          const id = prng.pick(alive);
          const rsc = prng.pick(resources);
          const choices: CibChange[] = [
            { op: 'set-resource', resource: primitive(rsc) },
            { op: 'remove-resource', id: rsc },
            { op: 'set-constraint', constraint: { kind: 'order', id: `o-${rsc}`, first: rsc, then: prng.pick(resources) } },
            { op: 'remove-constraint', id: `o-${rsc}` },
            { op: 'set-fail-count', node: `n${id}`, resource: rsc, failCount: prng.int(0, 5) },
            { op: 'bump-admin-epoch' },
          ];
          const change = prng.chance(0.05) ? choices[5]! : prng.pick(choices.slice(0, 5));
          try {
            g.propose(id, change);
          } catch (error) {
            assert.ok(error instanceof CibError, String(error));
          }
        } else if (roll < 0.8) {
          g.deliver(prng.int(1, 4));
        } else if (roll < 0.92) {
          const shuffled = prng.shuffle(alive);
          const cut = prng.int(0, shuffled.length);
          g.install(...[shuffled.slice(0, cut), shuffled.slice(cut)].filter((x) => x.length > 0));
        } else if (alive.length > 1) {
          const victim = prng.pick(alive);
          g.crash(victim);
          alive = alive.filter((x) => x !== victim);
          g.boot(victim);
          alive.push(victim);
          g.install(alive);
        }
      }
      g.install(alive);
      g.deliver();
      assert.equal(g.queued(), 0);
      for (const id of alive) assert.equal(g.replicas.get(id)!.synced, true, `node ${id} finished the exchange`);
      assertIdentical(g, alive);
      for (const id of alive) assert.deepEqual(g.disks.get(id), g.cib(id), `node ${id} persisted its copy`);
      for (const [requestId, outcome] of g.outcomes) {
        if (!outcome.ok) assert.equal(g.appliedBy.get(requestId), undefined, `${requestId} was rejected to its proposer, so no node applied it`);
        else assert.ok(g.appliedBy.get(requestId)?.has(Number(requestId.split(':')[0])), `${requestId} was applied where it was acknowledged`);
      }
    });
  }
});
