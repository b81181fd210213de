import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createAgreedOrderChecker,
  createHandOffChecker,
  createIntegrityChecker,
  createLivenessChecker,
  createSelfDeliveryChecker,
  createViewAgreementChecker,
  createVirtualSynchronyChecker,
} from '../../lib/sim/checkers/index.js';
import { check, Scenario } from './synthetic.js';

/** Three nodes in one view, each broadcasting, everyone delivering the same sequence. */
function healthy(): Scenario {
  return new Scenario()
    .start(1, 2, 3)
    .view(1, 1, [1, 2, 3])
    .broadcast(1, 1)
    .broadcast(2, 1)
    .broadcast(3, 1)
    .deliverAll([1, 2, 3], [[1, 1], [2, 1], [3, 1]]);
}

describe('agreed-order checker', () => {
  it('is silent when all members deliver the same sequence, some only a prefix of it', () => {
    const s = healthy().broadcast(1, 2).deliver(1, 1, 2).deliver(2, 1, 2);
    assert.deepEqual(check(createAgreedOrderChecker(), s), []);
  });

  it('reports two members that deliver two messages in different orders', () => {
    const s = new Scenario().start(1, 2).view(1, 1, [1, 2]).broadcast(1, 1).broadcast(2, 1)
      .deliverAll([1], [[1, 1], [2, 1]])
      .deliverAll([2], [[2, 1], [1, 1]]);
    const problems = check(createAgreedOrderChecker(), s);
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /in view 1\.1, node 2\/1 delivered 2\/1#1 as message #1, but node 1\/1 delivered 1\/1#1 there/);
  });

  it('compares sequences per view, so a new view starts a new sequence', () => {
    const s = healthy().view(2, 1, [1, 2]).broadcast(2, 2).deliverAll([1, 2], [[2, 2]]);
    assert.deepEqual(check(createAgreedOrderChecker(), s), []);
  });
});

describe('virtual-synchrony checker', () => {
  it('is silent when nodes moving together delivered the same messages in the old view', () => {
    const s = healthy().view(2, 1, [1, 2]).view(2, 3, [3]);
    assert.deepEqual(check(createVirtualSynchronyChecker(), s), []);
  });

  it('reports two nodes that move to the same next view after delivering different messages', () => {
    const s = new Scenario().start(1, 2).view(1, 1, [1, 2]).broadcast(1, 1).broadcast(1, 2)
      .deliverAll([1], [[1, 1], [1, 2]])
      .deliverAll([2], [[1, 1]])
      .view(2, 1, [1, 2]);
    const problems = check(createVirtualSynchronyChecker(), s);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /moved from view 1\.1 to 2\.1 but delivered different messages in 1\.1: only 1\/1 delivered \[1\/1#2\]/);
  });

  it('ignores nodes that reach the same view from different views', () => {
    const s = new Scenario().start(1, 2).view(1, 1, [1], [1]).view(1, 2, [2], [2]).broadcast(1, 1).deliver(1, 1, 1).view(2, 1, [1, 2]);
    assert.deepEqual(check(createVirtualSynchronyChecker(), s), []);
  });
});

describe('integrity checker', () => {
  it('is silent on a correct run', () => {
    assert.deepEqual(check(createIntegrityChecker(), healthy()), []);
  });

  it('reports a message delivered twice by one node', () => {
    const problems = check(createIntegrityChecker(), healthy().deliver(2, 1, 1));
    assert.deepEqual(problems, ['node 2/1 delivered 1/1#1 a second time']);
  });

  it('allows a restarted node to deliver a message again in its new incarnation', () => {
    const s = healthy().crash(2).start(2).view(2, 1, [1, 2, 3]).broadcast(1, 2).deliverAll([1, 2, 3], [[1, 2]]);
    assert.deepEqual(check(createIntegrityChecker(), s), []);
  });

  it('reports a delivery of a message that was never broadcast', () => {
    const problems = check(createIntegrityChecker(), healthy().deliver(1, 2, 99));
    assert.match(problems[0]!, /delivered 2\/1#99, which 2\/1 never broadcast/);
  });

  it('reports a delivery whose payload differs from the broadcast', () => {
    const problems = check(createIntegrityChecker(), healthy().broadcast(1, 2, [1, 2, 3]).deliver(3, 1, 2, [1, 2, 4]));
    assert.match(problems[0]!, /with payload 010204, but it was broadcast as 010203/);
  });

  it('reports a delivery in a view that does not contain the sender', () => {
    const s = healthy().view(2, 1, [1, 2], [1, 2]).broadcast(3, 2).deliver(1, 3, 2);
    assert.match(check(createIntegrityChecker(), s)[0]!, /which does not contain the sender/);
  });

  it('reports a delivery before the node installed any view', () => {
    const s = new Scenario().start(1).broadcast(1, 1).deliver(1, 1, 1);
    assert.match(check(createIntegrityChecker(), s)[0]!, /before installing any view/);
  });

  it('reports broadcast() handing out the same msgId twice', () => {
    const s = new Scenario().start(1).broadcast(1, 7).broadcast(1, 7);
    assert.match(check(createIntegrityChecker(), s)[0]!, /returned msgId 7 a second time/);
  });
});

describe('self-delivery checker', () => {
  it('is silent when every live sender delivered its own messages', () => {
    const s = healthy();
    assert.deepEqual(check(createSelfDeliveryChecker(), s, s.end()), []);
  });

  it('reports a live sender that never delivered its own message', () => {
    const s = healthy().broadcast(2, 2).deliver(1, 2, 2).deliver(3, 2, 2);
    const problems = check(createSelfDeliveryChecker(), s, s.end());
    assert.deepEqual(problems, ['node 2/1 never delivered 1 of its own messages: 2/1#2']);
  });

  it('excuses a sender that crashed after broadcasting', () => {
    const s = healthy().broadcast(2, 2).crash(2);
    assert.deepEqual(check(createSelfDeliveryChecker(), s, s.end()), []);
  });
});

describe('view-agreement checker', () => {
  it('is silent when every installer of a view id sees the same members', () => {
    assert.deepEqual(check(createViewAgreementChecker(), healthy().view(2, 1, [1, 2]).view(2, 3, [3])), []);
  });

  it('reports two nodes that see different members for one view id', () => {
    const s = new Scenario().start(1, 2, 3).view(1, 1, [1, 2, 3], [1, 2]).view(1, 1, [1, 3], [3]);
    assert.deepEqual(check(createViewAgreementChecker(), s), ['view 1.1 has members [1,2,3] at node 1/1 but [1,3] at node 3/1']);
  });

  it('reports a view whose members do not include the installer', () => {
    const s = new Scenario().start(1, 2, 3).view(1, 1, [1, 2], [3]);
    assert.match(check(createViewAgreementChecker(), s)[0]!, /do not include itself/);
  });

  it('reports a member list that is not sorted', () => {
    const s = new Scenario().start(1, 2).view(1, 1, [2, 1], [1]);
    assert.match(check(createViewAgreementChecker(), s)[0]!, /not sorted and unique/);
  });

  it('reports a node whose view ids go backwards, also across a restart', () => {
    const s = new Scenario().start(1).view(5, 1, [1]).crash(1).start(1).view(4, 1, [1]);
    assert.match(check(createViewAgreementChecker(), s)[0]!, /installed view 4\.1 after view 5\.1: view ids must strictly increase/);
  });

  it('orders view ids by seq and then by representative', () => {
    const ok = new Scenario().start(2).view(3, 1, [1, 2], [2]).view(3, 2, [2]);
    assert.deepEqual(check(createViewAgreementChecker(), ok), []);
    const bad = new Scenario().start(2).view(3, 2, [2]).view(3, 1, [1, 2], [2]);
    assert.equal(check(createViewAgreementChecker(), bad).length, 1);
  });
});

describe('liveness checker', () => {
  it('is silent when all live nodes share one stable view of exactly themselves', () => {
    const s = healthy();
    assert.deepEqual(check(createLivenessChecker(), s, s.end()), []);
  });

  it('reports live nodes that ended in different views', () => {
    const s = healthy().view(2, 1, [1, 2], [1, 2]).view(2, 3, [3], [3]);
    assert.match(check(createLivenessChecker(), s, s.end())[0]!, /do not share one view of exactly themselves/);
  });

  it('reports a node that is not operational at the end', () => {
    const s = healthy();
    assert.match(check(createLivenessChecker(), s, s.end({ 2: { state: 'gather' } }))[0]!, /node 2\/1 is gather/);
  });

  it('reports a view change inside the stability window', () => {
    const s = healthy();
    const stableFromUs = s.nowUs + 1;
    s.view(2, 1, [1, 2, 3]);
    assert.match(check(createLivenessChecker(), s, s.end({}, stableFromUs))[0]!, /inside the stability window/);
  });

  it('reports broadcasts still queued at the end', () => {
    const s = healthy();
    assert.match(check(createLivenessChecker(), s, s.end({ 3: { sendQueueLength: 2 } }))[0]!, /still queued: node 3 has 2/);
  });

  it('reports a message broadcast in the final view that some live node never delivered', () => {
    const s = healthy().broadcast(3, 2).deliver(3, 3, 2).deliver(1, 3, 2);
    assert.match(check(createLivenessChecker(), s, s.end())[0]!, /3\/1#2, broadcast in the final view 1\.1, was never delivered by node 2\/1/);
  });
});

describe('hand-off checker', () => {
  const bounds = { tokenTimeoutMs: 400, backoffBaseMs: 500, handOffMs: 1_000 };
  /** n2 leaves holding `vip`, stops it at 1 s, and n1 starts it `gapMs` later. */
  const leaveThenStart = (gapMs: number, disturbed: boolean): (string | undefined)[] => {
    const c = createHandOffChecker(bounds);
    const ms = (t: number): number => t * 1000;
    return [
      c.observe({ type: 'leave', timeUs: ms(900), node: 2, incarnation: 1, resources: ['vip'], disturbed }),
      c.observe({ type: 'rsc-active', timeUs: ms(1_000), node: 2, rsc: 'vip', active: false, why: 'stopped' }),
      c.observe({ type: 'rsc-active', timeUs: ms(1_000 + gapMs), node: 1, rsc: 'vip', active: true, why: 'start begins' }),
      c.finish({ timeUs: ms(10_000), stableFromUs: 0, live: [] }),
    ].filter((p) => p !== undefined);
  };

  it('reports a resource of a graceful leaver that starts elsewhere later than the bound', () => {
    assert.deepEqual(leaveThenStart(900, false), []);
    const problems = leaveThenStart(1_500, false);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /n2 left gracefully at 900\.000ms: vip stopped there at 1000\.000ms but started on n1 only at 2500\.000ms, over the hand-off bound of 1000ms/);
  });

  it('does not judge a leave made while a partition, cut or freeze was in effect (seed 7389)', () => {
    assert.deepEqual(leaveThenStart(1_500, true), []);
  });

  it('does not judge a leave cut short by the leaver\'s crash, but still judges one whose leaver stops after stopping everything (seed 8207)', () => {
    const run = (crashBeforeStop: boolean): (string | undefined)[] => {
      const c = createHandOffChecker(bounds);
      const ms = (t: number): number => t * 1000;
      const steps = [
        c.observe({ type: 'leave', timeUs: ms(900), node: 2, incarnation: 1, resources: ['vip'], disturbed: false }),
        ...(crashBeforeStop ? [c.observe({ type: 'crash', timeUs: ms(950), node: 2, incarnation: 1 })] : []),
        c.observe({ type: 'rsc-active', timeUs: ms(1_000), node: 2, rsc: 'vip', active: false, why: crashBeforeStop ? 'its kernel lease ran out' : 'stopped' }),
        ...(crashBeforeStop ? [] : [c.observe({ type: 'crash', timeUs: ms(1_010), node: 2, incarnation: 1 })]),
        c.observe({ type: 'rsc-active', timeUs: ms(3_000), node: 1, rsc: 'vip', active: true, why: 'start begins' }),
      ];
      return steps.filter((p) => p !== undefined);
    };
    assert.deepEqual(run(true), []);
    assert.equal(run(false).length, 1, 'a leaver that stopped its VIP and then exited still owes the hand-off');
  });

  /** n2 leaves holding vip, stops it at 1 s, then `between` happens, and n1 starts vip at 3 s. */
  const withBetween = (between: (c: ReturnType<typeof createHandOffChecker>) => (string | undefined)[]): (string | undefined)[] => {
    const c = createHandOffChecker(bounds);
    const ms = (t: number): number => t * 1000;
    return [
      c.observe({ type: 'leave', timeUs: ms(900), node: 2, incarnation: 1, resources: ['vip'], disturbed: false }),
      c.observe({ type: 'rsc-active', timeUs: ms(1_000), node: 2, rsc: 'vip', active: false, why: 'stopped' }),
      ...between(c),
      c.observe({ type: 'rsc-active', timeUs: ms(3_000), node: 1, rsc: 'vip', active: true, why: 'start begins' }),
    ].filter((p) => p !== undefined);
  };

  it('does not judge a leave the simulator cut short after the leaver had stopped everything (seeds 10677, 14326)', () => {
    assert.deepEqual(withBetween((c) => [c.observe({ type: 'crash', timeUs: 1_010_000, node: 2, incarnation: 1, leaveCutShort: true })]), []);
    assert.equal(withBetween((c) => [c.observe({ type: 'crash', timeUs: 1_010_000, node: 2, incarnation: 1 })]).length, 1, 'a finished leave still owes the hand-off');
  });

  it("does not judge a leave whose leaver's ring broke under it, so that it stopped on its own (seed 5829)", () => {
    assert.deepEqual(withBetween((c) => [c.observe({ type: 'self-stop', timeUs: 1_010_000, node: 2, reason: 'stopping resources on n2: lease expired' })]), []);
    assert.equal(withBetween((c) => [c.observe({ type: 'self-stop', timeUs: 1_010_000, node: 3, reason: 'lost quorum' })]).length, 1, "another node's self-stop changes nothing");
  });
});
