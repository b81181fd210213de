import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaLab, type Profile } from '../helpers/ha-lab.js';
import { formatReport, randomSeed, runFaultLab, type FaultLabReport } from '../helpers/fault-lab.js';

/**
 * The fault lab, CI-sized (docs/fault-lab.md): three nodes and a client in network namespaces,
 * the group `web` (VIP + HTTP server), and a seeded schedule of at least 30 faults — kill -9 and
 * SIGSTOP of the holder, a link cut, a 2|1 partition, one-way loss, a graceful leave, a kill of
 * every node — each applied, held, healed and settled. Everything is recorded for the whole run
 * and judged afterwards: the VIP never on two nodes, never two nodes answering the client, never
 * two leader callbacks acting at once, no stretch without the VIP beyond the profile's failover
 * bound, and the configuration set at the start still there after every kill of every node.
 *
 * SANODE_FAULTLAB_SEED (default: random, printed), SANODE_FAULTLAB_FAULTS (default 30),
 * SANODE_FAULTLAB_PROFILES (default lan; a comma list runs one schedule per profile). The manual
 * run of ≥ 300 faults is bench/fault-lab.ts. Needs root and `ip netns`; skipped otherwise.
 */
const seed = process.env.SANODE_FAULTLAB_SEED === undefined ? randomSeed() : Number(process.env.SANODE_FAULTLAB_SEED);
const faults = Number(process.env.SANODE_FAULTLAB_FAULTS ?? '30');
const profiles = (process.env.SANODE_FAULTLAB_PROFILES ?? 'lan').split(',').map((p) => p.trim()) as Profile[];

test(`fault lab in namespaces: ${faults} seeded faults (seed ${seed}), VIP never on two nodes, one answering node, one acting leader, bounded gaps, configuration kept`, { timeout: 600_000 * profiles.length }, async (t) => {
  const reason = await HaLab.unavailable();
  if (reason !== undefined) {
    t.skip(`fault lab: ${reason}`);
    return;
  }
  assert.ok(Number.isSafeInteger(seed) && seed >= 0, `SANODE_FAULTLAB_SEED must be a non-negative integer, got ${process.env.SANODE_FAULTLAB_SEED}`);
  assert.ok(Number.isSafeInteger(faults) && faults >= 1, `SANODE_FAULTLAB_FAULTS must be a positive integer, got ${process.env.SANODE_FAULTLAB_FAULTS}`);
  for (const profile of profiles) assert.ok(['lan', 'fast', 'wan'].includes(profile), `SANODE_FAULTLAB_PROFILES: unknown profile ${profile}`);
  t.diagnostic(`seed ${seed} (rerun with SANODE_FAULTLAB_SEED=${seed})`);
  for (const profile of profiles) {
    // SANODE_KEEP_LAB=1 keeps the lab dir (node events, watcher reports, client samples) of a clean run too.
    const report: FaultLabReport = await runFaultLab({ profile, seed, faults, holdMs: [300, 2500], keepDir: process.env.SANODE_KEEP_LAB === '1', log: (line) => t.diagnostic(line) });
    const text = formatReport(report);
    for (const line of text.split('\n')) t.diagnostic(line);
    // Safety first: these are the failures that matter most.
    assert.equal(report.vipOverlapMs, 0, `the VIP was on two nodes at once\n${text}`);
    assert.deepEqual(report.dualAnswers, [], `two nodes answered the client\n${text}`);
    assert.deepEqual(report.leaderOverlaps, [], `two leader callbacks acted at once\n${text}`);
    assert.equal(report.wedge, undefined, `the cluster did not settle after a fault\n${text}`);
    assert.equal(report.faults.length, faults, `every planned fault ran\n${text}`);
    assert.ok(report.faults.some((f) => f.kind === 'kill-all') || faults < 7, `the schedule included a kill of every node\n${text}`);
    assert.deepEqual(report.gapViolations, [], `a stretch without the VIP exceeded the failover bound\n${text}`);
    assert.ok(report.configChecks.length >= 3, `configuration checked on every node\n${text}`);
    assert.deepEqual(report.configChecks.filter((c) => !c.ok), [], `the configuration set at the start was lost\n${text}`);
    assert.ok(report.answers > 0, 'the client was answered');
  }
});
