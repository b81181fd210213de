import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyCib, type Cib, type CibConfig } from '../../lib/cib/model.js';
import { applyChange } from '../../lib/cib/replica.js';
import { TransitionEngine } from '../../lib/controller/transition.js';

/** The coordinator's engine, fed by hand: time and the CIB are inputs, dispatches are outputs. */
const config: CibConfig = {
  nodes: ['a', 'b', 'c'].map((name, i) => ({ id: String(i + 1), name })),
  resources: [{ kind: 'primitive', id: 'vip', agent: { class: 'sanode', type: 'dummy' }, ops: [{ name: 'monitor', intervalMs: 1000, timeoutMs: 5000 }] }],
};

function withStatus(cib: Cib, runningOn: string | undefined): Cib {
  let next = cib;
  for (const node of ['a', 'b', 'c']) next = applyChange(next, { op: 'set-node-state', node, state: 'online' });
  if (runningOn !== undefined) {
    next = applyChange(next, { op: 'record-op', node: runningOn, resource: 'vip', record: { op: 'start', intervalMs: 0, rc: 0, timeMs: 1, callId: 5 } });
  }
  return next;
}

const DEADLINE = 3000;

test('a lost node keeps its resource until its self-stop deadline: only then is its history purged and the resource started elsewhere', () => {
  const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, nowMs: 0 });
  let cib = withStatus(emptyCib(config), 'a');
  engine.onView(['a', 'b', 'c'], 0);
  engine.onCib(cib);
  engine.setCoordinator(true, true);
  engine.tick(10);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'running where it should: nothing to do');

  engine.onView(['b', 'c'], 1000); // a is cut off or dead: the coordinator cannot tell which
  for (const t of [1000, 2000, 3999]) {
    engine.tick(t);
    const out = engine.takeOutput();
    assert.deepEqual(out.dispatch, [], `no start elsewhere at ${t} ms: a may still run it`);
    assert.deepEqual(out.changes, []);
  }
  assert.equal(engine.nextDeadlineMs(), 1000 + DEADLINE, 'the engine asks to be woken at the deadline');
  engine.tick(4000);
  const atDeadline = engine.takeOutput();
  assert.deepEqual(atDeadline.changes, [{ op: 'clear-node-resources', node: 'a' }]);
  assert.deepEqual(atDeadline.dispatch.map((d) => d.op), ['start'], 'the start elsewhere goes out once a counts as stopped');
  assert.ok(['b', 'c'].includes(atDeadline.dispatch[0]!.node));

  cib = applyChange(cib, atDeadline.changes[0]!);
  engine.onCib(cib);
  engine.tick(4001);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'an action in flight is never sent twice');
});

test('a purge cut off by a view change is decided again in the next view, not carried over (simulator seed 98528)', () => {
  // A purge holds only in the view it was decided in (local-resources.ts, tag 'decision'): the
  // driver never proposes it in a later view. The engine must then decide it again while the node
  // is still lost, and not at all once it is back.
  const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, nowMs: 0 });
  const cib = withStatus(emptyCib(config), 'a');
  engine.onView(['a', 'b', 'c'], 0);
  engine.onCib(cib);
  engine.setCoordinator(true, true);
  engine.tick(10);
  engine.takeOutput();
  engine.onView(['b', 'c'], 1000);
  engine.tick(4000);
  assert.deepEqual(engine.takeOutput().changes, [{ op: 'clear-node-resources', node: 'a' }], 'purged at the deadline');

  // The purge never landed (its view ended first); a still lacks: decided again in the new view.
  engine.onView(['b', 'c'], 4100);
  engine.tick(4101);
  const redecided = engine.takeOutput();
  assert.deepEqual(redecided.changes, [{ op: 'clear-node-resources', node: 'a' }], 'decided again while a is still lost');

  // Cut off again, and this time a came back: nothing to purge.
  engine.onView(['a', 'b', 'c'], 4200);
  engine.tick(4201);
  assert.deepEqual(engine.takeOutput().changes, [], 'a is a member again: its records are live');
});

test("a lost node's deadline counts from its last proof when the coordinator has one, else from the view change plus the unproven margin", () => {
  const MARGIN = 400;
  const lostAt = (lastRingProofMs: ((name: string) => number | undefined) | undefined): number => {
    const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, unprovenMarginMs: MARGIN, nowMs: 0 });
    engine.onView(['a', 'b', 'c'], 0);
    engine.onCib(withStatus(emptyCib(config), 'a'));
    engine.setCoordinator(true, true);
    engine.tick(10);
    engine.takeOutput();
    // a's ring broke after the coordinator's last token at 700; the survivors installed at 1300.
    engine.onView(['b', 'c'], 1300, lastRingProofMs);
    let first: number | undefined;
    for (let t = 1300; t <= 6000 && first === undefined; t += 10) {
      engine.tick(t);
      if (engine.takeOutput().dispatch.some((d) => d.op === 'start')) first = t;
    }
    assert.ok(first !== undefined, 'the resource is started elsewhere in the end');
    return first;
  };
  assert.equal(lostAt((name) => (name === 'a' ? 700 : undefined)), 700 + DEADLINE, 'from the last token of a ring with a');
  assert.equal(lostAt(undefined), 1300 + MARGIN + DEADLINE, 'no ring shared with a: from the view change, plus the margin');
  assert.equal(lostAt(() => 5000), 1300 + DEADLINE, 'a proof is never later than the view that lost the node');
});

test("the coordinator reports where a failover's time went: from its last token with the lost node to each start elsewhere", () => {
  const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, unprovenMarginMs: 400, nowMs: 0 });
  let cib = withStatus(emptyCib(config), 'a');
  engine.onView(['a', 'b', 'c'], 0);
  engine.onCib(cib, 0);
  engine.setCoordinator(true, true);
  engine.tick(10);
  engine.takeOutput();
  engine.onView(['b', 'c'], 1300, (name) => (name === 'a' ? 700 : undefined));
  const reports = [];
  let start;
  for (let t = 1300; t <= 3700; t += 100) {
    engine.tick(t);
    const out = engine.takeOutput();
    reports.push(...out.failovers);
    for (const change of out.changes) cib = applyChange(cib, change);
    start ??= out.dispatch.find((d) => d.op === 'start');
    engine.onCib(cib, t);
  }
  assert.ok(start !== undefined, 'the start elsewhere went out at the deadline');
  assert.deepEqual(reports, [], 'nothing to report until the resource runs elsewhere');
  cib = applyChange(cib, { op: 'record-op', node: start.node, resource: 'vip', record: { op: 'start', intervalMs: 0, rc: 0, timeMs: 3800, callId: 9 } });
  engine.onCib(cib, 3850);
  engine.tick(3850);
  assert.deepEqual(engine.takeOutput().failovers, [
    { node: 'a', proven: true, viewMs: 600, deadlineMs: 3000, resources: [{ rsc: 'vip', startedOn: start.node, startedMs: 3150 }], incomplete: false },
  ]);
  engine.tick(9000);
  assert.deepEqual(engine.takeOutput().failovers, [], 'reported once');
});

test('no start goes out while any member is still probing, nor while not coordinating or not quorate', () => {
  const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, nowMs: 0 });
  const fresh = emptyCib(config); // nobody has said 'online' (probed) yet
  engine.onView(['a', 'b', 'c'], 0);
  engine.onCib(fresh);
  engine.setCoordinator(true, true);
  engine.tick(10);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'every member is still probing');

  // b has probed; a and c have not said what runs there (a start from an older term may be in
  // flight on one of them), so the vip must not start anywhere yet.
  const bProbed = applyChange(fresh, { op: 'set-node-state', node: 'b', state: 'online' });
  engine.onCib(bProbed);
  engine.tick(15);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'a member still probing holds back every start');

  const allProbed = applyChange(applyChange(bProbed, { op: 'set-node-state', node: 'a', state: 'online' }), { op: 'set-node-state', node: 'c', state: 'online' });
  engine.onCib(allProbed);
  engine.setCoordinator(false, true);
  engine.tick(20);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'only the coordinator dispatches');
  engine.setCoordinator(true, false);
  engine.tick(30);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'and only while quorate');
  engine.setCoordinator(true, true);
  engine.tick(40);
  const out = engine.takeOutput().dispatch;
  assert.deepEqual(out.map((d) => [d.op, d.rsc]), [['start', 'vip']], 'once every member has probed, the vip starts on one of them');
  engine.onResult(out[0]!.key);
  engine.tick(50);
  const again = engine.takeOutput().dispatch;
  assert.deepEqual(again.map((d) => d.op), ['start'], 'a result not yet in the CIB means: plan again from what the CIB says');
  engine.onResult(again[0]!.key);

  // A member that starts probing again (it rejoined) holds back starts but not stops.
  const running = applyChange(allProbed, { op: 'record-op', node: 'b', resource: 'vip', record: { op: 'start', intervalMs: 0, rc: 0, timeMs: 1, callId: 3 } });
  const bannedThere = applyChange(running, { op: 'set-constraint', constraint: { kind: 'location', id: 'ban-b', rsc: 'vip', node: 'b', score: -1_000_000 } });
  engine.onCib(applyChange(bannedThere, { op: 'set-node-state', node: 'c', state: 'offline' }));
  engine.tick(60);
  assert.deepEqual(engine.takeOutput().dispatch.map((d) => [d.op, d.node]), [['stop', 'b']], 'the stop goes out; the start waits for c');
});

test('a new plan waits for the actions of the last one: a start in flight is never contradicted by a start elsewhere', () => {
  // The scheduler plans from the CIB, which shows a start only once it has answered: planning
  // while it runs could place the resource on another node as well.
  const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, nowMs: 0 });
  let cib = emptyCib(config);
  for (const n of ['a', 'b', 'c']) cib = applyChange(cib, { op: 'set-node-state', node: n, state: 'online' });
  engine.onView(['a', 'b', 'c'], 0);
  engine.onCib(cib);
  engine.setCoordinator(true, true);
  engine.tick(10);
  const first = engine.takeOutput().dispatch;
  assert.deepEqual(first.map((d) => d.op), ['start']);
  // Something else changes (a ban of the chosen node) while the start runs there.
  engine.onCib(applyChange(cib, { op: 'set-constraint', constraint: { kind: 'location', id: 'ban', rsc: 'vip', node: first[0]!.node, score: -1_000_000 } }));
  engine.tick(20);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'nothing goes out while the start is in flight');
  assert.equal(engine.settled, false);
  // The start answers: its record is in the CIB; now the move is planned, stop first.
  const started = applyChange(applyChange(cib, { op: 'set-constraint', constraint: { kind: 'location', id: 'ban', rsc: 'vip', node: first[0]!.node, score: -1_000_000 } }), {
    op: 'record-op', node: first[0]!.node, resource: 'vip', record: { op: 'start', intervalMs: 0, rc: 0, timeMs: 1, callId: 1 },
  });
  engine.onCib(started);
  engine.onResult(first[0]!.key);
  engine.tick(30);
  assert.deepEqual(engine.takeOutput().dispatch.map((d) => [d.op, d.node]), [['stop', first[0]!.node]]);
});

test('an action that never answers is given up after its timeout and a margin, so the engine cannot wedge', () => {
  const engine = new TransitionEngine({ nodes: ['a'], lostNodeDeadlineMs: DEADLINE, nowMs: 0 });
  const cib = applyChange(emptyCib({ ...config, nodes: [{ id: '1', name: 'a' }] }), { op: 'set-node-state', node: 'a', state: 'online' });
  engine.onView(['a'], 0);
  engine.onCib(cib);
  engine.setCoordinator(true, true);
  engine.tick(10);
  const first = engine.takeOutput().dispatch;
  assert.equal(first.length, 1);
  // Its own timeout, then a margin of 10 s for the result to come back.
  const giveUpAt = 10 + first[0]!.timeoutMs + 10_000;
  for (let t = 20; t < giveUpAt; t += 1000) {
    engine.tick(t);
    assert.deepEqual(engine.takeOutput().dispatch, [], `still waiting at ${t} ms`);
  }
  engine.tick(giveUpAt);
  assert.deepEqual(engine.takeOutput().dispatch.map((d) => d.op), ['start'], 'planned again');
});

test('nodes never seen since the engine started count as lost from then', () => {
  const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, nowMs: 100 });
  engine.onCib(withStatus(emptyCib(config), 'c'));
  engine.onView(['a', 'b'], 200);
  engine.setCoordinator(true, true);
  engine.tick(300);
  assert.deepEqual(engine.takeOutput().dispatch, [], 'c, never seen, may run it until 100 + deadline');
  engine.tick(100 + DEADLINE);
  assert.deepEqual(engine.takeOutput().dispatch.map((d) => d.op), ['start']);
});

test('a member the CIB does not list (it runs nothing and never probes) does not hold the starts back', () => {
  const engine = new TransitionEngine({ nodes: ['a', 'b', 'c'], lostNodeDeadlineMs: DEADLINE, nowMs: 0 });
  engine.onView(['a', 'b', 'c', 'node-4'], 0);
  engine.onCib(withStatus(emptyCib(config), undefined));
  engine.setCoordinator(true, true);
  engine.tick(10);
  const out = engine.takeOutput();
  assert.deepEqual(out.dispatch.map((d) => d.op), ['start'], 'vip starts although node-4 is never online');
  assert.ok(['a', 'b', 'c'].includes(out.dispatch[0]!.node));
});
