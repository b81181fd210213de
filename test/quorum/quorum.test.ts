import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideQuorum,
  QuorumTracker,
  resolveQuorumConfig,
  type QuorumConfig,
  type QuorumHistory,
  type NodeId,
} from '../../lib/quorum/index.js';
import { isSanodeError } from '../../lib/errors/index.js';

const settled: QuorumHistory = { waitForAllSatisfied: true, lastManStandingExpectedVotes: undefined, tieBreakerGranted: undefined };

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

test('lastManStanding: expected votes shrink only after a stable quorate window, down to 2 (or 1 with autoTieBreaker)', () => {
  const config = resolveQuorumConfig({ nodes: [1, 2, 3, 4, 5].map((id) => ({ id })), lastManStanding: true, lastManStandingWindowMs: 1000 });
  const t = new QuorumTracker(config);
  t.onView([1, 2, 3, 4, 5], 0);
  assert.equal(t.onView([1, 2, 3], 100).quorate, true);
  assert.equal(t.nextDeadlineMs(), 1100);
  assert.equal(t.tick(1099).expectedVotes, 5, 'not before the window');
  assert.equal(t.tick(1100).expectedVotes, 3);
  assert.equal(t.onView([1, 2], 2000).quorate, true, '2 of the lowered 3');
  t.tick(3000);
  assert.equal(t.decision.expectedVotes, 2);
  assert.equal(t.onView([1], 4000).quorate, false, 'without autoTieBreaker the floor is 2: a lone node cannot tell dead from cut off');
  assert.equal(t.tick(10_000).quorate, false, 'and it cannot lower expected votes while not quorate');
  assert.equal(t.onView([1, 2, 3, 4, 5], 11_000).expectedVotes, 5, 'votes that come back raise expected votes again');

  const withAtb = resolveQuorumConfig({ nodes: [1, 2, 3].map((id) => ({ id })), lastManStanding: true, lastManStandingWindowMs: 10, autoTieBreaker: true });
  const a = new QuorumTracker(withAtb);
  a.onView([1, 2, 3], 0);
  a.onView([1, 2], 1);
  a.tick(20);
  assert.equal(a.onView([1], 30).reason, 'auto-tie-breaker', 'the 1|1 split of the last two goes to node 1');
  a.tick(50);
  assert.equal(a.decision.expectedVotes, 1);
  const b = new QuorumTracker(withAtb);
  b.onView([1, 2, 3], 0);
  b.onView([1, 2], 1);
  b.tick(20);
  assert.equal(b.onView([2], 30).quorate, false, 'node 2 alone loses the tie-break');
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
