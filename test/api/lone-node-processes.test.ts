import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcessEvent } from '../helpers/process-cluster.js';
import { dummyGroup, resourceCluster } from '../helpers/resource-cluster.js';
import type { CibConfig } from '../../lib/index.js';

/**
 * A node alone in its ring (a one-node cluster, or the survivor of a twoNode pair) has no token
 * to renew its resource lease with. Before the fix it stopped and restarted its group about 200
 * times a second ("lease expired"), starving its own event loop. Each shape runs a group in real
 * processes for a full window, every event of the window recorded, and the record must show
 * exactly one start per resource, no stop and no self-stop. Nothing asserts a speed.
 */
const WAIT_MS = 30_000;
/** The window the record covers (the reproduction ran 30-40 s before it was noticed). */
const WINDOW_MS = Number(process.env['SANODE_LONE_WINDOW_MS'] ?? 60_000);

function groupConfig(names: string[]): CibConfig {
  return { nodes: names.map((name, i) => ({ id: String(i + 1), name })), resources: [dummyGroup('web', ['ip', 'app'])] };
}

function resourceOps(events: readonly ProcessEvent[], op: string): string[] {
  return events.filter((e) => e.ev === 'resource' && e.op === op).map((e) => `${String(e.rsc)} rc ${String(e.rc)}`);
}

function selfStops(events: readonly ProcessEvent[]): string[] {
  return events.filter((e) => e.ev === 'error').map((e) => `${String(e.code)}: ${String(e.message)}`);
}

test(`a one-node cluster runs its group for ${WINDOW_MS / 1000} s with exactly one start per resource`, { timeout: WINDOW_MS + 120_000 }, async () => {
  const names = ['web1'];
  const c = resourceCluster({ cluster: 'lone-one', addressBase: 81, names, cib: groupConfig(names) });
  try {
    c.startAll();
    await c.waitFor(1, (e) => e.ev === 'resource' && e.rsc === 'app' && e.op === 'start' && e.rc === 0, WAIT_MS);
    const startedAt = c.nodes.get(1)!.events.length;
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const all = c.nodes.get(1)!.events;
    const window = all.slice(startedAt);
    assert.deepEqual(resourceOps(all, 'start'), ['ip rc 0', 'app rc 0'], 'one start per resource, in group order, over the whole run');
    assert.deepEqual(resourceOps(window, 'stop'), [], 'nothing stopped during the window');
    assert.deepEqual(selfStops(all), [], 'no self-stop or other error event');
    const monitors = window.filter((e) => e.ev === 'resource' && e.op === 'monitor' && e.intervalMs !== 0);
    assert.ok(monitors.every((e) => e.rc === 0), 'any monitor reported during the window found the group running');
  } finally {
    await c.stop();
  }
});

test(`a twoNode survivor takes the group over after kill -9 of its peer and keeps it ${WINDOW_MS / 1000} s with one start per resource`, { timeout: WINDOW_MS + 150_000 }, async () => {
  const names = ['web1', 'web2'];
  const c = resourceCluster({ cluster: 'lone-two', addressBase: 82, names, cib: groupConfig(names), extra: { quorum: { twoNode: true } } });
  try {
    c.startAll();
    await c.waitForView([1, 2], [1, 2], WAIT_MS);
    const holderEvent = await Promise.race([1, 2].map((id) => c.waitFor(id, (e) => e.ev === 'resource' && e.rsc === 'app' && e.op === 'start' && e.rc === 0, WAIT_MS).then(() => id)));
    const survivor = holderEvent === 1 ? 2 : 1;
    const from = c.nodes.get(survivor)!.events.length;
    c.kill(holderEvent);
    await c.waitForView([survivor], [survivor], WAIT_MS);
    await c.waitFor(survivor, (e) => e.ev === 'resource' && e.rsc === 'app' && e.op === 'start' && e.rc === 0, WAIT_MS, from);
    const tookOver = c.nodes.get(survivor)!.events.length;
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const since = c.nodes.get(survivor)!.events.slice(from);
    assert.deepEqual(resourceOps(since, 'start'), ['ip rc 0', 'app rc 0'], 'the survivor started each resource once, in group order');
    assert.deepEqual(resourceOps(c.nodes.get(survivor)!.events.slice(tookOver), 'stop'), [], 'and stopped nothing afterwards');
    assert.deepEqual(selfStops(since), [], 'no self-stop or other error event on the survivor');
  } finally {
    await c.stop();
  }
});
