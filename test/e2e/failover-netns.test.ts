import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { HaLab, NODE_IDS, nodeIdOf, nodeName, sleep } from '../helpers/ha-lab.js';

/**
 * Failover on real namespaces (test/helpers/ha-lab.ts): three sanode processes, each in its own
 * network namespace on one bridge, run the group `web` = a kernel-leased VIP (10.77.0.100) + an
 * HTTP server bound to it; a client in a fourth namespace asks through the VIP every 10 ms.
 *
 * One lab is shared by the steps below, in order; each step starts from a settled cluster (three
 * nodes in one view, the service answering from one node, the VIP on that node only). Throughout,
 * a watcher in every node namespace records the VIP's presence, and every step asserts the VIP
 * was never present on two nodes at once.
 *
 * Needs root (network namespaces); skipped otherwise. Waits are bounded and generous (a busy
 * 2-core machine): no step asserts how fast anything happened, only what happened and in which
 * order; the client-observed outages are printed as diagnostics.
 */
const WAIT_MS = 60_000;
const nowMs = (): number => performance.timeOrigin + performance.now();

test('failover in namespaces: the VIP and its service move on crash, cut, monitor failure and standby, never on two nodes at once', { timeout: 420_000 }, async (t) => {
  const reason = await HaLab.unavailable();
  if (reason !== undefined) {
    t.skip(reason);
    return;
  }
  // SANODE_KEEP_LAB=1 keeps the lab dir (node events, watcher reports) even when every step passes.
  const lab = new HaLab({ profile: 'lan', leaseSeconds: 3, monitorMs: 1000, resourceStickiness: 100, migrationThreshold: 2, keepDir: process.env.SANODE_KEEP_LAB === '1' });
  const startedAt = nowMs();
  try {
    await lab.setup();
    lab.startAll();
    lab.startClient();

    /** Three nodes in one view, one node serving, the VIP on it alone; returns that node's id. */
    const settle = async (): Promise<number> => {
      for (const id of NODE_IDS) if (!lab.running(id)) await lab.reboot(id);
      await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
      const served = await lab.waitForService(WAIT_MS);
      const holder = nodeIdOf(served);
      await lab.waitUntil(`the VIP on node ${holder} only`, () => JSON.stringify(lab.holders()) === JSON.stringify([holder]), WAIT_MS);
      return holder;
    };
    const noOverlap = (since: number, what: string): void => {
      assert.deepEqual(lab.overlaps(since), [], `${what}: the VIP was on two nodes at once\n${lab.describe()}`);
    };
    const step = (name: string, body: (t: TestContext) => Promise<void>) =>
      t.test(name, async (st) => {
        try {
          await body(st);
        } catch (error) {
          lab.options.keepDir = true; // the node events and watcher reports, for the post-mortem
          st.diagnostic(lab.describe());
          throw error;
        }
      });

    await step('the client sees the service through the VIP, served by the one node that holds it', async (st) => {
      const holder = await settle();
      const starts = lab.resourceEvents(holder).filter((e) => e.rsc === 'web-ip' && e.op === 'start' && e.rc === 0);
      assert.ok(starts.length >= 1, `node ${holder} reported starting web-ip`);
      for (const id of NODE_IDS) {
        if (id === holder) continue;
        assert.equal(lab.resourceEvents(id).filter((e) => e.op === 'start' && e.rc === 0).length, 0, `node ${id} started nothing`);
      }
      st.diagnostic(`served by node ${holder}; watcher's largest sampling pause ${lab.watcherMaxGapMs().toFixed(0)} ms`);
      noOverlap(startedAt, 'formation');
    });

    await step('kill -9 of the holder: the service comes back on another node once the old VIP lease has run out', async (st) => {
      const victim = await settle();
      const since = nowMs();
      // Right after a renewal: the worst case, the killed node's VIP lingers a whole lease.
      const renewedAt = await lab.waitForRenewal(victim, WAIT_MS);
      const killedAt = lab.crash(victim);
      const survivor = nodeIdOf(await lab.waitForService(WAIT_MS, { not: nodeName(victim) }));
      await lab.waitUntil(`the VIP on node ${survivor} only`, () => JSON.stringify(lab.holders()) === JSON.stringify([survivor]), WAIT_MS);
      const outage = lab.outageMs(killedAt - 1000, nowMs());
      const lingered = lab.presence().find((i) => i.node === victim && i.toMs > killedAt && i.toMs !== Infinity);
      st.diagnostic(
        `kill -9 of node ${victim} ${(killedAt - renewedAt).toFixed(0)} ms after a VIP renewal: its VIP lingered ${lingered === undefined ? '?' : (lingered.toMs - killedAt).toFixed(0)} ms; node ${survivor} serves; client outage ${outage.outageMs.toFixed(0)} ms; VIP handover gap ${lab.minHandoverGapMs(since).toFixed(0)} ms`,
      );
      // The victim comes back (its orphaned server ended, as a reboot would): stickiness keeps web where it is.
      await lab.reboot(victim);
      await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
      const rejoinedAt = nowMs();
      await sleep(3000);
      const answered = lab.answeredBy(rejoinedAt);
      const holders = lab.holders();
      // Safety first: a failure here is the one that matters most.
      noOverlap(since, 'kill -9 and rejoin');
      assert.deepEqual(answered, [nodeName(survivor)], 'the service stayed on the survivor after the victim rejoined');
      assert.deepEqual(holders, [survivor]);
    });

    for (const mode of ['silent', 'link-down'] as const) {
      const how = mode === 'silent' ? 'disabling its bridge port (its link stays up)' : 'taking its bridge port down (its link loses carrier)';
      await step(`cutting the holder off by ${how}: the cut-off node drops the VIP by itself, the service comes back elsewhere`, async (st) => {
        const victim = await settle();
        const since = nowMs();
        const from = lab.history.get(victim)!.length;
        const cutAt = await lab.cut(victim, mode);
        try {
          const survivor = nodeIdOf(await lab.waitForService(WAIT_MS, { not: nodeName(victim) }));
          // Silent: the victim's link keeps carrier, so only its loss of quorum can remove the VIP
          // there (its VIP monitor still sees a healthy link).
          await lab.waitUntil(`node ${victim} drops the VIP`, () => !lab.holders().includes(victim), WAIT_MS);
          const stopped = lab.resourceEvents(victim, from).find((e) => e.rsc === 'web-ip' && e.op === 'stop' && e.rc === 0);
          assert.ok(stopped !== undefined, `node ${victim} reported stopping web-ip after the cut`);
          const vipGone = lab.presence().find((i) => i.node === victim && i.toMs >= cutAt && i.toMs !== Infinity)!.toMs;
          const vipBack = lab.presence().find((i) => i.node === survivor && i.fromMs >= cutAt)?.fromMs;
          const outage = lab.outageMs(cutAt - 1000, nowMs());
          st.diagnostic(
            `cut (${mode}) node ${victim}: it dropped the VIP ${(vipGone - cutAt).toFixed(0)} ms after the cut, node ${survivor} added it ${vipBack === undefined ? '?' : (vipBack - cutAt).toFixed(0)} ms after; client outage ${outage.outageMs.toFixed(0)} ms`,
          );
          noOverlap(since, `cut (${mode})`);
        } finally {
          await lab.restore(victim);
        }
        await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
        const healedAt = nowMs();
        await sleep(3000);
        assert.equal(lab.answeredBy(healedAt).length, 1, 'one node served after the heal');
        noOverlap(since, `cut (${mode}) and heal`);
      });
    }

    await step('a failing monitor restarts the service in place; at migration-threshold (2) failures it moves', async (st) => {
      const holder = await settle();
      const since = nowMs();
      const name = nodeName(holder);
      const initialFails = await lab.failCount(holder, 'web-app', name);
      assert.equal(initialFails, 0, 'no failures recorded before');

      // First failure: kill the HTTP server from outside; the monitor notices, web-app restarts on the same node.
      const [first] = await lab.serverPids(holder);
      assert.ok(first !== undefined, `an HTTP server runs in node ${holder}'s namespace`);
      let from = lab.history.get(holder)!.length;
      process.kill(first, 'SIGKILL');
      await lab.waitForEvent(holder, 'a failed web-app monitor', (e) => e.ev === 'resource' && e.rsc === 'web-app' && e.op === 'monitor' && (e.intervalMs as number) > 0 && e.rc !== 0, WAIT_MS, from);
      await lab.waitForEvent(holder, 'web-app started again', (e) => e.ev === 'resource' && e.rsc === 'web-app' && e.op === 'start' && e.rc === 0, WAIT_MS, from);
      const restartedBy = await lab.waitForService(WAIT_MS, { from: lab.client.length });
      assert.equal(restartedBy, name, 'restarted in place');
      const [second] = await lab.serverPids(holder);
      assert.ok(second !== undefined && second !== first, 'a new server process');
      await lab.eventually('failCount 1 in the CIB', () => lab.failCount(holder, 'web-app', name), (n) => n === 1, WAIT_MS);
      assert.deepEqual(lab.holders(), [holder], 'the VIP stayed put');

      // Second failure: the threshold is reached, web (the whole group) leaves the node.
      from = lab.history.get(holder)!.length;
      process.kill(second, 'SIGKILL');
      const moved = nodeIdOf(await lab.waitForService(WAIT_MS, { not: name }));
      await lab.waitUntil(`the VIP on node ${moved} only`, () => JSON.stringify(lab.holders()) === JSON.stringify([moved]), WAIT_MS);
      await lab.eventually('failCount 2 on the old node', () => lab.failCount(moved, 'web-app', name), (n) => n === 2, WAIT_MS);
      assert.equal((await lab.serverPids(holder)).length, 0, `no server left in node ${holder}'s namespace`);
      st.diagnostic(`two monitor failures on node ${holder}: restarted in place once, then moved to node ${moved}`);
      noOverlap(since, 'monitor failures');
    });

    await step('cleanup clears the failures (failCount back to 0) and stickiness keeps the service where it is', async () => {
      const holder = await settle();
      const since = nowMs();
      const failed = NODE_IDS.filter((id) => id !== holder);
      const counts = async (): Promise<number[]> => {
        const out: number[] = [];
        for (const via of NODE_IDS) for (const id of NODE_IDS) out.push(await lab.failCount(via, 'web-app', nodeName(id)));
        return out;
      };
      assert.ok((await counts()).some((n) => n > 0), 'failures recorded before cleanup');
      await lab.admin(holder, 'cleanup', ['web-app']);
      await lab.eventually('failCount 0 for every node, as every node sees it', counts, (all) => all.every((n) => n === 0), WAIT_MS);
      await sleep(3000);
      assert.deepEqual(lab.answeredBy(since), [nodeName(holder)], `the service stayed on node ${holder} (failed earlier on ${failed.join(',')})`);
      assert.deepEqual(lab.holders(), [holder]);
      noOverlap(since, 'cleanup');
    });

    await step('standby moves the resources away; stickiness keeps them put when the node is online again', async (st) => {
      const holder = await settle();
      const since = nowMs();
      await lab.admin(holder, 'standby', [nodeName(holder), true]);
      const target = nodeIdOf(await lab.waitForService(WAIT_MS, { not: nodeName(holder) }));
      await lab.waitUntil(`the VIP on node ${target} only`, () => JSON.stringify(lab.holders()) === JSON.stringify([target]), WAIT_MS);
      const outage = lab.outageMs(since, nowMs());
      st.diagnostic(`standby node ${holder}: moved to node ${target}; client outage ${outage.outageMs.toFixed(0)} ms`);
      await lab.admin(target, 'standby', [nodeName(holder), false]);
      const onlineAt = nowMs();
      await sleep(4000);
      assert.deepEqual(lab.answeredBy(onlineAt), [nodeName(target)], 'stickiness kept the service on the node it moved to');
      assert.deepEqual(lab.holders(), [target]);
      noOverlap(since, 'standby');
    });

    assert.deepEqual(lab.overlaps(startedAt), [], 'over the whole run the VIP was never on two nodes at once');
    t.diagnostic(`watcher's largest sampling pause over the run: ${lab.watcherMaxGapMs().toFixed(0)} ms; lab dir ${lab.dir}`);
  } finally {
    await lab.cleanup();
  }
});
