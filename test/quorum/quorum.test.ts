import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideQuorum,
  QuorumTracker,
  resolveQuorumConfig,
  type QuorumConfig,
  type QuorumHistory,
  type LmsKnowledge,
  type NodeId,
} from '../../lib/quorum/index.js';
import { isSanodeError } from '../../lib/errors/index.js';

const settled: QuorumHistory = { waitForAllSatisfied: true, tieBreakerGranted: undefined };

/** Every way to split `ids` into non-empty disjoint groups (set partitions), plus the dead. */
function* partitions(ids: NodeId[]): Generator<NodeId[][]> {
  if (ids.length === 0) {
    yield [];
    return;
  }
  const [first, ...rest] = ids;
  for (const p of partitions(rest)) {
    for (let i = 0; i < p.length; i += 1) yield [...p.slice(0, i), [first!, ...p[i]!], ...p.slice(i + 1)];
    yield [[first!], ...p];
  }
}

/** Deliberately naive: the votequorum rules read straight off the documentation, with fractions. */
function naiveQuorate(votes: Map<NodeId, number>, expected: number, group: NodeId[], atb: boolean): boolean {
  const mine = group.reduce((s, id) => s + votes.get(id)!, 0);
  if (mine > expected / 2) return true;
  if (atb && mine === expected / 2) {
    const lowestVoter = Math.min(...[...votes].filter(([, v]) => v > 0).map(([id]) => id));
    return group.includes(lowestVoter);
  }
  return false;
}

function voteAssignments(n: number): number[][] {
  // votes 0..2 for each node, all combinations (3^n), at least one vote overall
  const out: number[][] = [];
  const total = 3 ** n;
  for (let code = 0; code < total; code += 1) {
    const v: number[] = [];
    let c = code;
    for (let i = 0; i < n; i += 1) {
      v.push(c % 3);
      c = Math.floor(c / 3);
    }
    if (v.some((x) => x > 0)) out.push(v);
  }
  return out;
}

test('every split of every 1–5 node cluster (votes 0–2 each) agrees with the naive rules and has at most one quorate side', () => {
  let cases = 0;
  for (let n = 1; n <= 5; n += 1) {
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    for (const v of voteAssignments(n)) {
      for (const atb of [false, true]) {
        const config: QuorumConfig = { nodes: ids.map((id, i) => ({ id, votes: v[i]! })), autoTieBreaker: atb };
        const resolved = resolveQuorumConfig(config);
        const votes = new Map(ids.map((id, i) => [id, v[i]!] as const));
        for (const split of partitions(ids)) {
          // Each group might also have lost some of its nodes: dropping nodes only removes votes,
          // so testing the full groups and their prefixes covers "some nodes dead".
          const groups = split.flatMap((g) => g.map((_, k) => g.slice(0, k + 1)));
          let quorateSides = 0;
          for (const group of split) {
            const d = decideQuorum(resolved, group, settled);
            assert.equal(d.quorate, naiveQuorate(votes, resolved.expectedVotes, group, atb), `votes ${v} atb ${atb} group ${group}`);
            if (d.quorate) quorateSides += 1;
            cases += 1;
          }
          for (const group of groups) {
            const d = decideQuorum(resolved, group, settled);
            assert.equal(d.quorate, naiveQuorate(votes, resolved.expectedVotes, group, atb));
          }
          assert.ok(quorateSides <= 1, `two quorate partitions: votes ${v} atb ${atb} split ${JSON.stringify(split)}`);
        }
      }
    }
  }
  assert.ok(cases > 10_000, `exhaustive run covered ${cases} cases`);
});

test('named splits: 2|1 keeps the pair, 2|2 goes to the side with node 1 only under autoTieBreaker, 3|2 keeps the three, 1|1|1 has none', () => {
  const three = resolveQuorumConfig({ nodes: [{ id: 1 }, { id: 2 }, { id: 3 }] });
  assert.equal(decideQuorum(three, [1, 2], settled).quorate, true);
  assert.equal(decideQuorum(three, [3], settled).quorate, false);
  for (const single of [[1], [2], [3]]) assert.equal(decideQuorum(three, single, settled).quorate, false);

  const four = resolveQuorumConfig({ nodes: [1, 2, 3, 4].map((id) => ({ id })) });
  assert.equal(decideQuorum(four, [1, 2], settled).quorate, false);
  assert.equal(decideQuorum(four, [3, 4], settled).quorate, false);
  const fourAtb = resolveQuorumConfig({ nodes: [1, 2, 3, 4].map((id) => ({ id })), autoTieBreaker: true });
  assert.deepEqual(
    [decideQuorum(fourAtb, [1, 4], settled).reason, decideQuorum(fourAtb, [2, 3], settled).reason],
    ['auto-tie-breaker', 'lost-tie-break'],
  );
  const fourHighest = resolveQuorumConfig({ nodes: [1, 2, 3, 4].map((id) => ({ id })), autoTieBreaker: true, autoTieBreakerNodes: 'highest' });
  assert.equal(decideQuorum(fourHighest, [2, 4], settled).quorate, true);
  assert.equal(decideQuorum(fourHighest, [1, 3], settled).quorate, false);
  const fourListed = resolveQuorumConfig({ nodes: [1, 2, 3, 4].map((id) => ({ id })), autoTieBreaker: true, autoTieBreakerNodes: [3, 1] });
  assert.equal(decideQuorum(fourListed, [3, 4], settled).quorate, true);
  assert.equal(decideQuorum(fourListed, [1, 2], settled).quorate, false);

  const five = resolveQuorumConfig({ nodes: [1, 2, 3, 4, 5].map((id) => ({ id })) });
  assert.equal(decideQuorum(five, [3, 4, 5], settled).quorate, true);
  assert.equal(decideQuorum(five, [1, 2], settled).quorate, false);
});

test('twoNode: either node alone is quorate once both were seen together (wait_for_all is implied)', () => {
  const config = resolveQuorumConfig({ nodes: [{ id: 1 }, { id: 2 }], twoNode: true });
  assert.equal(config.waitForAll, true);
  const tracker = new QuorumTracker(config);
  assert.equal(tracker.onView([1], 0).reason, 'waiting-for-all', 'a cold start alone must not claim quorum');
  assert.equal(tracker.onView([1, 2], 10).quorate, true);
  assert.equal(tracker.onView([1], 20).reason, 'two-node', 'the survivor of either loss stays quorate');
  const other = new QuorumTracker(config);
  other.onView([1, 2], 0);
  assert.equal(other.onView([2], 5).quorate, true);
  assert.throws(() => resolveQuorumConfig({ nodes: [{ id: 1 }, { id: 2 }, { id: 3 }], twoNode: true }), /twoNode/);
});

test('waitForAll: no quorum after a cold start until every node was seen, unless a quorate member vouches', () => {
  const config = resolveQuorumConfig({ nodes: [1, 2, 3].map((id) => ({ id })), waitForAll: true });
  const t = new QuorumTracker(config);
  assert.equal(t.onView([1, 2], 0).reason, 'waiting-for-all');
  assert.equal(t.onView([1, 2, 3], 1).quorate, true);
  assert.equal(t.onView([1, 2], 2).quorate, true, 'once satisfied it stays satisfied');
  const joiner = new QuorumTracker(config);
  assert.equal(joiner.onView([1, 2], 0).quorate, false);
  assert.equal(joiner.onMemberQuorate(2).quorate, true, 'joining a partition already quorate');
  assert.equal(new QuorumTracker(config).onMemberQuorate(9).quorate, false, 'a non-member cannot vouch');
});

/**
 * Trackers of a whole cluster with an agreed-order channel per view: notes each member wants
 * broadcast are delivered to every member of its view, in one order, until none are left.
 */
class LmsCluster {
  readonly trackers = new Map<NodeId, QuorumTracker>();
  private readonly group = new Map<NodeId, NodeId[]>();
  private seq = 0;

  constructor(config: QuorumConfig, persisted: Record<number, LmsKnowledge> = {}) {
    const resolved = resolveQuorumConfig(config);
    for (const { id } of config.nodes) {
      const known = persisted[id];
      this.trackers.set(id, new QuorumTracker(resolved, { nodeId: id, ...(known === undefined ? {} : { persisted: known }) }));
    }
  }

  /** Installs one view per group; members that shared their previous group form its transitional set. */
  views(groups: NodeId[][], nowMs: number): void {
    this.seq += 4;
    const before = new Map(this.group);
    for (const members of groups) {
      for (const id of members) {
        const old = before.get(id);
        const transitional = old === undefined ? undefined : members.filter((m) => before.get(m) === old);
        this.trackers.get(id)!.onView(members, nowMs, { seq: this.seq, rep: members[0]! }, transitional);
        this.group.set(id, members);
      }
    }
    this.settle(nowMs);
  }

  tick(nowMs: number): void {
    this.settle(nowMs);
  }

  quorate(): NodeId[] {
    return [...this.trackers].filter(([, t]) => t.decision.quorate).map(([id]) => id).sort((a, b) => a - b);
  }

  /** As NodeController does: every input is followed by a tick at the same time. */
  private settle(nowMs: number): void {
    for (let round = 0; round < 20; round++) {
      for (const t of this.trackers.values()) t.tick(nowMs);
      let sent = 0;
      for (const members of new Set(this.group.values())) {
        for (const sender of members) {
          for (const note of this.trackers.get(sender)!.takeNotes()) {
            sent++;
            for (const m of members) this.trackers.get(m)!.onLmsNote(sender, note);
          }
        }
      }
      if (sent === 0) return;
    }
    throw new Error('notes did not settle');
  }
}

const five = (extra: Partial<QuorumConfig> = {}): QuorumConfig => ({ nodes: [1, 2, 3, 4, 5].map((id) => ({ id })), lastManStanding: true, lastManStandingWindowMs: 1000, ...extra });

test('lastManStanding: the set shrinks only after a stable quorate window, down to 2 votes (1 with autoTieBreaker)', () => {
  const c = new LmsCluster(five());
  c.views([[1, 2, 3, 4, 5]], 0);
  assert.deepEqual(c.quorate(), [1, 2, 3, 4, 5]);
  c.views([[1, 2, 3], [4, 5]], 100);
  assert.deepEqual(c.quorate(), [1, 2, 3], 'a shrinking quorate view stays quorate at once');
  assert.equal(c.trackers.get(1)!.nextDeadlineMs(), 1100, 'only the lowest member proposes, after the window');
  assert.equal(c.trackers.get(2)!.nextDeadlineMs(), undefined);
  c.tick(1099);
  assert.equal(c.trackers.get(1)!.decision.expectedVotes, 5, 'not before the window');
  c.tick(1100);
  for (const id of [1, 2, 3]) assert.equal(c.trackers.get(id)!.decision.expectedVotes, 3);
  assert.deepEqual(c.trackers.get(2)!.knowledge.acked, [1, 2, 3], 'committed: every node of the new set stored it');
  assert.deepEqual(c.trackers.get(4)!.knowledge.config.version, 0, 'the cut-off side never heard of it');

  c.views([[1, 2], [3], [4, 5]], 2000);
  assert.deepEqual(c.quorate(), [1, 2], '2 of the set {1,2,3}');
  c.tick(3000);
  assert.equal(c.trackers.get(1)!.decision.expectedVotes, 2);
  c.views([[1], [2], [3, 4, 5]], 4000);
  assert.deepEqual(c.quorate(), [], 'the floor is 2 votes: a lone node cannot tell dead from cut off; and {3,4,5} is not a majority of {1,2}');
  c.tick(10_000);
  assert.deepEqual(c.quorate(), [], 'nothing lowers while not quorate');
  c.views([[1, 2, 3, 4, 5]], 11_000);
  assert.deepEqual(c.quorate(), [1, 2, 3, 4, 5]);
  for (const t of c.trackers.values()) assert.equal(t.decision.expectedVotes, 5, 'nodes that come back grow the set again at once');

  const atb = new LmsCluster({ nodes: [1, 2, 3].map((id) => ({ id })), lastManStanding: true, lastManStandingWindowMs: 10, autoTieBreaker: true });
  atb.views([[1, 2, 3]], 0);
  atb.views([[1, 2], [3]], 1);
  atb.tick(20);
  atb.views([[1], [2], [3]], 30);
  assert.deepEqual(atb.quorate(), [1], 'the 1|1 split of the last two goes to node 1');
  assert.equal(atb.trackers.get(1)!.decision.reason, 'auto-tie-breaker');
  atb.tick(50);
  assert.equal(atb.trackers.get(1)!.decision.expectedVotes, 1);
});

test('lastManStanding: a view that might hold stale knowledge waits for every member to report', () => {
  const c = new LmsCluster(five());
  const t1 = c.trackers.get(1)!;
  t1.onView([1, 2, 3], 0, { seq: 4, rep: 1 }, undefined);
  assert.equal(t1.decision.quorate, false);
  assert.equal(t1.decision.reason, 'exchanging-state');
  const own = t1.takeNotes();
  assert.equal(own.length, 1);
  t1.onLmsNote(1, own[0]!);
  t1.onLmsNote(2, { kind: 'report', knowledge: c.trackers.get(2)!.knowledge });
  assert.equal(t1.decision.reason, 'exchanging-state', 'node 3 has not reported yet');
  t1.onLmsNote(9, { kind: 'report', knowledge: c.trackers.get(2)!.knowledge });
  t1.onLmsNote(3, { kind: 'report', knowledge: { config: { version: 7 } } as unknown as LmsKnowledge });
  assert.equal(t1.decision.reason, 'exchanging-state', 'a non-member and a malformed note do not count');
  t1.onLmsNote(3, { kind: 'report', knowledge: c.trackers.get(3)!.knowledge });
  assert.equal(t1.decision.quorate, true);
});

/** Every way to split the nodes, each group deciding fresh from what its members persisted. */
function assertNoSplitHasTwoQuorateSides(config: QuorumConfig, persisted: Record<number, LmsKnowledge>, what: string): number {
  let quorateGroups = 0;
  for (const split of partitions(config.nodes.map((n) => n.id))) {
    const c = new LmsCluster(config, persisted);
    c.views(split, 0);
    const sides = split.filter((g) => g.every((id) => c.trackers.get(id)!.decision.quorate));
    for (const g of split) {
      const verdicts = new Set(g.map((id) => c.trackers.get(id)!.decision.quorate));
      assert.equal(verdicts.size, 1, `${what}: members of ${JSON.stringify(g)} disagree`);
    }
    assert.ok(sides.length <= 1, `${what}: ${JSON.stringify(split)} has quorate sides ${JSON.stringify(sides)}`);
    quorateGroups += sides.length;
  }
  return quorateGroups;
}

test('lastManStanding: whatever the nodes know, no split of the cluster has two quorate sides (seed 1975 and relatives)', () => {
  const config = five();
  const v0 = { members: [1, 2, 3, 4, 5], expected: 5 };
  const v1 = (seq: number, members: number[], acked: number[]): LmsKnowledge => ({ config: { version: 1, seq, rep: members[0]!, members, expected: members.length, prev: v0 }, acked });
  const committed = v1(8, [1, 2, 3], [1, 2, 3]);
  // Seed 1975: {1,2,3} lowered its set; {4,5} never heard. Then {1,4,5} vs {2,3}.
  let q = assertNoSplitHasTwoQuorateSides(config, { 1: committed, 2: committed, 3: committed }, 'committed {1,2,3}');
  assert.ok(q > 0, 'some splits stay quorate');
  // Only node 1 stored the proposal before the view broke: joint quorum until it commits.
  q = assertNoSplitHasTwoQuorateSides(config, { 1: v1(8, [1, 2, 3], [1]) }, 'uncommitted, stored by 1 only');
  assert.ok(q > 0);
  // Node 1 stored v1@8 alone; {2,3,4,5} never heard and committed its own v1@20.
  const later = v1(20, [2, 3, 4, 5], [2, 3, 4, 5]);
  q = assertNoSplitHasTwoQuorateSides(config, { 1: v1(8, [1, 2, 3], [1]), 2: later, 3: later, 4: later, 5: later }, 'two proposals of one version');
  assert.ok(q > 0);
  // A chain: v2 {1,2} committed on top of v1 {1,2,3} committed; node 3 knows only v1.
  const v2: LmsKnowledge = { config: { version: 2, seq: 12, rep: 1, members: [1, 2], expected: 2, prev: { members: [1, 2, 3], expected: 3 } }, acked: [1, 2] };
  q = assertNoSplitHasTwoQuorateSides(config, { 1: v2, 2: v2, 3: committed }, 'v2 {1,2} over v1 {1,2,3}');
  assert.ok(q > 0);
  const c = new LmsCluster(config, { 1: v2, 2: v2, 3: committed });
  c.views([[1, 3, 4, 5], [2]], 0);
  assert.deepEqual(c.quorate(), [], '{1,3,4,5} is 1 of the newest set {1,2}; {2} alone is not a majority of it either');
});

test('lastManStanding: knowledge survives a restart through what the node persisted', () => {
  const c = new LmsCluster(five());
  c.views([[1, 2, 3, 4, 5]], 0);
  c.views([[1, 2, 3], [4, 5]], 100);
  const t2 = c.trackers.get(2)!;
  t2.takePersist();
  c.tick(1200);
  const stored = t2.takePersist();
  assert.deepEqual(stored?.config.members, [1, 2, 3], 'the new set is handed out to persist');
  assert.equal(t2.takePersist(), undefined, 'once');
  const restarted = new LmsCluster(five(), { 1: stored!, 2: stored!, 3: stored! });
  restarted.views([[1], [2, 3], [4, 5]], 0);
  assert.deepEqual(restarted.quorate(), [2, 3], 'after restarting every node, {2,3} is a majority of {1,2,3} and {4,5} is not');
});

test("tie-breaker 'vote' decides an even split only when granted; 'veto' can only take quorum away from the autoTieBreaker winner", () => {
  const nodes = [1, 2, 3, 4].map((id) => ({ id }));
  const vote = new QuorumTracker(resolveQuorumConfig({ nodes, tieBreaker: 'vote' }));
  assert.equal(vote.onView([3, 4], 0).reason, 'tie-breaker-pending');
  assert.equal(vote.onTieBreakerResult(true).reason, 'tie-breaker-vote');
  assert.equal(vote.onView([3], 1).quorate, false, 'the check only decides an exactly even split');
  assert.equal(vote.onView([3, 4], 2).reason, 'tie-breaker-pending', 'a new view needs a new answer');

  const veto = new QuorumTracker(resolveQuorumConfig({ nodes, autoTieBreaker: true, tieBreaker: 'veto' }));
  veto.onView([2, 3], 0);
  assert.equal(veto.onTieBreakerResult(true).quorate, false, 'a passing ping never lets the losing side win');
  veto.onView([1, 4], 1);
  assert.equal(veto.onTieBreakerResult(false).reason, 'tie-breaker-vetoed');
  assert.equal(veto.onTieBreakerResult(true).reason, 'auto-tie-breaker');
  assert.throws(() => resolveQuorumConfig({ nodes, tieBreaker: 'veto' }), /autoTieBreaker/);
});

test('bad quorum options are refused with the field named and a fix', () => {
  const cases: [QuorumConfig, RegExp][] = [
    [{ nodes: [] }, /quorum\.nodes/],
    [{ nodes: [{ id: 0 }] }, /quorum\.nodes\[0\]\.id/],
    [{ nodes: [{ id: 1 }, { id: 1 }] }, /appears twice/],
    [{ nodes: [{ id: 1, votes: -1 }] }, /votes/],
    [{ nodes: [{ id: 1 }, { id: 2 }], expectedVotes: 1 }, /two quorate partitions/],
    [{ nodes: [{ id: 1 }], autoTieBreaker: true, autoTieBreakerNodes: [7] }, /autoTieBreakerNodes\[0\]/],
  ];
  for (const [config, message] of cases) {
    assert.throws(() => resolveQuorumConfig(config), (e: unknown) => isSanodeError(e) && e.code === 'SANODE_INVALID_CONFIG' && message.test(e.message));
  }
});
