import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessCluster, type ProcessEvent } from '../helpers/process-cluster.js';
import type { JoinClusterOptions } from '../../lib/index.js';

/**
 * joinCluster in separate processes on loopback. Waits are bounded (a hang fails the test);
 * nothing here asserts a speed target — bench/ measures those.
 */
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cluster-process.js');
const WAIT_MS = 20_000;

function clusterOf(size: number, addressBase: number, extra: Partial<JoinClusterOptions> = {}): ProcessCluster {
  return new ProcessCluster(size, {
    fixture,
    addressBase,
    configFor: (id, common) => ({
      options: {
        cluster: 'api-test',
        node: { id },
        transport: { nodes: common.nodes, port: common.port },
        keyHex: common.key,
        stateDir: common.stateDir,
        profile: 'lan',
        ...extra,
      },
    }),
  });
}

const leaderStarts = (c: ProcessCluster): (ProcessEvent & { node: number })[] =>
  [...c.nodes.values()].flatMap((n) => n.events.filter((e) => e.ev === 'leader-start').map((e) => ({ ...e, node: n.id })));

async function waitForLeader(c: ProcessCluster, among: number[], after: number, timeoutMs = WAIT_MS): Promise<ProcessEvent & { node: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = leaderStarts(c).find((e) => among.includes(e.node) && (e.atMs as number) > after);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no leader among ${among} after ${after} within ${timeoutMs} ms`);
    await c.nextEvent(100);
  }
}

test('three processes: exactly one leader; kill -9 of the leader moves leadership to a survivor with a larger epoch', { timeout: 120_000 }, async () => {
  const c = clusterOf(3, 51);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const first = await waitForLeader(c, [1, 2, 3], 0);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(leaderStarts(c).length, 1, 'one leader, and only one');

    const killedAtMs = Date.now();
    c.kill(first.node);
    const survivors = [1, 2, 3].filter((id) => id !== first.node);
    const next = await waitForLeader(c, survivors, killedAtMs);
    assert.ok((next.epoch as number) > (first.epoch as number), 'epochs only grow');
    assert.ok((next.atMs as number) > killedAtMs, 'the new leader started after the old one died');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(leaderStarts(c).filter((e) => (e.atMs as number) > killedAtMs).length, 1, 'one new leader, not two');
  } finally {
    await c.stop();
  }
});

test('a graceful leave() hands leadership over faster than a crash does', { timeout: 120_000 }, async () => {
  const c = clusterOf(3, 52);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const first = await waitForLeader(c, [1, 2, 3], 0);

    const leftAtMs = Date.now();
    c.send(first.node, { cmd: 'leave' });
    const rest = [1, 2, 3].filter((id) => id !== first.node);
    const afterLeave = await waitForLeader(c, rest, leftAtMs);
    const abort = c.nodes.get(first.node)!.events.find((e) => e.ev === 'leader-abort');
    assert.ok(abort !== undefined && (abort.atMs as number) <= (afterLeave.atMs as number), 'the old callback was aborted before the new one started');
    const leaveHandoverMs = (afterLeave.atMs as number) - leftAtMs;

    const killedAtMs = Date.now();
    c.kill(afterLeave.node);
    const last = rest.filter((id) => id !== afterLeave.node);
    // One node of three is not quorate: restart the one that left so the crash case has a majority.
    c.start(first.node);
    const afterCrash = await waitForLeader(c, [...last, first.node], killedAtMs, 40_000);
    const crashHandoverMs = (afterCrash.atMs as number) - killedAtMs;
    assert.ok(leaveHandoverMs < crashHandoverMs, `leave handover ${leaveHandoverMs.toFixed(0)} ms should beat crash handover ${crashHandoverMs.toFixed(0)} ms`);
  } finally {
    await c.stop();
  }
});

test('two nodes with twoNode: the cluster survives the loss of either node', { timeout: 120_000 }, async () => {
  for (const victim of [1, 2]) {
    const c = clusterOf(2, 53 + victim, { quorum: { twoNode: true } });
    try {
      c.startAll();
      await c.waitForView([1, 2], [1, 2], WAIT_MS);
      const leader = await waitForLeader(c, [1, 2], 0);
      const killedAtMs = Date.now();
      c.kill(victim);
      const survivor = victim === 1 ? 2 : 1;
      await c.waitForView([survivor], [survivor], WAIT_MS);
      const quorum = await c.waitFor(survivor, (e) => e.ev === 'quorum' && (e.atMs as number) > killedAtMs, WAIT_MS);
      assert.equal(quorum.quorate, true, `node ${survivor} alone stays quorate`);
      assert.equal(quorum.reason, 'two-node');
      // Either node may have been coordinating (the one that started first): both cases happen
      // over the two victims unless the same node wins both starts.
      if (victim === leader.node) {
        const next = await waitForLeader(c, [survivor], killedAtMs);
        assert.equal(next.node, survivor, 'and the survivor leads');
      } else {
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(leaderStarts(c).filter((e) => e.node === survivor).length, 1, 'the leader kept leading, without a restart');
      }
    } finally {
      await c.stop();
    }
  }
});

test("the death of a follower does not interrupt the leader's callback", { timeout: 120_000 }, async () => {
  const c = clusterOf(3, 57);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const leader = await waitForLeader(c, [1, 2, 3], 0);
    const follower = [1, 2, 3].find((id) => id !== leader.node)!;
    c.kill(follower);
    const rest = [1, 2, 3].filter((id) => id !== follower);
    await c.waitForView(rest, rest, WAIT_MS);
    await new Promise((r) => setTimeout(r, 1000));
    const events = c.nodes.get(leader.node)!.events;
    assert.equal(events.filter((e) => e.ev === 'leader-abort').length, 0, 'the callback was never aborted');
    assert.equal(events.filter((e) => e.ev === 'leader-start').length, 1, 'and never restarted');
  } finally {
    await c.stop();
  }
});

test('epochs keep growing across a restart of every node (they derive from the persisted ring seq)', { timeout: 120_000 }, async () => {
  const c = clusterOf(3, 58);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const before = await waitForLeader(c, [1, 2, 3], 0);
    for (const id of [1, 2, 3]) c.kill(id);
    const deadline = Date.now() + 10_000;
    while ([1, 2, 3].some((id) => !c.nodes.get(id)!.exited) && Date.now() < deadline) await c.nextEvent(50);
    const restartedAtMs = Date.now();
    c.startAll(); // same state directories: only the persisted ring seq and incarnation survive
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const after = await waitForLeader(c, [1, 2, 3], restartedAtMs);
    assert.ok((after.epoch as number) > (before.epoch as number), `epoch ${after.epoch} after a full restart must exceed ${before.epoch}`);
  } finally {
    await c.stop();
  }
});
