import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcessCluster, ProcessEvent } from '../helpers/process-cluster.js';
import { dummyGroup, resourceCluster } from '../helpers/resource-cluster.js';
import type { Cib, CibConfig } from '../../lib/index.js';

/**
 * Resources managed across real processes on loopback, with the in-memory `dummy` agent (no root
 * needed): the coordinator places a group on one node, and it moves on kill -9, on a graceful
 * leave, on standby (and stays put when the node comes back, by stickiness), on move/ban, and
 * stops and starts by target-role. Every wait is bounded; nothing asserts a speed.
 */
const WAIT_MS = 30_000;
const names = ['node-1', 'node-2', 'node-3'];

const config: CibConfig = {
  nodes: names.map((name, i) => ({ id: String(i + 1), name })),
  rscDefaults: { resourceStickiness: 100 },
  resources: [dummyGroup('web', ['ip', 'app'])],
};

function clusterOf(addressBase: number): ProcessCluster {
  return resourceCluster({ cluster: 'rsc-test', addressBase, names: [undefined, undefined, undefined], cib: config });
}

/** Nodes where the primitive runs according to the CIB: its newest record says so. */
function runningOn(cib: Cib, rsc: string): string[] {
  const out: string[] = [];
  for (const [node, status] of Object.entries(cib.status.nodes)) {
    if (status.state !== 'online') continue;
    const ops = [...(status.resources?.[rsc]?.ops ?? [])].sort((a, b) => a.callId - b.callId);
    const last = ops.at(-1);
    if (last !== undefined && last.op !== 'stop' && last.rc === 0) out.push(node);
  }
  return out.sort();
}

async function cibOf(c: ProcessCluster, id: number): Promise<Cib> {
  const from = c.nodes.get(id)!.events.length;
  c.send(id, { cmd: 'cib-get' });
  return (await c.waitFor(id, (e) => e.ev === 'cib-state', WAIT_MS, from)).cib as Cib;
}

/** Polls (bounded) until both group members run on exactly one node, other than `not`; returns it. */
async function waitForHolder(c: ProcessCluster, askId: number, not: string[] = []): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const cib = await cibOf(c, askId);
    const ip = runningOn(cib, 'ip');
    const app = runningOn(cib, 'app');
    if (ip.length === 1 && app.length === 1 && ip[0] === app[0] && !not.includes(ip[0]!)) return ip[0]!;
    if (Date.now() > deadline) throw new Error(`no single holder of web (ip on ${ip.join(',')}, app on ${app.join(',')}) avoiding ${not.join(',')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let refs = 0;
async function admin(c: ProcessCluster, id: number, op: string, ...args: unknown[]): Promise<ProcessEvent> {
  const ref = ++refs;
  const from = c.nodes.get(id)!.events.length;
  c.send(id, { cmd: 'admin', op, args, ref });
  const done = await c.waitFor(id, (e) => (e.ev === 'admin-done' || e.ev === 'admin-error') && e.ref === ref, WAIT_MS, from);
  assert.equal(done.ev, 'admin-done', `${op}: ${String(done.message)}`);
  return done;
}

const idOf = (name: string): number => names.indexOf(name) + 1;

/** The start events of the group's members on one node, in the order they happened. */
function starts(c: ProcessCluster, id: number, from = 0): string[] {
  return c.nodes.get(id)!.events.slice(from).filter((e) => e.ev === 'resource' && e.op === 'start' && e.rc === 0).map((e) => e.rsc as string);
}

test('a group runs on exactly one node, in member order, and moves when its node is killed or leaves', { timeout: 240_000 }, async () => {
  const c = clusterOf(71);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const first = await waitForHolder(c, 1);
    assert.deepEqual(starts(c, idOf(first)), ['ip', 'app'], 'members start in order');
    for (const other of names.filter((n) => n !== first)) assert.deepEqual(starts(c, idOf(other)), [], `${other} started nothing`);

    // kill -9: the survivors restart the group elsewhere once the dead node's deadline passed.
    const killedAt = Date.now();
    c.kill(idOf(first));
    const survivors = [1, 2, 3].filter((id) => id !== idOf(first));
    await c.waitForView(survivors, survivors, WAIT_MS);
    const second = await waitForHolder(c, survivors[0]!, [first]);
    const startEvent = c.nodes.get(idOf(second))!.events.find((e) => e.ev === 'resource' && e.rsc === 'ip' && e.op === 'start');
    assert.ok(startEvent !== undefined && (startEvent.atMs as number) > killedAt, 'started after the kill');
    // The coordinator says where the time went, counted from its last token with the dead node.
    const report = await Promise.any(survivors.map((id) => c.waitFor(id, (e) => e.ev === 'failover' && e.node === first, WAIT_MS)));
    assert.equal(report.proven, true, 'the coordinator shared a ring with the dead node');
    assert.equal(report.incomplete, false);
    const timeline = report.resources as { rsc: string; startedOn: string; startedMs: number }[];
    assert.deepEqual(timeline.map((r) => [r.rsc, r.startedOn]).sort(), [['app', second], ['ip', second]]);
    const viewMs = report.viewMs as number;
    const deadlineMs = report.deadlineMs as number;
    assert.ok(viewMs > 0 && viewMs <= deadlineMs, `view installed at ${viewMs} ms, before the deadline at ${deadlineMs} ms`);
    for (const r of timeline) assert.ok(r.startedMs >= deadlineMs, `${r.rsc} started at ${r.startedMs} ms, after the deadline`);

    // The killed node comes back: stickiness keeps the group where it is; the returning node
    // probes and reports that nothing runs there (the dummy's state died with its process).
    c.start(idOf(first));
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    await c.waitFor(idOf(first), (e) => e.ev === 'resource' && e.rsc === 'ip' && e.op === 'monitor' && e.rc === 7, WAIT_MS);
    assert.equal(await waitForHolder(c, 1), second, 'stickiness keeps it on the node that took over');

    // A graceful leave hands the group over (stop here first, then start elsewhere).
    const leaveFrom = c.nodes.get(idOf(second))!.events.length;
    c.send(idOf(second), { cmd: 'leave' });
    await c.waitFor(idOf(second), (e) => e.ev === 'left', WAIT_MS, leaveFrom);
    const stops = c.nodes.get(idOf(second))!.events.slice(leaveFrom).filter((e) => e.ev === 'resource' && e.op === 'stop').map((e) => e.rsc);
    assert.deepEqual(stops, ['app', 'ip'], 'the leaving node stopped the group in reverse order');
    const rest = [1, 2, 3].filter((id) => id !== idOf(second));
    const third = await waitForHolder(c, rest[0]!, [second]);
    assert.ok(rest.includes(idOf(third)));
  } finally {
    await c.stop();
  }
});

test('standby moves the group away and stickiness keeps it there; move, ban, clear and target-role steer it', { timeout: 240_000 }, async () => {
  const c = clusterOf(72);
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], WAIT_MS);
    const holder = await waitForHolder(c, 1);

    await admin(c, 1, 'standby', holder, true);
    const moved = await waitForHolder(c, 1, [holder]);
    await admin(c, 1, 'standby', holder, false);
    // Give the scheduler a few transitions' time; it must not move the group back.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await waitForHolder(c, 1), moved, 'back online, the node does not take the group back (stickiness 100)');

    const target = names.find((n) => n !== moved)!;
    await admin(c, 2, 'moveResource', 'web', target);
    assert.equal(await waitForHolder(c, 2, [moved]), target, 'move puts it on the chosen node');
    await admin(c, 3, 'banResource', 'web', target);
    const afterBan = await waitForHolder(c, 3, [target]);
    await admin(c, 1, 'clearResource', 'web');
    const cleared = await cibOf(c, 1);
    assert.deepEqual((cleared.config.constraints ?? []).map((k) => k.id), [], 'clear removes the move and the ban');
    assert.equal(await waitForHolder(c, 1), afterBan, 'and nothing moves by itself afterwards');

    await admin(c, 1, 'stopResource', 'web');
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const cib = await cibOf(c, 1);
      if (runningOn(cib, 'ip').length === 0 && runningOn(cib, 'app').length === 0) break;
      assert.ok(Date.now() < deadline, 'target-role Stopped stops the group');
      await new Promise((r) => setTimeout(r, 200));
    }
    await admin(c, 1, 'startResource', 'web');
    await waitForHolder(c, 1);
  } finally {
    await c.stop();
  }
});
