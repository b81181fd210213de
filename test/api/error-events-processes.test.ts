import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcessEvent } from '../helpers/process-cluster.js';
import { dummyGroup, resourceCluster } from '../helpers/resource-cluster.js';
import type { CibConfig } from '../../lib/index.js';

/**
 * The 'error' events the README names, from joined nodes in real processes: a node whose id the
 * CIB does not list says so (SANODE_NODE_NOT_IN_CIB) and runs nothing, and a node that loses
 * quorum stops its resources on its own and says so (SANODE_SELF_STOP). Every event of every
 * node is recorded; the assertions read the whole record.
 */
const WAIT_MS = 30_000;

/** The CIB knows nodes 1 and 2 only; group `web` prefers web1. */
const cib: CibConfig = {
  nodes: [
    { id: '1', name: 'web1' },
    { id: '2', name: 'web2' },
  ],
  resources: [dummyGroup('web', ['ip', 'app'])],
  constraints: [{ kind: 'location', id: 'web-on-web1', rsc: 'web', node: 'web1', score: 100 }],
};

const errors = (events: readonly ProcessEvent[]): { code: string; message: string }[] =>
  events.filter((e) => e.ev === 'error').map((e) => ({ code: String(e.code), message: String(e.message) }));
const ops = (events: readonly ProcessEvent[], op: string): string[] => events.filter((e) => e.ev === 'resource' && e.op === op && e.intervalMs === 0).map((e) => `${String(e.rsc)} rc ${String(e.rc)}`);

test('a node the CIB does not list reports SANODE_NODE_NOT_IN_CIB; a node that loses quorum reports SANODE_SELF_STOP and stops its group', { timeout: 120_000 }, async () => {
  const c = resourceCluster({ cluster: 'error-events', addressBase: 83, names: ['web1', 'web2', 'web3'], cib });
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    await c.waitFor(1, (e) => e.ev === 'resource' && e.rsc === 'app' && e.op === 'start' && e.rc === 0, WAIT_MS);
    const notInCib = await c.waitFor(3, (e) => e.ev === 'error' && e.code === 'SANODE_NODE_NOT_IN_CIB', WAIT_MS);
    assert.match(String(notInCib.message), /3/, 'the message names the node id');
    const third = c.nodes.get(3)!.events;
    assert.deepEqual(third.filter((e) => e.ev === 'resource' && e.op !== 'monitor'), [], 'node 3 ran nothing');

    const before = c.nodes.get(1)!.events.length;
    c.kill(2);
    c.kill(3);
    await c.waitFor(1, (e) => e.ev === 'resource' && e.rsc === 'ip' && e.op === 'stop', WAIT_MS, before);
    const after = c.nodes.get(1)!.events.slice(before);
    const selfStops = errors(after).filter((e) => e.code === 'SANODE_SELF_STOP');
    assert.equal(selfStops.length, 1, `one self-stop: ${JSON.stringify(errors(after))}`);
    assert.match(selfStops[0]!.message, /stopping resources on web1: lost quorum/);
    assert.deepEqual(ops(after, 'stop'), ['app rc 0', 'ip rc 0'], 'the group stops, its last member first');
    assert.deepEqual(ops(after, 'start'), [], 'nothing starts again without quorum');
    assert.ok(after.some((e) => e.ev === 'quorum' && e.quorate === false), 'it lost quorum');
  } finally {
    await c.stop();
  }
});
