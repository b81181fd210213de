import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochOf, Leadership, type LeadershipEvent } from '../../lib/controller/leadership.js';
import type { View } from '../../lib/totem/types.js';

const timers = { leaseMs: 400, tokenTimeoutMs: 400, clockDriftRatio: 0.01 };
const takeoverWaitMs = (timers.tokenTimeoutMs + timers.leaseMs) * (1 + 2 * timers.clockDriftRatio);
const view = (seq: number, rep: number, members: number[]): View => ({ id: { seq, rep }, members });
const starts = (events: readonly LeadershipEvent[]) => events.filter((e) => e.type === 'leader-start');
const stops = (events: readonly LeadershipEvent[]) => events.filter((e) => e.type === 'leader-stop');

/** Feeds tokens every `everyMs` from `fromMs` to `toMs`, as an intact ring would. */
function runRing(l: Leadership, fromMs: number, toMs: number, everyMs = 50): LeadershipEvent[] {
  const events: LeadershipEvent[] = [];
  for (let t = fromMs; t <= toMs; t += everyMs) {
    l.onToken(t, t);
    l.tick(t);
    events.push(...l.takeOutput().events);
  }
  return events;
}

test('the longest-running member of a quorate view coordinates (then the lowest id); nobody does without quorum', () => {
  assert.equal(Leadership.coordinatorOf(view(1, 1, [2, 3, 5]), true), 2, 'without incarnations: the lowest id');
  assert.equal(Leadership.coordinatorOf(view(1, 1, [2, 3, 5]), false), undefined);
  const rejoined = { ...view(4, 1, [1, 2, 3]), incarnations: [7, 3, 5] };
  assert.equal(Leadership.coordinatorOf(rejoined, true), 2, 'node 1 restarted (incarnation 7): node 2 keeps the role');
  assert.equal(Leadership.coordinatorOf({ ...view(4, 1, [1, 2, 3]), incarnations: [3, 3, 5] }, true), 1, 'ties go to the lowest id');
  assert.equal(Leadership.coordinatorOf(rejoined, false), undefined);
});

test('members from the newest primary component come first: a node frozen or cut off while the others went on does not take the role back', () => {
  // Node 1 (the oldest) was frozen in primary view 8 while nodes 2 and 3 went on in primary view 12.
  const resumed = { ...view(16, 1, [1, 2, 3]), incarnations: [1, 3, 5], primarySeqs: [8, 12, 12] };
  assert.equal(Leadership.coordinatorOf(resumed, true), 2);
  // A partition healed: the isolated minority never had a newer primary view than the majority.
  assert.equal(Leadership.coordinatorOf({ ...resumed, primarySeqs: [12, 12, 8] }, true), 1);
  // A whole-cluster restart: nobody comes from a primary component; the oldest incarnation leads.
  assert.equal(Leadership.coordinatorOf({ ...resumed, incarnations: [9, 7, 8], primarySeqs: [0, 0, 0] }, true), 2);
  // A core that does not report primary components falls back to incarnations alone.
  assert.equal(Leadership.coordinatorOf({ ...resumed, primarySeqs: [8] }, true), 1);
});

test('after a cold start the coordinator waits out any earlier leader lease before its callback starts', () => {
  const l = new Leadership(1, timers);
  l.onView(view(1, 1, [1, 2, 3]), true, 1000);
  assert.equal(starts(l.takeOutput().events).length, 0, 'not at once');
  const events = runRing(l, 1000, 1000 + takeoverWaitMs + 100);
  const [start] = starts(events);
  assert.deepEqual(start, { type: 'leader-start', epoch: epochOf({ seq: 1, rep: 1 }) });
  assert.equal(l.nextDeadlineMs()! > 1000 + takeoverWaitMs, true);
});

test('a non-coordinator never starts, and a member that loses quorum stops its callback', () => {
  const follower = new Leadership(2, timers);
  follower.onView(view(1, 1, [1, 2, 3]), true, 0);
  assert.equal(starts(runRing(follower, 0, 3000)).length, 0);

  const leader = new Leadership(1, timers);
  leader.onView(view(1, 1, [1, 2, 3]), true, 0);
  runRing(leader, 0, 2000);
  assert.equal(leader.isLeader, true);
  leader.onView(view(2, 1, [1]), false, 2100);
  assert.deepEqual(stops(leader.takeOutput().events).map((e) => e.type === 'leader-stop' && e.reason), ['lost-quorum']);
});

test('the term continues across views while the coordinator stays: no stop, same epoch', () => {
  const l = new Leadership(1, timers);
  l.onView(view(1, 1, [1, 2, 3]), true, 0);
  runRing(l, 0, 2000);
  l.onView(view(2, 1, [1, 2]), true, 2100);
  const events = [...l.takeOutput().events, ...runRing(l, 2100, 3000)];
  assert.equal(stops(events).length, 0);
  assert.equal(starts(events).length, 0);
  assert.equal(l.currentTerm?.epoch, epochOf({ seq: 1, rep: 1 }));
});

test('a pending takeover wait is not cut short when the next view keeps the same coordinator', () => {
  const l = new Leadership(2, timers);
  l.onView(view(5, 2, [2, 3]), true, 10_000); // the old leader, node 1, vanished
  l.onView(view(6, 2, [2, 3, 4]), true, 10_050);
  const early = runRing(l, 10_050, 10_000 + takeoverWaitMs - 10, 10);
  assert.equal(starts(early).length, 0, 'still waiting for the lost leader lease');
  assert.equal(starts(runRing(l, 10_000 + takeoverWaitMs, 10_000 + takeoverWaitMs + 50, 10)).length, 1);
});

test('a survivor takes over only after the crashed leader lease has certainly expired', () => {
  // Node 1 led; node 2 installs a view without it. The old lease ran on node 1's clock, renewed
  // by tokens that node 2 no longer sees: node 2 must wait token timeout + lease from install.
  const survivor = new Leadership(2, timers);
  survivor.onView(view(1, 1, [1, 2, 3]), true, 0);
  runRing(survivor, 0, 5000);
  const installMs = 5900;
  survivor.onView(view(2, 2, [2, 3]), true, installMs);
  const events = runRing(survivor, installMs, installMs + 2000, 5);
  const startAt = installMs + 5 * Math.ceil(takeoverWaitMs / 5);
  const [start] = starts(events);
  assert.ok(start !== undefined);
  assert.equal(start.type === 'leader-start' && start.epoch, epochOf({ seq: 2, rep: 2 }));
  assert.equal(survivor.isLeader, true);
  // Check the start time: no start in ticks before the wait ended.
  const again = new Leadership(2, timers);
  again.onView(view(1, 1, [1, 2, 3]), true, 0);
  again.onView(view(2, 2, [2, 3]), true, installMs);
  assert.equal(starts(runRing(again, installMs, startAt - 5, 5)).length, 0);
});

test('a leader that stops receiving tokens drops its callback when its lease lapses, and resumes on the next token of the same ring', () => {
  const l = new Leadership(1, timers);
  l.onView(view(1, 1, [1, 2, 3]), true, 0);
  runRing(l, 0, 1000);
  assert.equal(l.isLeader, true);
  assert.equal(l.stillLeader(1000 + timers.leaseMs * 0.5), true);
  assert.equal(l.stillLeader(1000 + timers.leaseMs), false, 'stillLeader reads the lease against the given time, even before tick');
  l.tick(1000 + timers.leaseMs);
  const lapse = l.takeOutput();
  assert.deepEqual(stops(lapse.events).map((e) => e.type === 'leader-stop' && e.reason), ['lease-expired']);
  assert.equal(lapse.broadcasts.length, 0, 'no release: a lapsed leader may be cut off, and proves nothing');
  l.onToken(1500, 1500);
  assert.deepEqual(starts(l.takeOutput().events).length, 1);
});

test('a graceful leave releases the term so the successor starts without waiting out the lease', () => {
  const leaver = new Leadership(1, timers);
  const successor = new Leadership(2, timers);
  for (const l of [leaver, successor]) {
    l.onView(view(1, 1, [1, 2, 3]), true, 0);
    runRing(l, 0, 2000);
  }
  leaver.leave();
  const out = leaver.takeOutput();
  assert.deepEqual(stops(out.events).map((e) => e.type === 'leader-stop' && e.reason), ['leaving']);
  assert.deepEqual(out.broadcasts, [{ type: 'release', epoch: epochOf({ seq: 1, rep: 1 }) }]);
  successor.onRelease(1, out.broadcasts[0]!, 2010);
  successor.onView(view(2, 2, [2, 3]), true, 2020);
  assert.equal(starts(successor.takeOutput().events).length, 1, 'started at install');
});

test('a release from a node that did not lead that term is ignored', () => {
  const successor = new Leadership(2, timers);
  successor.onView(view(1, 1, [1, 2, 3]), true, 0);
  successor.onRelease(3, { type: 'release', epoch: epochOf({ seq: 1, rep: 1 }) }, 10);
  successor.onView(view(2, 2, [2, 3]), true, 20);
  assert.equal(starts(successor.takeOutput().events).length, 0);
});

test('a node that was not in the previous quorate view waits, even if a release arrives', () => {
  // It cannot know the releasing node was the last leader.
  const joiner = new Leadership(1, timers);
  joiner.onView(view(9, 1, [1]), false, 0);
  joiner.onView(view(10, 1, [1, 2, 3]), true, 100);
  joiner.onRelease(2, { type: 'release', epoch: epochOf({ seq: 8, rep: 2 }) }, 110);
  assert.equal(starts(runRing(joiner, 110, 100 + takeoverWaitMs - 10, 10)).length, 0);
});

test('a due start that waits for a fresh token reports no deadline, so a driver cannot spin on it', () => {
  const l = new Leadership(1, timers);
  l.onView(view(1, 1, [1, 2, 3]), true, 0);
  runRing(l, 0, 1000);
  l.tick(1000 + timers.leaseMs); // lease lapses, no token since
  l.takeOutput();
  assert.equal(l.isLeader, false);
  assert.equal(l.nextDeadlineMs(), undefined, 'waiting for a token, not for time');
  l.onToken(1600, 1600);
  assert.equal(l.isLeader, true, 'and the token restarts it');

  const waiting = new Leadership(2, timers);
  waiting.onView(view(2, 2, [2, 3]), true, 0); // takeover wait, then no token at all
  assert.equal(waiting.nextDeadlineMs(), takeoverWaitMs);
  waiting.tick(takeoverWaitMs + 1);
  assert.equal(waiting.isLeader, false, 'no start without a fresh token');
  assert.equal(waiting.nextDeadlineMs(), undefined);
});

test('a leader frozen past its lease does not carry its old term into the next view it installs', () => {
  // Simulator seed 1221: node 1 led, was paused through views in which node 2 led, then came back
  // as coordinator of a new view. Installing that view must not count as fresh proof for the OLD
  // lease: node 1 stops, then waits out the takeover like any new coordinator.
  const l = new Leadership(1, timers);
  l.onView(view(2, 1, [1, 2]), true, 0);
  runRing(l, 0, 1000);
  assert.equal(l.isLeader, true);
  const oldEpoch = l.currentTerm!.epoch;
  const resumeMs = 1000 + 10 * timers.leaseMs; // frozen far beyond the lease; no tick ran meanwhile
  l.onView(view(6, 1, [1, 2]), true, resumeMs);
  const out = l.takeOutput();
  assert.deepEqual(stops(out.events).map((e) => e.type === 'leader-stop' && e.reason), ['lease-expired']);
  assert.equal(starts(out.events).length, 0, 'no start at install');
  assert.notEqual(l.currentTerm!.epoch, oldEpoch, 'a new term with the new view id');
  assert.equal(starts(runRing(l, resumeMs, resumeMs + takeoverWaitMs - 10, 10)).length, 0, 'and the takeover wait applies');
});

test('a token that waited out a freeze renews the lease only from when this node last passed it on', () => {
  // Simulator seed 10719: a coordinator frozen for 2 s found an old token of its ring in its
  // socket backlog. Counted as fresh, it renewed the lease and started a stale term while another
  // node led. The proof is the rotation's start, so it renews nothing.
  const l = new Leadership(1, timers);
  l.onView(view(2, 1, [1, 3]), true, 1243);
  l.takeOutput();
  const resumeMs = 1243 + 2166;
  l.onToken(1250, resumeMs); // passed on at 1250, back in the backlog at resume
  l.tick(resumeMs);
  assert.equal(starts(l.takeOutput().events).length, 0, 'no start on stale proof');
  l.onToken(resumeMs + 5, resumeMs + 20); // a rotation that began after the resume
  assert.equal(starts(l.takeOutput().events).length, 1, 'fresh proof starts it (the takeover wait is long over)');
});
