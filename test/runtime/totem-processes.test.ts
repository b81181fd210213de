import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessCluster } from '../helpers/process-cluster.js';

/**
 * Real processes over real UDP on loopback: the totem core, the wire and the transport together.
 * Timeouts here bound the waits (so a hang fails instead of blocking CI); they assert no speed.
 */
const FORM_MS = 20_000;

for (const size of [3, 5]) {
  test(`${size} processes over UDP: the group forms, survives kill -9, re-admits the restarted node, and agrees on 10,000 concurrent broadcasts from every node`, { timeout: 180_000 }, async () => {
    const cluster = new ProcessCluster(size, { profile: 'lan', addressBase: 30 + size });
    const all = Array.from({ length: size }, (_, i) => i + 1);
    try {
      cluster.startAll();
      await cluster.waitForView(all, all, FORM_MS);

      // Every node that installs a given view id reports the same members.
      const byId = new Map<string, string>();
      for (const node of cluster.nodes.values()) {
        for (const e of node.events.filter((x) => x.ev === 'view')) {
          const key = `${e.seq}.${e.rep}`;
          const members = JSON.stringify(e.members);
          assert.equal(byId.get(key) ?? members, members, `view ${key} has two member lists`);
          byId.set(key, members);
        }
      }

      const victim = size; // not the representative, not the lowest id: an ordinary member
      const before = cluster.nodes.get(1)!.events.filter((e) => e.ev === 'view').at(-1)!;
      cluster.kill(victim);
      const survivors = all.filter((id) => id !== victim);
      const after = await cluster.waitForView(survivors, survivors, FORM_MS);
      const survivorView = after.get(1)!;
      assert.ok(
        (survivorView.seq as number) > (before.seq as number),
        'the survivors installed a newer view id after the kill',
      );

      // The restarted node comes back with a new incarnation and is re-admitted.
      const oldIncarnation = cluster.nodes.get(victim)!.events.find((e) => e.ev === 'ready')!.incarnation as number;
      cluster.start(victim);
      const ready = await cluster.waitFor(victim, (e) => e.ev === 'ready', FORM_MS);
      assert.ok((ready.incarnation as number) > oldIncarnation, 'restart gets a larger incarnation');
      await cluster.waitForView(all, all, FORM_MS);

      // Concurrent broadcasts from every node; compare the delivery sequence hashes.
      const perNode = 10_000; // every node sends 10,000: 30,000 or 50,000 in all
      const marks = new Map(all.map((id) => [id, cluster.nodes.get(id)!.events.length]));
      for (const id of all) cluster.send(id, { cmd: 'broadcast', count: perNode, size: 64 });
      for (const id of all) {
        const sent = await cluster.waitFor(id, (e) => e.ev === 'sent', 90_000, marks.get(id));
        assert.equal(sent.count, perNode, `node ${id} queued all its messages`);
      }
      const expected = perNode * size;
      const digests = new Map<number, { delivered: number; hash: string }>();
      const deadline = Date.now() + 90_000;
      while (digests.size < size && Date.now() < deadline) {
        for (const id of all) {
          const mark = cluster.nodes.get(id)!.events.length;
          cluster.send(id, { cmd: 'digest' });
          const d = await cluster.waitFor(id, (e) => e.ev === 'digest', 10_000, mark);
          if (d.delivered === expected) digests.set(id, { delivered: d.delivered as number, hash: d.hash as string });
        }
        if (digests.size < size) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(digests.size, size, `every node delivered all ${expected} messages`);
      const hashes = new Set([...digests.values()].map((d) => d.hash));
      assert.equal(hashes.size, 1, 'every node delivered the same sequence');

      // No node saw its membership change while the load ran.
      await cluster.waitForView(all, all, 1000);
    } finally {
      await cluster.stop();
    }
  });
}
