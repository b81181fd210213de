import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinCluster, type Cluster, type ClusterMessage, type JoinClusterOptions } from '../../lib/index.js';

/**
 * Messages and CIBs over 16 KiB travel as fragments under the ring's own order, each
 * retransmitted on its own (issue 12, item 2): a 3 MiB broadcast reaches every node in agreed
 * order, a 2.5 MB CIB is replicated, and a joiner with an empty state directory receives it whole.
 * Loopback 127.0.127.x; every wait is bounded and nothing asserts a speed.
 */
const WAIT_MS = 60_000;
const peers = ['127.0.127.1', '127.0.127.2', '127.0.127.3'];
const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!done()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function options(root: string, id: number): JoinClusterOptions {
  return { cluster: 'large', node: { id }, transport: { peers, port: 5501 }, security: undefined, key: Buffer.alloc(32, 5), stateDir: join(root, `n${id}`), resources: { manage: false } };
}

test('a 3 MiB broadcast and a 2.5 MB CIB cross the ring whole, and a joiner with no state gets the CIB', { timeout: 180_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'sanode-large-'));
  const nodes: Cluster[] = [];
  try {
    nodes.push(await joinCluster(options(root, 1)), await joinCluster(options(root, 2)));
    await until('a quorate 2-of-3 view', () => nodes.every((n) => n.status().quorum.quorate && n.view?.members.length === 2));
    const [a, b] = nodes as [Cluster, Cluster];

    const received: ClusterMessage[][] = [[], []];
    nodes.forEach((n, i) => n.on('message', (m) => received[i]!.push(m)));
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    // 300 KB fits one wire message but is 250 datagrams: as one totem message it was lost on
    // every retransmission (the receiver's socket buffer takes less than one burst of it).
    const medium = Buffer.alloc(300_000, 3);
    b.broadcast({ medium });
    await until('the 300 KB message on both nodes', () => received.every((r) => r.length === 1));
    received.forEach((r) => r.splice(0));
    a.broadcast({ big });
    b.broadcast('small after big');
    await until('both messages on both nodes', () => received.every((r) => r.length === 2));
    for (const r of received) {
      const whole = r.find((m) => typeof m.data === 'object')!;
      assert.ok(Buffer.from((whole.data as { big: Uint8Array }).big).equals(big), 'the 3 MiB message arrives byte for byte');
    }
    assert.deepEqual(received[0]!.map((m) => m.from), received[1]!.map((m) => m.from), 'one agreed order');

    // 50 resources of 50 KB parameters each: a 2.5 MB CIB, far over one wire message.
    for (let i = 0; i < 50; i++) {
      await a.updateCib({ op: 'set-resource', resource: { kind: 'primitive', id: `r${i}`, agent, params: { blob: `${i}`.padEnd(50_000, 'x') } } });
    }
    const version = a.cib().version;
    await until('node 2 applied every change', () => JSON.stringify(b.cib().version) === JSON.stringify(version));
    assert.equal(b.cib().cib.config.resources.length, 50);

    nodes.push(await joinCluster(options(root, 3)));
    const c = nodes[2]!;
    await until('the joiner synced at the cluster version', () => c.cib().synced && JSON.stringify(c.cib().version) === JSON.stringify(version));
    assert.deepEqual(c.cib().cib, a.cib().cib, 'the joiner holds the whole CIB');
  } finally {
    await Promise.allSettled(nodes.map((n) => n.leave()));
    rmSync(root, { recursive: true, force: true });
  }
});
