import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsUnavailable } from '../helpers/netns.js';
import { ProcessCluster, type ProcessEvent } from '../helpers/process-cluster.js';

/**
 * Three nodes, each in its own network namespace on one bridge (in a fourth namespace). Cutting
 * the leader's link makes a 2|1 partition with the leader in the minority: it must lose quorum
 * and abort its callback, and the majority must elect one new leader whose callback starts only
 * after the old one was aborted.
 */
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cluster-process.js');
const WAIT_MS = 20_000;
const address = (id: number): string => `10.213.0.${id}`;

test('partition 2|1 in namespaces: the minority leader loses quorum and aborts before the majority leader starts', { timeout: 120_000 }, async (t) => {
  const reason = await netnsUnavailable();
  if (reason !== undefined) {
    t.skip(reason);
    return;
  }
  const lab = new NetnsLab();
  let cluster: ProcessCluster | undefined;
  try {
    const sw = await lab.addNamespace('sw');
    const bridge = lab.name('br');
    await lab.addBridge(sw, bridge);
    const namespaces = new Map<number, string>();
    for (const id of [1, 2, 3]) {
      const ns = await lab.addNamespace(`n${id}`);
      namespaces.set(id, ns);
      await lab.addVeth(ns, lab.name(`e${id}`), sw, lab.name(`p${id}`));
      await lab.attach(sw, lab.name(`p${id}`), bridge);
      await lab.addAddress(ns, lab.name(`e${id}`), `${address(id)}/24`);
    }
    cluster = new ProcessCluster(3, {
      fixture,
      addresses: address,
      spawnNode: (id, argv) => lab.spawn(namespaces.get(id)!, [process.execPath, ...argv]),
      configFor: (id, common) => ({
        options: {
          cluster: 'netns-partition',
          node: { id },
          transport: { nodes: common.nodes, port: common.port },
          keyHex: common.key,
          stateDir: common.stateDir,
          profile: 'lan',
        },
      }),
    });
    cluster.startAll();
    await cluster.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    // The longest-running node coordinates: whichever started first. Cut that one off.
    const firstLeaderStart = (ids: number[]): Promise<ProcessEvent & { node: number }> =>
      Promise.any(ids.map((id) => cluster!.waitFor(id, (e) => e.ev === 'leader-start', WAIT_MS).then((e) => ({ ...e, node: id }))));
    const leaderStart = await firstLeaderStart([1, 2, 3]);
    const leader = leaderStart.node;
    const majority = [1, 2, 3].filter((id) => id !== leader);

    const cutAtMs = Date.now();
    // Only what the leader reports after the cut: a node may also have been alone and not
    // quorate for a moment while the cluster first formed.
    const sinceCut = cluster.nodes.get(leader)!.events.length;
    await lab.setLink(namespaces.get(leader)!, lab.name(`e${leader}`), 'down');

    const lost = await cluster.waitFor(leader, (e) => e.ev === 'quorum' && e.quorate === false, WAIT_MS, sinceCut);
    const aborted = await cluster.waitFor(leader, (e) => e.ev === 'leader-abort', WAIT_MS, sinceCut);
    assert.equal(aborted.epoch, leaderStart.epoch);
    assert.ok((lost.atMs as number) > cutAtMs);

    await cluster.waitForView(majority, majority, WAIT_MS);
    const newLeader = await firstLeaderStart(majority);
    assert.ok((newLeader.epoch as number) > (leaderStart.epoch as number), 'the new term has a larger epoch');
    assert.ok((newLeader.atMs as number) > (aborted.atMs as number), 'the new leader started after the old callback was aborted');
    const other = majority.find((id) => id !== newLeader.node)!;
    assert.equal(cluster.nodes.get(other)!.events.filter((e) => e.ev === 'leader-start').length, 0, `node ${other} never led`);

    // Heal: the cut-off node is heard again and the three merge into one view.
    await lab.setLink(namespaces.get(leader)!, lab.name(`e${leader}`), 'up');
    await cluster.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
  } finally {
    await cluster?.stop();
    await lab.cleanup();
  }
});
