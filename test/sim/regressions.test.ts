import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadTotem, runOneSeed, type TotemModule } from '../../lib/sim/runner.js';
import { runSimulation, type NodeProbe, type RunResult, type ScriptedNodeFault, type SimOptions } from '../../lib/sim/simulator.js';
import { lostNodeDeadlineMs, takeoverWaitMs } from '../../lib/controller/timing.js';
import { longestHoldoverMs } from '../../lib/node/driver.js';
import { emptyCib } from '../../lib/cib/model.js';
import { simHoldoverMs } from '../../lib/sim/resources.js';

/**
 * Failures found outside (issue 10), replayed under the simulator with the real node driver and
 * resources: the fault sequence is scripted, the rest of the run (latencies, agents) comes from
 * the seed, and every checker watches. Each test states the behaviour that was broken.
 */
let totem: TotemModule;
before(async () => {
  totem = await loadTotem();
});

/** A seed run as the soak ran it, with its whole trace. */
function soakSeed(seed: number, nodes: number, faults: string): { violations: string[]; trace: string[] } {
  const trace: string[] = [];
  const r = runOneSeed(totem, seed, { nodes: [nodes], faults: [faults], profile: 'lan', stopOnViolation: false }, { traceSink: (line) => trace.push(line) });
  return { violations: r.violations.map((v) => `${v.checker}: ${v.message}`), trace };
}

/** The first trace line at or after `from` that matches, or -1. */
function index(trace: readonly string[], pattern: RegExp, from = 0): number {
  for (let i = from; i < trace.length; i++) if (pattern.test(trace[i]!)) return i;
  return -1;
}

interface Replay {
  readonly probes: readonly { readonly atMs: number; readonly nodes: readonly NodeProbe[] }[];
  readonly violations: readonly string[];
  readonly plan: RunResult['plan'];
}

function replay(seed: number, profile: 'lan' | 'fast', faults: readonly ScriptedNodeFault[], probeAtMs: readonly number[], safetyMs: number, extra: Partial<SimOptions> = {}): Replay {
  const r = runSimulation({
    seed, nodes: 3, faults: 'none', profile, timers: totem.PROFILES[profile]!, createCore: totem.createTotem,
    denseIds: true, quorum: {}, safetyMs, stopOnViolation: false,
    scriptedNodeFaults: faults, probeAtMs, ...extra,
  });
  return { probes: r.probes, violations: r.violations.map((v) => `${v.checker}: ${v.message}\n${v.reproduce}`), plan: r.plan };
}

const coordinatorsAt = (r: Replay): (number | undefined)[] =>
  r.probes.map((p) => {
    const named = new Set(p.nodes.filter((n) => n.up && !n.paused && n.quorate).map((n) => n.coordinator));
    return named.size === 1 ? [...named][0] : undefined;
  });

const holdersOf = (r: Replay, rsc: string): number[][] => r.probes.map((p) => p.nodes.filter((n) => n.active.includes(rsc)).map((n) => n.node));

describe('failures found outside, replayed in the simulator', () => {
  // Failure 4: a coordinator frozen long enough for the others to take over came back and took
  // the role back (7 of 7 times), costing a second leader change and its takeover wait, because
  // it kept its incarnation and so still looked like the longest-running member.
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`a coordinator resumed from a freeze does not take the role back (seed ${seed})`, () => {
      // lan: token timeout 400 ms, so a 1.2 s freeze makes the others form a view without it.
      const probeAtMs = [7_000, 7_900, 8_500, 9_000, 10_000, 12_000, 14_000];
      const r = replay(seed, 'lan', [{ atMs: 7_100, kind: 'pause', node: 'coordinator', durationMs: 1_200 }], probeAtMs, 15_000);
      assert.deepEqual(r.violations, []);
      const c = coordinatorsAt(r);
      const first = c[0];
      assert.notEqual(first, undefined, `a coordinator before the freeze: ${JSON.stringify(c)}`);
      const successor = c[1];
      assert.ok(successor !== undefined && successor !== first, `another node took over during the freeze: ${JSON.stringify(c)}`);
      // Every probe after the resume (at 8.3 s) names the successor: the role never went back.
      assert.deepEqual(c.slice(2), c.slice(2).map(() => successor), `coordinators over time ${JSON.stringify(c)}`);
    });
  }

  // Failure 3: the coordinator resumed from a 2.3 s freeze and started a new term; 1.4 s later
  // the resource holder was killed; the survivors formed a quorate view in 69 ms and then no
  // resource action followed for 58 s. Here: the same order of faults on the fast profile; the
  // VIP must run on a survivor well before the run ends, while the killed node stays down. (Not
  // web-app: the seed's agent may fail its start on a survivor, which is then rightly banned.)
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`a holder killed after a coordinator's freeze is replaced (seed ${seed})`, () => {
      const faults: ScriptedNodeFault[] = [
        { atMs: 5_000, kind: 'pause', node: 'coordinator', durationMs: 2_300 },
        { atMs: 8_700, kind: 'crash', node: { holding: 'web-ip' } },
      ];
      const probeAtMs = [4_900, 8_650, 8_800, 20_000, 30_000];
      const r = replay(seed, 'fast', faults, probeAtMs, 30_500);
      assert.deepEqual(r.violations, []);
      const holders = holdersOf(r, 'web-ip');
      assert.equal(holders[0]!.length, 1, `web-ip held before the faults: ${JSON.stringify(holders)}`);
      const killed = holders[1]![0];
      assert.ok(killed !== undefined, `web-ip held just before the kill: ${JSON.stringify(holders)}`);
      assert.equal(r.probes[2]!.nodes.find((n) => n.node === killed)!.up, false, 'the holder was killed');
      for (const i of [3, 4]) {
        assert.equal(holders[i]!.length, 1, `web-ip on one survivor at ${probeAtMs[i]} ms: ${JSON.stringify(holders)}`);
        assert.notEqual(holders[i]![0], killed);
      }
    });
  }

  // Issue 11: the coordinator counted a lost node's deadline from its own view change, so
  // detection (and a token timeout of margin) came on top of the lease and holdover. It counts
  // now from its last token of a ring with that node. A killed holder's VIP must be back on a
  // survivor within that deadline of the kill, plus the starts (never before: resource-exclusivity
  // watches the world). When the holder also coordinated, the successor's takeover wait after
  // detection (docs/leadership.md) may come later, and bounds it instead.
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`a killed holder's resources start elsewhere once its lease and holdover from its last token have run out (seed ${seed})`, () => {
      const killAtMs = 6_000;
      const probeAtMs = [killAtMs - 50, ...Array.from({ length: 600 }, (_, i) => killAtMs + 10 * (i + 1))];
      const r = replay(seed, 'lan', [{ atMs: killAtMs, kind: 'crash', node: { holding: 'web-ip' } }], probeAtMs, 13_000);
      assert.deepEqual(r.violations, []);
      const before = r.probes[0]!.nodes;
      const killed = before.find((n) => n.active.includes('web-ip'))?.node;
      assert.ok(killed !== undefined, 'web-ip is held before the kill');
      const coordinated = before.find((n) => n.node === killed)!.coordinator === killed;
      const movedAt = r.probes.slice(1).find((p) => p.nodes.some((n) => n.node !== killed && n.active.includes('web-ip')))?.atMs;
      assert.ok(movedAt !== undefined, 'web-ip runs on a survivor within 6 s of the kill');
      const plan = r.plan.resources!;
      const deadline = lostNodeDeadlineMs(r.plan.lease, longestHoldoverMs(emptyCib(plan.config), r.plan.lease, plan.selfStopMs, simHoldoverMs));
      // Two group members started in order, each taking at most opLatencyMsMax, plus the probe step.
      const starts = 2 * plan.opLatencyMsMax + 20;
      const t = totem.PROFILES['lan']!;
      const detection = r.plan.lease.tokenTimeoutMs + t.failToRecvMs + t.consensusMs;
      const bound = killAtMs + Math.max(deadline, coordinated ? detection + takeoverWaitMs(r.plan.lease) : 0) + starts;
      assert.ok(movedAt <= bound, `web-ip back at ${movedAt} ms, bound ${Math.round(bound)} ms (deadline ${Math.round(deadline)} ms, holder coordinated: ${coordinated})`);
    });
  }
});

/**
 * Violations of resource-exclusivity the soak of seeds 4001-8000 found (docs/simulator.md,
 * "Known violations"), each run as the soak ran it: every checker must pass, and the trace must
 * still show the situation that broke it, so the seed keeps testing what it was kept for.
 */
describe('resource-exclusivity violations found by the soak', () => {

  // A start ordered in one view whose pending record landed in the next (it waited for that
  // view's state exchange) ran there, while the same coordinator, which forgets its in-flight
  // actions at a view change, started the resource on another node.
  it('a start whose pending record lands in a later view than its order is abandoned (seed 5174)', () => {
    const r = soakSeed(5174, 7, 'crash');
    assert.deepEqual(r.violations, []);
    // Since writes are acknowledged only when safe and the newest ring's copy wins the exchange
    // (docs/cib.md), the seed no longer reaches this shape; test/controller/local-resources.test.ts
    // pins the mechanism (a pending record in a later view abandons the start).
  });

  // A write applied only on the node that made it (its packets were cut; docs/simulator.md, seed
  // 4893) gave its copy a higher epoch, so the heal's state exchange replaced the majority's
  // copy, and with it the record that web-ip ran on the coordinator, which then started it on
  // the other node too.
  it('a coordinator whose records the state exchange dropped probes again before it plans (seed 6681)', () => {
    const r = soakSeed(6681, 3, 'asymmetric');
    assert.deepEqual(r.violations, []);
    // The copy of the newest ring now wins the heal (docs/cib.md, seed 5646), so n108 keeps its
    // records and the seed no longer reaches this shape; test/controller/local-resources.test.ts
    // pins the re-probe after an exchange drops this node's records.
  });

  // A node frozen while its start of web-ip waited for its pending record resumed and delivered
  // that record from its old ring (its first turn, before it learned of the new one), and ran the
  // start although its lease had run out long before, while the others had started web-ip on n65.
  it('a node resumed from a freeze does not run a start once its lease has run out (seed 25959)', () => {
    const r = soakSeed(25959, 3, 'pause');
    assert.deepEqual(r.violations, []);
    const resumed = index(r.trace, /FAULT n144 resumes/);
    assert.ok(resumed >= 0, 'n144 is frozen and resumes');
    assert.ok(index(r.trace, /n144\/1 CIB \S+ record web-ip start rc 193 on n144/, resumed) > resumed, 'it delivers its pending record of web-ip after it resumes');
    assert.equal(index(r.trace, /n144\/1 runs start web-ip/, resumed), -1, 'and does not start web-ip');
  });

  // The same shape within the lease: a node frozen for 682 ms (less than its lease) right after
  // it was ordered to start web-ip resumed, proposed its pending record and, holding the token
  // of a ring the others had just left, delivered it at once and started web-ip, which the
  // coordinator, whose copy never had that record, was starting on itself. A start now waits
  // until its pending record is safe (every member of the ring has it), or is abandoned at the
  // next view (lib/node/driver.ts, unsafePending).
  it('a start waits until its pending record is safe in its ring (seed 50055)', () => {
    const r = soakSeed(50055, 3, 'pause');
    assert.deepEqual(r.violations, []);
  });

  // A start that failed (and may have left the resource running) did not count as active on its
  // node, so the node's self-stop after it lost quorum left it running while the majority, past
  // the node's deadline, started it elsewhere.
  it('a failed start is stopped by the self-stop of a node cut off after it (seed 7015)', () => {
    const r = soakSeed(7015, 5, 'partition');
    assert.deepEqual(r.violations, []);
    // Since a start waits until its pending record is safe (seed 50055), the seed's timing no
    // longer reaches this shape; test/controller/local-resources.test.ts pins the mechanism (a
    // failed start counts as active, so the self-stop stops it).
  });
});

/**
 * Violations of resource-liveness the soak of seeds 26,001-54,000 found (docs/simulator.md,
 * "Known violations"): after the faults stopped, a resource that could run ran nowhere to the end
 * of the run. Each runs as the soak ran it, and its trace must still show what broke it.
 */
describe('resource-liveness violations found by the soak', () => {

  // A node resumed from a freeze applied its own record of a monitor failure in its old ring (its
  // own agreed delivery), and the next view's state exchange adopted a copy without it: the CIB
  // said the resource ran there, sticky, so nothing planned its recovery, while the node waited
  // for a stop. The driver now notices its own records missing after an exchange and probes again.
  for (const { seed, node, rsc, from } of [
    { seed: 32775, node: 'n115', rsc: 'flaky', from: 'n143' },
    { seed: 53847, node: 'n1', rsc: 'web-ip', from: 'n2' },
  ]) {
    it(`a node whose own records the state exchange dropped probes again (seed ${seed})`, () => {
      const r = soakSeed(seed, 3, 'pause');
      assert.deepEqual(r.violations, []);
      const own = new RegExp(`${node}/1 CIB \\S+ record ${rsc} monitor/\\d+ rc [1-9] on ${node} from ${node}`);
      const lostAt = index(r.trace, own);
      assert.ok(lostAt >= 0, `${node} records a monitor failure of ${rsc}`);
      const adoptedAt = index(r.trace, new RegExp(`${node}/1 CIB \\S+ adopted from ${from}`), lostAt);
      assert.ok(adoptedAt > lostAt, `and then adopts ${from}'s copy, which lacks that record`);
      const reprobe = index(r.trace, new RegExp(`${node}/1 CIB \\S+ ${node} offline from ${node}`), adoptedAt);
      assert.ok(reprobe > adoptedAt, `${node} then probes again (it says it is offline first)`);
    });
  }

  // The coordinator ordered a start on a node that was stopping everything (its lease had run
  // out); the node dropped the order without an answer, and the coordinator, which plans nothing
  // while an order is unanswered, waited out the in-flight timeout (10 s) with nothing running.
  for (const { seed, nodes, node } of [
    { seed: 29517, nodes: 3, node: 'n147' },
    { seed: 29638, nodes: 5, node: 'n169' },
  ]) {
    it(`an order a node turns down is answered, so the coordinator plans again (seed ${seed})`, () => {
      const r = soakSeed(seed, nodes, 'all');
      assert.deepEqual(r.violations, []);
      assert.ok(index(r.trace, new RegExp(`bcast ${node}/1 ok \\S+ channel 3 result \\S+_start_0@${node}#\\d+ rc 1 `)) >= 0, `${node} answers a start it did not run`);
    });
  }
});

describe('violations of the 100,000-seed soak of 3938dc8', () => {
  // Both fixes change the traces from early on, so the replays no longer reach the situation;
  // test/totem/superseded-leave.test.ts and test/controller/node-controller.test.ts pin the
  // mechanisms (each fails on the code before its fix). The replays keep the seeds clean.
  it('a leaving node with a last man standing proposal due does not spin on its timer (seed 92196)', () => {
    const r = soakSeed(92196, 3, 'crash');
    assert.deepEqual(r.violations, []);
    assert.ok(index(r.trace, /n94\/1 leaves gracefully/) >= 0, 'the coordinator still leaves in the replay');
  });
  it('seven nodes re-form one ring after a stale graceful leave (seed 89639)', () => {
    const r = soakSeed(89639, 7, 'all');
    assert.deepEqual(r.violations, []);
  });  it("a coordinator's purge of a lost node is never applied in a later view that holds the node (seed 98528)", () => {
    // Before the fix, n10's purge of n105 (decided while n105 was cut off) was overtaken by the
    // view that brought n105 back and proposed again there: n105 itself applied it, which erased
    // its record of the worker it had just started, and n10 started worker too. The purge is bound
    // to the view it was decided in (test/controller/transition.test.ts pins the re-decision).
    const r = soakSeed(98528, 7, 'partition');
    assert.deepEqual(r.violations, []);
    assert.ok(index(r.trace, /n10\/1 CIB \S+ clear-node-resources/) >= 0, 'n10 still purges the lost node in the replay');
    assert.equal(index(r.trace, /n105\/1 CIB \S+ clear-node-resources/), -1, 'the purged node never applies its own purge');
  });
});
