import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, joinCluster, type Cluster, type ClusterWarning } from '../../lib/index.js';

/**
 * Two nodes started with different keys: each sits alone, and says why, in a coded warning and
 * in status() (issue 12, item 7). Loopback 127.0.124.x; every wait is bounded.
 */
const peers = ['127.0.124.1', '127.0.124.2'];
const WAIT_MS = 20_000;

test('a node whose peer has another key reports SANODE_KEY_MISMATCH naming the address, and shows it in status', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sanode-keymismatch-'));
  const nodes: Cluster[] = [];
  try {
    for (const id of [1, 2]) {
      nodes.push(
        await joinCluster({ cluster: 'key-mismatch', node: { id }, transport: { peers, port: 5471 }, key: generateKey(), stateDir: join(root, `n${id}`), resources: { manage: false } }),
      );
    }
    const [a] = nodes as [Cluster, Cluster];
    const warnings: ClusterWarning[] = [];
    a.on('warning', (w) => warnings.push(w));
    const deadline = Date.now() + WAIT_MS;
    while (a.status().authFailures.length === 0) {
      assert.ok(Date.now() < deadline, 'node 1 noticed the frames of another key');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [source] = a.status().authFailures;
    assert.equal(source!.address, '127.0.124.2:5471');
    assert.equal(source!.node, 2);
    assert.equal(source!.cause, 'key');
    assert.deepEqual(a.view?.members, [1], 'the nodes never share a view');
    // The first warning may have gone out before this listener: status holds the same facts.
    for (const w of warnings) assert.equal(w.code, 'SANODE_KEY_MISMATCH');
  } finally {
    await Promise.allSettled(nodes.map((n) => n.leave()));
    rmSync(root, { recursive: true, force: true });
  }
});
