import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinCluster, isSanodeError, type Cluster, type ClusterMessage } from '../../lib/index.js';

/**
 * A broadcast() or updateCib() over the largest message (64 MiB by default) is refused to its caller
 * and never reaches the ring:
 * ordered delivery goes on for every node afterwards (issue 12, item 1). Three nodes in one
 * process on loopback 127.0.120.x; every wait is bounded and nothing asserts a speed.
 */
const WAIT_MS = 20_000;
const peers = ['127.0.120.1', '127.0.120.2', '127.0.120.3'];
const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;

function bounded<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function startThree(root: string, port: number): Promise<Cluster[]> {
  const nodes = await Promise.all(
    [1, 2, 3].map((id) =>
      joinCluster({
        cluster: 'size-test',
        node: { id },
        transport: { peers, port },
        security: 'insecure',
        stateDir: join(root, `node-${id}`),
        resources: { manage: false },
      }),
    ),
  );
  await bounded(
    'a quorate 3-node view',
    (async () => {
      while (!nodes.every((n) => n.status().quorum.quorate && n.view?.members.length === 3)) await new Promise((r) => setTimeout(r, 50));
    })(),
  );
  return nodes;
}

function isTooLarge(error: unknown): boolean {
  assert.ok(isSanodeError(error), `a SanodeError, got ${String(error)}`);
  assert.equal(error.code, 'SANODE_MESSAGE_TOO_LARGE');
  assert.match(error.message, /largest message/);
  return true;
}

test('an oversized broadcast or CIB change is refused before queueing and the ring keeps delivering', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sanode-size-'));
  const nodes = await startThree(root, 5431);
  try {
    const [a, b, c] = nodes as [Cluster, Cluster, Cluster];
    const queuedBefore = a.status().totem.sendQueueLength;
    assert.throws(() => a.broadcast({ blob: Buffer.alloc(64 * 1024 * 1024 + 1024, 7) }), isTooLarge);
    assert.equal(a.status().totem.sendQueueLength, queuedBefore, 'the refused message is not left in the send queue');
    await assert.rejects(
      a.updateCib({ op: 'set-resource', resource: { kind: 'primitive', id: 'big', agent, params: { blob: 'x'.repeat(64 * 1024 * 1024 + 1024) } } }),
      isTooLarge,
    );

    // Every node, the refused sender included, still gets ordered messages from everyone.
    const received = nodes.map(() => [] as ClusterMessage[]);
    nodes.forEach((n, i) => n.on('message', (m) => received[i]!.push(m)));
    a.broadcast('after-a');
    b.broadcast('after-b');
    await bounded(
      'both small broadcasts on all three nodes',
      (async () => {
        while (!received.every((r) => r.length >= 2)) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
    );
    const orders = received.map((r) => r.map((m) => String(m.data)).join(','));
    assert.deepEqual(new Set(orders).size, 1, `one agreed order on every node: ${orders.join(' | ')}`);
    assert.deepEqual(new Set(orders[0]!.split(',')), new Set(['after-a', 'after-b']));

    // A small CIB change from another node settles, and the refused sender's next one too.
    await bounded('a 1 KiB CIB change from node 3', c.updateCib({ op: 'set-resource', resource: { kind: 'primitive', id: 'small', agent, params: { p: 'y'.repeat(1024) } } }));
    await bounded('a small CIB change from node 1', a.updateCib({ op: 'set-resource', resource: { kind: 'primitive', id: 'small2', agent } }));
    for (const n of nodes) {
      await bounded('node has both resources', (async () => {
        while (n.cib().cib.config.resources.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      })());
      assert.deepEqual(n.cib().cib.config.resources.map((r) => r.id).sort(), ['small', 'small2']);
    }
  } finally {
    await Promise.allSettled(nodes.map((n) => n.leave()));
    rmSync(root, { recursive: true, force: true });
  }
});
