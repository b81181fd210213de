import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessCluster, type ProcessEvent } from '../helpers/process-cluster.js';
import type { CibChange } from '../../lib/index.js';

/**
 * The CIB across real processes on loopback: configuration written through one node is on every
 * node's disk, survives kill -9 of every node, and reaches a node that was down when it was
 * written. Every wait is bounded; nothing here asserts a speed.
 */
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cluster-process.js');
const WAIT_MS = 30_000;
const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;

function clusterOf(addressBase: number): ProcessCluster {
  return new ProcessCluster(3, {
    fixture,
    addressBase,
    configFor: (id, common) => ({
      options: {
        cluster: 'cib-test',
        node: { id },
        transport: { nodes: common.nodes, port: common.port },
        keyHex: common.key,
        stateDir: common.stateDir,
        profile: 'lan',
        // Only the replicated configuration is under test: no agent runs, no status is written.
        resources: { manage: false },
      },
    }),
  });
}

let refs = 0;

/** Sends a change through `id` and waits for its outcome. */
async function update(c: ProcessCluster, id: number, change: CibChange): Promise<ProcessEvent> {
  const ref = ++refs;
  const from = c.nodes.get(id)!.events.length;
  c.send(id, { cmd: 'cib-update', change, ref });
  return c.waitFor(id, (e) => (e.ev === 'cib-updated' || e.ev === 'cib-error') && e.ref === ref, WAIT_MS, from);
}

async function cibOf(c: ProcessCluster, id: number): Promise<ProcessEvent> {
  const from = c.nodes.get(id)!.events.length;
  c.send(id, { cmd: 'cib-get' });
  return c.waitFor(id, (e) => e.ev === 'cib-state', WAIT_MS, from);
}

/** Polls (bounded) until every node reports a synced copy at `version`. */
async function waitForVersion(c: ProcessCluster, ids: number[], version: unknown): Promise<Map<number, ProcessEvent>> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const states = new Map<number, ProcessEvent>();
    for (const id of ids) states.set(id, await cibOf(c, id));
    if ([...states.values()].every((s) => s.synced === true && JSON.stringify(s.version) === JSON.stringify(version))) return states;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for CIB version ${JSON.stringify(version)}; have ${[...states].map(([id, s]) => `${id}:${JSON.stringify(s.version)}`).join(' ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function killAll(c: ProcessCluster): Promise<void> {
  for (const id of [1, 2, 3]) c.kill(id);
  const deadline = Date.now() + 10_000;
  while ([1, 2, 3].some((id) => !c.nodes.get(id)!.exited) && Date.now() < deadline) await c.nextEvent(50);
}

test('three processes: configuration written through any node survives kill -9 of every node, identical everywhere with the same version', { timeout: 180_000 }, async () => {
  const c = clusterOf(61);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    await waitForVersion(c, [1, 2, 3], { adminEpoch: 0, epoch: 0, numUpdates: 0 });

    assert.equal((await update(c, 1, { op: 'set-resource', resource: { kind: 'primitive', id: 'ip', agent } })).ev, 'cib-updated');
    assert.equal((await update(c, 2, { op: 'set-resource', resource: { kind: 'primitive', id: 'web', agent } })).ev, 'cib-updated');
    assert.equal((await update(c, 3, { op: 'set-constraint', constraint: { kind: 'order', id: 'ip-then-web', first: 'ip', then: 'web' } })).ev, 'cib-updated');
    const last = await update(c, 1, { op: 'record-op', node: 'node-2', resource: 'ip', record: { op: 'start', intervalMs: 0, rc: 0, timeMs: 1, callId: 1 } });
    assert.equal(last.ev, 'cib-updated');
    assert.deepEqual(last.version, { adminEpoch: 0, epoch: 3, numUpdates: 1 });

    const invalid = await update(c, 2, { op: 'set-constraint', constraint: { kind: 'order', id: 'web-then-ip', first: 'web', then: 'ip' } });
    assert.equal(invalid.ev, 'cib-error', 'a mandatory order cycle is refused');
    assert.equal(invalid.code, 'SANODE_INVALID_CIB');
    assert.match(invalid.message as string, /cycle/);

    const before = await waitForVersion(c, [1, 2, 3], last.version);
    const expected = JSON.stringify(before.get(1)!.cib);
    for (const id of [2, 3]) assert.equal(JSON.stringify(before.get(id)!.cib), expected, `node ${id} holds the same CIB`);
    for (const id of [1, 2, 3]) {
      const onDisk = JSON.parse(readFileSync(join(c.stateRoot, `node-${id}`, 'cib.json'), 'utf8')) as { epoch: number; numUpdates: number };
      assert.deepEqual([onDisk.epoch, onDisk.numUpdates], [3, 1], `node ${id} saved it before reporting it`);
    }

    await killAll(c);
    c.startAll(); // same state directories
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const after = await waitForVersion(c, [1, 2, 3], last.version);
    for (const id of [1, 2, 3]) assert.equal(JSON.stringify(after.get(id)!.cib), expected, `node ${id} came back with the same CIB`);
  } finally {
    await c.stop();
  }
});

test('a node that was down during an update catches up when it rejoins', { timeout: 180_000 }, async () => {
  const c = clusterOf(62);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const first = await update(c, 1, { op: 'set-resource', resource: { kind: 'primitive', id: 'db', agent } });
    assert.equal(first.ev, 'cib-updated');
    await waitForVersion(c, [1, 2, 3], first.version);

    c.kill(3);
    await c.waitForView([1, 2], [1, 2], WAIT_MS);
    const second = await update(c, 2, { op: 'set-node-attribute', node: 'node-1', name: 'disk', value: 'ssd' });
    assert.equal(second.ev, 'cib-updated');
    assert.deepEqual(second.version, { adminEpoch: 0, epoch: 2, numUpdates: 0 });

    c.start(3); // a new process: its event list starts empty
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const states = await waitForVersion(c, [1, 2, 3], second.version);
    assert.equal(JSON.stringify(states.get(3)!.cib), JSON.stringify(states.get(1)!.cib));
    const node3 = c.nodes.get(3)!.events;
    assert.ok(
      node3.some((e) => e.ev === 'cib-changed' && e.cause === 'sync'),
      'node 3 took the newer copy by state transfer',
    );
    const saved = JSON.parse(readFileSync(join(c.stateRoot, 'node-3', 'cib.json'), 'utf8')) as { epoch: number; config: { nodes: { name: string; attributes?: object }[] } };
    assert.equal(saved.epoch, 2, 'and saved it');
    assert.deepEqual(saved.config.nodes.find((n) => n.name === 'node-1')!.attributes, { disk: 'ssd' });
  } finally {
    await c.stop();
  }
});
