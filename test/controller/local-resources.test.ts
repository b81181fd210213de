import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyCib, type Cib, type CibConfig } from '../../lib/cib/model.js';
import { applyChange } from '../../lib/cib/replica.js';
import { LocalResources, type AgentOperation, type ProposalTag, type ResourceMessage } from '../../lib/controller/local-resources.js';

/**
 * One node's LocalResources (node b, id 2, beside a, id 1), fed by hand: the CIB applies every
 * proposal at once unless a test holds it back, and agents answer as the test says. Each test is
 * a simulator seed's failure (docs/simulator.md, "Known violations") cut down to what mattered.
 */
const config: CibConfig = {
  nodes: [
    { id: '1', name: 'a' },
    { id: '2', name: 'b' },
  ],
  resources: [{ kind: 'primitive', id: 'vip', agent: { class: 'sanode', type: 'dummy' } }],
};
const VIEW1 = { seq: 1, rep: 1 };
const VIEW2 = { seq: 2, rep: 1 };

class Harness {
  readonly lr: LocalResources;
  cib: Cib;
  nowMs = 0;
  /** Every operation handed to the agent, in order. */
  readonly ops: AgentOperation[] = [];
  readonly sends: ResourceMessage[] = [];
  /** Proposals the test holds back instead of applying. */
  readonly held: { change: Parameters<typeof applyChange>[1]; tag: ProposalTag }[] = [];
  holdPending = false;
  coordinator = 1;
  /** What the agent answers to a start, and whether vip runs here (probes and monitors see it). */
  startRc = 0;
  running = false;
  /** What probes answer instead of running/not running (1: a crash leftover, found failed). */
  probeRc: number | undefined;
  /** Operations the agent has not answered yet (those named in holdOps). */
  readonly holdOps = new Set<string>();
  readonly heldOps: AgentOperation[] = [];

  constructor(status?: (cib: Cib) => Cib) {
    this.lr = new LocalResources({
      manage: true, selfStopMs: 1000, leaseWindowMs: 60_000, lostNodeDeadlineMs: () => 3000, unprovenMarginMs: 0,
      moveAwayMs: 10_000, backoffBaseMs: 500, backoffMaxMs: 60_000, wallClockOffsetMs: 0, nowMs: 0,
    });
    let cib = emptyCib(config);
    for (const node of ['a', 'b']) cib = applyChange(cib, { op: 'set-node-state', node, state: 'online' });
    this.cib = status === undefined ? cib : status(cib);
    this.lr.setNodeName('b', 0);
    this.lr.onCib(this.cib, true, 0);
  }

  /** Quorate view of a and b, coordinated by `coordinator`; this node has probed at the end. */
  join(coordinator: number, view = VIEW1): void {
    this.coordinator = coordinator;
    this.lr.onView(['a', 'b'], false, this.nowMs, view);
    this.lr.onQuorum(true, this.nowMs);
    this.lr.onTerm(coordinator, this.nowMs);
    this.settle();
  }

  /** Returns the order's key (the answer carries it). */
  exec(op: 'start' | 'stop', view = VIEW1): string {
    const req = { key: `vip_${op}_0@b#${this.nextKey++}`, node: 'b', rsc: 'vip', op, intervalMs: 0, timeoutMs: 1000 };
    this.lr.onMessage({ t: 'exec', epoch: 7, req, seq: view.seq, rep: view.rep }, this.coordinator, this.nowMs);
    this.settle();
    return req.key;
  }
  private nextKey = 0;

  apply(change: Parameters<typeof applyChange>[1], tag: ProposalTag): void {
    this.cib = applyChange(this.cib, change);
    this.lr.onCib(this.cib, true, this.nowMs);
    this.lr.onProposal(tag, true, this.nowMs);
  }

  settle(): void {
    for (let round = 0; round < 100; round++) {
      this.nowMs += 1;
      const out = this.lr.takeOutput();
      for (const s of out.sends) this.sends.push(s);
      if (out.operations.length === 0 && out.proposals.length === 0) return;
      for (const p of out.proposals) {
        if (this.holdPending && p.tag.k === 'pending') this.held.push(p);
        else this.apply(p.change, p.tag);
      }
      for (const op of out.operations) {
        this.ops.push(op);
        if (this.holdOps.has(op.op)) {
          this.heldOps.push(op);
          continue;
        }
        this.answerOp(op);
      }
    }
    throw new Error('the harness did not settle');
  }

  /** Answers the operations held back so far. */
  releaseOps(): void {
    this.holdOps.clear();
    for (const op of this.heldOps.splice(0)) this.answerOp(op);
    this.settle();
  }

  private answerOp(op: AgentOperation): void {
    let rc = 0;
    if (op.op === 'probe' || op.op === 'monitor') rc = this.running ? 0 : 7;
    if (op.op === 'probe' && this.probeRc !== undefined) rc = this.probeRc;
    if (op.op === 'start') {
      // Like the simulator's agent: a failed start may leave the resource running, unless
      // the agent could not run here at all (not installed, not configured).
      rc = this.startRc;
      if (rc !== 5 && rc !== 6) this.running = true;
    }
    if (op.op === 'stop') this.running = false;
    this.lr.onOperationResult(op.opId, { rc, wallMs: 1_700_000_000_000 + this.nowMs }, this.nowMs);
  }

  /** The answers this node sent to orders with this key. */
  answersTo(key: string): number {
    return this.sends.filter((s) => s.t === 'result' && s.key === key).length;
  }

  opsOf(op: string): number {
    return this.ops.filter((o) => o.rsc === 'vip' && o.op === op).length;
  }
}

/** A harness whose node was ordered to start vip and holds its pending record back. */
function withHeldPendingStart(): Harness & { startKey: string } {
  const h = new Harness();
  h.join(1);
  h.holdPending = true;
  const startKey = h.exec('start');
  assert.equal(h.held.length, 1, 'the pending record is proposed');
  return Object.assign(h, { startKey });
}

/** Applies the held pending record, then asserts the start never ran and a stop record answered it. */
function assertAbandonedOnApply(h: Harness & { startKey: string }): void {
  h.holdPending = false;
  const pending = h.held.shift()!;
  h.apply(pending.change, pending.tag);
  h.settle();
  assert.equal(h.opsOf('start'), 0, 'the start never reaches the agent');
  const ops = [...(h.cib.status.nodes['b']?.resources?.['vip']?.ops ?? [])].sort((x, y) => x.callId - y.callId);
  assert.deepEqual(ops.slice(-2).map((o) => `${o.op} ${o.rc}`), ['start 193', 'stop 0'], 'the pending record is answered with a stop record');
  // The coordinator plans nothing more until every order has answered (seed 29638).
  assert.equal(h.answersTo(h.startKey), 1, 'and the order is answered');
}

test('a start that failed is stopped by the self-stop when the node loses quorum (seed 7015)', () => {
  const h = new Harness();
  h.join(1);
  h.startRc = 1;
  h.exec('start');
  assert.equal(h.opsOf('start'), 1);
  assert.ok(h.lr.activeHere.includes('vip'), 'a failed start may have left vip running: it counts as active here');
  h.lr.onQuorum(false, h.nowMs);
  h.settle();
  assert.equal(h.opsOf('stop'), 1, 'the self-stop stops it');
  assert.equal(h.running, false);
});

test('a start the agent cannot run here at all (not installed) does not count as active', () => {
  const h = new Harness();
  h.join(1);
  h.startRc = 5;
  h.exec('start');
  assert.equal(h.opsOf('start'), 1);
  assert.ok(!h.lr.activeHere.includes('vip'));
  h.lr.onQuorum(false, h.nowMs);
  h.settle();
  assert.equal(h.opsOf('stop'), 0, 'nothing to stop: a stop would fail the same way');
});

test('a start whose pending record lands in a later view than its order does not run (seed 5174)', () => {
  const h = withHeldPendingStart();
  // The ring breaks before it is ordered; the same coordinator leads the next view.
  h.lr.onView(['a', 'b'], false, h.nowMs, VIEW2);
  h.settle();
  assertAbandonedOnApply(h);
});

test('a start whose pending record lands in its own view runs', () => {
  const h = new Harness();
  h.join(1);
  h.holdPending = true;
  h.exec('start');
  h.holdPending = false;
  const pending = h.held.shift()!;
  h.apply(pending.change, pending.tag);
  h.settle();
  assert.equal(h.opsOf('start'), 1);
  assert.ok(h.lr.activeHere.includes('vip'));
});

// A node frozen while its start waited for its pending record resumed, delivered that record
// from its old ring (before it learned of the new one) and ran the start, while the others, past
// its deadline, had started the resource elsewhere.
test('a start whose pending record lands after the lease ran out does not run (seed 25959)', () => {
  const h = withHeldPendingStart();
  // Frozen for longer than the lease window: no token proved the ring meanwhile.
  h.nowMs += 61_000;
  assertAbandonedOnApply(h);
});

test('a start queued behind another operation does not run once the lease has run out', () => {
  const h = new Harness();
  h.join(1);
  // vip is busy with a probe the test answers late; the start waits behind it.
  h.lr.onMessage({ t: 'reprobe', rsc: 'vip' }, 1, h.nowMs);
  const probe = h.lr.takeOutput().operations.find((o) => o.op === 'probe')!;
  assert.ok(probe !== undefined);
  h.exec('start');
  assert.equal(h.opsOf('start'), 0, 'the start waits for the probe');
  // The lease runs out before the probe answers (the start has made no pending record yet).
  h.nowMs += 61_000;
  h.lr.onOperationResult(probe.opId, { rc: 7, wallMs: 1_700_000_000_000 + h.nowMs }, h.nowMs);
  h.settle();
  assert.equal(h.opsOf('start'), 0, 'the start never reaches the agent');
  h.lr.onToken(h.nowMs, h.nowMs);
  h.exec('start');
  assert.equal(h.opsOf('start'), 1, 'with its lease renewed, the next start runs');
});

test('a coordinator whose records the state exchange dropped probes again and starts nothing elsewhere meanwhile (seed 6681)', () => {
  const h = new Harness();
  h.join(2);
  h.exec('start');
  assert.ok(h.running && h.lr.activeHere.includes('vip'));
  const probesBefore = h.opsOf('probe');
  // This node (id 2) coordinates; then a heal's exchange adopts a copy without its records.
  h.lr.onCoordinator(9, h.nowMs);
  h.settle();
  assert.deepEqual(h.sends.filter((s) => s.t === 'exec'), [], 'vip runs here: nothing to do');
  let adopted = emptyCib(config);
  for (const node of ['a', 'b']) adopted = applyChange(adopted, { op: 'set-node-state', node, state: 'online' });
  // As the driver does: the view makes the copy unsynced, and the exchange ends with the adopted one.
  h.lr.onView(['a', 'b'], false, h.nowMs, VIEW2);
  h.lr.onCib(h.cib, false, h.nowMs);
  h.settle();
  h.cib = adopted;
  h.lr.onCib(h.cib, true, h.nowMs);
  h.settle();
  assert.equal(h.opsOf('probe'), probesBefore + 1, 'this node probes vip again');
  assert.equal(h.cib.status.nodes['b']?.state, 'online');
  assert.ok((h.cib.status.nodes['b']?.resources?.['vip']?.ops ?? []).some((o) => o.op === 'monitor' && o.rc === 0), 'and records it running here');
  assert.deepEqual(h.sends.filter((s) => s.t === 'exec' && s.req.op === 'start'), [], 'no start of vip was ordered anywhere');
});

/** What an earlier run of node b left in the CIB: vip failed there once (a monitor found it failed). */
function failedOnceBefore(cib: Cib): Cib {
  const record = { op: 'monitor' as const, intervalMs: 0, rc: 1, timeMs: 1_699_000_000_000, callId: 4 };
  cib = applyChange(cib, { op: 'record-op', node: 'b', resource: 'vip', record });
  return applyChange(cib, { op: 'set-fail-count', node: 'b', resource: 'vip', failCount: 1, lastFailureMs: record.timeMs });
}

const failCountOfB = (h: Harness): number => h.cib.status.nodes['b']?.resources?.['vip']?.failCount ?? 0;

test('a restarted node clears the fail counts its earlier run left before it probes (fault lab seed 423332916)', () => {
  const h = new Harness(failedOnceBefore);
  assert.equal(failCountOfB(h), 1);
  // Its crash left the resource behind, half there: the probe reports it failed.
  h.probeRc = 1;
  h.join(1);
  assert.equal(h.opsOf('probe'), 1);
  assert.equal(failCountOfB(h), 1, 'the leftover counts once, not on top of the earlier run\'s failure');
  assert.equal(h.cib.status.nodes['b']?.state, 'online');
});

test('a node restarted cleanly starts with no fail counts', () => {
  const h = new Harness(failedOnceBefore);
  h.join(1);
  assert.equal(failCountOfB(h), 0);
  assert.equal(h.cib.status.nodes['b']?.resources?.['vip']?.lastFailureMs, undefined);
});

test('fail counts survive a re-probe within one run (quorum lost and regained)', () => {
  const h = new Harness();
  h.probeRc = 1;
  h.join(1);
  assert.equal(failCountOfB(h), 1);
  h.lr.onQuorum(false, h.nowMs);
  h.settle();
  h.lr.onQuorum(true, h.nowMs);
  h.settle();
  assert.equal(h.opsOf('probe'), 2, 'it probes again after regaining quorum');
  assert.equal(failCountOfB(h), 2, 'and the failures of this run add up toward migrationThreshold');
});

// A node whose lease ran out stopped everything, and turned down the start the coordinator
// ordered meanwhile without a word; the coordinator, which plans nothing while an order is
// unanswered, waited out its in-flight timeout with nothing running anywhere.
test('an order that comes while the node stops everything is answered once the stops are done (seed 29638)', () => {
  const h = new Harness();
  h.join(1);
  h.exec('start');
  assert.ok(h.running);
  h.holdOps.add('stop');
  h.nowMs += 61_000; // no token for longer than the lease window
  h.lr.tick(h.nowMs);
  h.settle();
  assert.equal(h.heldOps.filter((o) => o.op === 'stop').length, 1, 'the self-stop hands vip its stop');
  const key = h.exec('start');
  assert.equal(h.answersTo(key), 0, 'not answered while the stop runs: the next plan must see it');
  h.releaseOps();
  assert.equal(h.answersTo(key), 1, 'answered once the stop is done');
  assert.equal(h.opsOf('start'), 1, 'and the start never ran');
  // A self-stop is not recorded as a stop; the probe that follows it says vip is not running here.
  const last = [...(h.cib.status.nodes['b']?.resources?.['vip']?.ops ?? [])].sort((x, y) => x.callId - y.callId).at(-1);
  assert.equal(`${last?.op} ${last?.rc}`, 'monitor 7', 'the CIB says vip does not run here');
});

// A leaving coordinator alone in its ring ordered itself a start, turned it down (it leaves),
// answered, and planned the same start again, in one turn, forever: a node that leaves is in
// standby even when nothing runs there.
test('a node that leaves with nothing running is in standby, so nothing is ordered to it (seed 1653)', () => {
  const h = new Harness();
  h.join(1);
  assert.ok(!h.lr.activeHere.includes('vip'));
  h.lr.requestLeave(h.nowMs);
  h.settle();
  assert.equal(h.cib.status.nodes['b']?.standby, true);
});

test('a leave asked for before quorum sets the standby once quorum comes', () => {
  const h = new Harness();
  h.lr.onView(['a', 'b'], false, h.nowMs, VIEW1);
  h.lr.requestLeave(h.nowMs);
  h.settle();
  assert.notEqual(h.cib.status.nodes['b']?.standby, true, 'nothing can be written without quorum');
  h.lr.onQuorum(true, h.nowMs);
  h.lr.onTerm(1, h.nowMs);
  h.settle();
  assert.equal(h.cib.status.nodes['b']?.standby, true);
});

test('a leaving node turns a start down without running it or writing a record', () => {
  const h = new Harness();
  h.join(1);
  h.lr.requestLeave(h.nowMs);
  h.settle();
  const before = (h.cib.status.nodes['b']?.resources?.['vip']?.ops ?? []).length;
  const key = h.exec('start');
  assert.equal(h.answersTo(key), 1, 'answered');
  assert.equal(h.opsOf('start'), 0, 'not run');
  assert.equal((h.cib.status.nodes['b']?.resources?.['vip']?.ops ?? []).length, before, 'no pending record, no stop record');
});

// The exchange adopted a copy without this node's newest record (a monitor failure there; a stop
// here): the CIB said vip ran here, sticky, and nothing planned anything (seeds 32775, 53847).
test('a node whose newest record the state exchange dropped probes again, though nothing runs here (seed 32775)', () => {
  const h = new Harness();
  h.join(1);
  h.exec('start');
  const showsRunning = h.cib;
  h.exec('stop');
  assert.ok(!h.running && !h.lr.activeHere.includes('vip'));
  const probesBefore = h.opsOf('probe');
  h.lr.onView(['a', 'b'], false, h.nowMs, VIEW2);
  h.lr.onCib(h.cib, false, h.nowMs);
  h.settle();
  h.cib = showsRunning;
  h.lr.onCib(h.cib, true, h.nowMs);
  h.settle();
  assert.equal(h.opsOf('probe'), probesBefore + 1, 'this node probes vip again');
  const last = [...(h.cib.status.nodes['b']?.resources?.['vip']?.ops ?? [])].sort((x, y) => x.callId - y.callId).at(-1);
  assert.equal(`${last?.op} ${last?.rc}`, 'monitor 7', 'and records that vip does not run here');
});
