import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultLeadershipTimers, NodeController, parseControlMessage } from '../../lib/controller/node-controller.js';
import { resolveQuorumConfig } from '../../lib/quorum/index.js';

const timers = defaultLeadershipTimers({ tokenTimeoutMs: 400, consensusMs: 600, tokenPerMemberMs: 10 }, 3);
const quorum = (extra = {}) => resolveQuorumConfig({ nodes: [{ id: 1 }, { id: 2 }, { id: 3 }], ...extra });
const view = (seq: number, members: number[]) => ({ id: { seq, rep: members[0]! }, members });

describe('NodeController', () => {
  it('stretches the token timeout for the cluster size and derives the lease from it', () => {
    assert.deepEqual(timers, { leaseMs: 1010, tokenTimeoutMs: 410, clockDriftRatio: 0.01 });
  });

  it('reports quorum, waits out the takeover, then starts leading on a fresh token', () => {
    const c = new NodeController({ nodeId: 1, quorum: quorum(), leadership: timers });
    c.onView(view(1, [1, 2, 3]), 1000);
    const first = c.takeOutput();
    assert.deepEqual(first.events.map((e) => e.type), ['quorum', 'coordinator']);
    const deadline = c.nextDeadlineMs()!;
    assert.ok(deadline > 1000 + 1400, `takeover wait, got ${deadline}`);
    c.onToken(deadline - 10, deadline - 10);
    c.tick(deadline);
    assert.deepEqual(c.takeOutput().events.map((e) => e.type), ['leader-start']);
    assert.equal(c.isLeader, true);
  });

  it('does not report a deadline that a tick already passed (it waits for a token, not time)', () => {
    const c = new NodeController({ nodeId: 1, quorum: quorum(), leadership: timers });
    c.onView(view(1, [1, 2, 3]), 0);
    const deadline = c.nextDeadlineMs()!;
    c.tick(deadline); // no token since the view: no fresh proof, the start stays pending
    assert.equal(c.isLeader, false);
    assert.equal(c.nextDeadlineMs(), undefined);
    c.onToken(deadline + 5, deadline + 5);
    assert.equal(c.isLeader, true);
  });

  it('a leader that loses quorum stops and asks for a release; waitForAll nodes send quorate notes', () => {
    const c = new NodeController({ nodeId: 1, quorum: quorum({ waitForAll: true }), leadership: timers });
    c.onView(view(1, [1, 2, 3]), 0);
    assert.deepEqual(c.takeOutput().controls, [{ t: 'quorate' }]);
    c.onToken(5000, 5000);
    c.tick(5000);
    c.takeOutput();
    assert.equal(c.isLeader, true);
    c.onView(view(2, [1]), 5500); // within the lease: quorum is lost, the lease is not
    const out = c.takeOutput();
    assert.deepEqual(out.releases, [{ type: 'release', epoch: 65537 }]);
    assert.ok(out.events.some((e) => e.type === 'leader-stop'));
  });

  it('a node that left reports no deadline, though a last man standing proposal was due (sim seed 92196)', () => {
    // Before, its turns returned at once after leave() while nextDeadlineMs still reported the
    // proposal's past deadline: the driver's timer fired at the same instant without end.
    const window = 1000;
    const c = new NodeController({ nodeId: 1, quorum: quorum({ lastManStanding: true, lastManStandingWindowMs: window }), leadership: timers });
    c.onView(view(1, [1, 2]), 0);
    // The state exchange of the view: each member reports its knowledge in agreed order.
    const reports = c.takeOutput().controls.filter((m) => m.t === 'lms');
    assert.ok(reports.length > 0, 'node 1 reports its last man standing knowledge');
    for (const r of reports) {
      c.onControl(1, r, 10);
      c.onControl(2, r, 10);
    }
    c.takeOutput();
    assert.equal(c.nextDeadlineMs(), window, 'a proposal to shrink to [1, 2] is due once the window has passed');
    c.leave();
    c.takeOutput();
    const asked: (number | undefined)[] = [];
    for (let t = window; t < window + 5; t++) {
      c.tick(t);
      asked.push(c.nextDeadlineMs());
    }
    assert.deepEqual(asked, [undefined, undefined, undefined, undefined, undefined]);
    assert.deepEqual(c.takeOutput().controls, [], 'and proposes nothing');
  });

  it('parses control messages defensively', () => {
    assert.deepEqual(parseControlMessage({ t: 'release', epoch: 7 }), { t: 'release', epoch: 7 });
    assert.deepEqual(parseControlMessage({ t: 'tiebreak', seq: 1, rep: 2, granted: 'yes' }), { t: 'tiebreak', seq: 1, rep: 2, granted: false });
    assert.equal(parseControlMessage({ t: 'release' }), undefined);
    assert.equal(parseControlMessage(null), undefined);
  });
});
