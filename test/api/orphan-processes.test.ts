import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessCluster, type ProcessEvent } from '../helpers/process-cluster.js';
import type { Cib, CibConfig } from '../../lib/index.js';
import { mismatch, type ProcessIdentity } from '../../agents/process-record.js';
import { alive, killByPid } from '../helpers/processes.js';

/**
 * A `process` resource's child outlives a kill -9 of its node (it runs in its own session). The
 * node records what it started under its state directory, so when it is started again with the
 * same state directory its probe finds the child, reports SANODE_ORPHAN_FOUND, and the cluster
 * treats it as active there: no second copy is started, and a stop ends it without a pidFile.
 * Real processes; every wait is bounded; the orphan is killed by PID in finally.
 */
const fixture = join(dirname(fileURLToPath(import.meta.url)), 'orphan-node.js');
const WAIT_MS = 30_000;

const config: CibConfig = {
  nodes: [{ id: '1', name: 'web1' }],
  resources: [
    {
      kind: 'primitive',
      id: 'app',
      agent: { class: 'sanode', type: 'process' },
      // No pidFile and no name: only the node's own record can find the child again.
      params: { command: 'sleep', args: '300', stopTimeoutMs: '2000' },
      ops: [{ name: 'monitor', intervalMs: 1000, timeoutMs: 5000 }],
    },
  ],
};

function lastOp(cib: Cib, rsc: string): string | undefined {
  const last = [...(cib.status.nodes['web1']?.resources?.[rsc]?.ops ?? [])].sort((a, b) => a.callId - b.callId).at(-1);
  return last === undefined ? undefined : `${last.op} rc ${last.rc}`;
}

/** Polls this node's CIB (bounded) until `done` holds. */
async function waitForCib(c: ProcessCluster, done: (cib: Cib) => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const from = c.nodes.get(1)!.events.length;
    c.send(1, { cmd: 'cib-get' });
    const cib = (await c.waitFor(1, (e) => e.ev === 'cib-state', WAIT_MS, from)).cib as Cib;
    if (done(cib)) return;
    if (Date.now() > deadline) throw new Error(`the CIB never got there: ${JSON.stringify(cib.status)}`);
    await c.nextEvent(200);
  }
}

function ops(events: readonly ProcessEvent[]): string[] {
  return events.filter((e) => e.ev === 'resource').map((e) => `${String(e.op)}/${String(e.intervalMs)} rc ${String(e.rc)}`);
}

test('kill -9 of a node: its restarted self finds the orphaned child by its record, reports it, starts no second copy, and stops it', { timeout: 150_000 }, async () => {
  const c = new ProcessCluster(1, {
    fixture,
    addressBase: 93,
    configFor: (id, common) => ({
      options: {
        cluster: 'orphans',
        node: { id, name: 'web1' },
        transport: { nodes: common.nodes, port: common.port },
        keyHex: common.key,
        stateDir: common.stateDir,
        profile: 'lan',
        cib: config,
      },
    }),
  });
  const recordsDir = join(c.stateRoot, 'node-1', 'agents', 'process');
  let orphanPid: number | undefined;
  let orphanIdentity: ProcessIdentity | undefined;
  try {
    c.start(1);
    await c.waitFor(1, (e) => e.ev === 'resource' && e.rsc === 'app' && e.op === 'start' && e.rc === 0, WAIT_MS);
    const files = readdirSync(recordsDir);
    assert.equal(files.length, 1, 'one record for the one child');
    const record = JSON.parse(readFileSync(join(recordsDir, files[0]!), 'utf8')) as { pid: number; identity: ProcessIdentity };
    orphanPid = record.pid;
    orphanIdentity = record.identity;
    assert.deepEqual(record.identity.cmdline, ['sleep', '300']);
    assert.ok(alive(orphanPid));

    const first = c.nodes.get(1)!;
    c.kill(1, 'SIGKILL');
    const deadline = Date.now() + WAIT_MS;
    while (!first.exited && Date.now() < deadline) await c.nextEvent(100);
    assert.ok(first.exited, 'the node process is gone');
    assert.ok(alive(orphanPid), 'its child outlived it');

    // The same state directory, a new process: an empty agent, as after any crash.
    const second = c.start(1);
    // Found by the first probe, usually while joinCluster is still starting: the node holds the
    // report until the code after \`await joinCluster\` has subscribed, so it is an 'error' event.
    const isOrphanReport = (e: ProcessEvent): boolean => e.ev === 'error' && e.code === 'SANODE_ORPHAN_FOUND';
    const found = await c.waitFor(1, isOrphanReport, WAIT_MS);
    assert.match(String(found.message), new RegExp(`resource app: pid ${orphanPid} \\(sleep 300\\) was started by an earlier run of this node`));
    await c.waitFor(1, (e) => e.ev === 'resource' && e.rsc === 'app', WAIT_MS);
    assert.equal(ops(second.events)[0], 'monitor/0 rc 0', 'the probe reports the orphan running here');
    // The cluster takes the probe's word: the CIB records app as active on web1, which is online.
    await waitForCib(c, (cib) => cib.status.nodes['web1']?.state === 'online' && lastOp(cib, 'app') === 'monitor rc 0');
    await c.waitFor(1, (e) => e.ev === 'leader-start', WAIT_MS);

    c.send(1, { cmd: 'admin', op: 'stopResource', args: ['app'], ref: 1 });
    await c.waitFor(1, (e) => e.ev === 'resource' && e.rsc === 'app' && e.op === 'stop' && e.rc === 0, WAIT_MS);
    assert.equal(alive(orphanPid), false, 'the stop ended the orphan, with no pidFile');
    assert.deepEqual(readdirSync(recordsDir), [], 'and removed its record');

    // The whole record of the second run: one probe that found it, monitors, one stop; no start.
    const record2 = ops(second.events);
    assert.deepEqual(record2.filter((o) => o.startsWith('start')), [], 'no second copy was started');
    assert.deepEqual(record2.filter((o) => o.startsWith('stop')), ['stop/0 rc 0']);
    assert.equal(second.events.filter(isOrphanReport).length, 1, 'the orphan was reported once');
    assert.deepEqual(
      second.events.filter((e) => e.ev === 'error' || e.ev === 'warning').map((e) => e.code),
      ['SANODE_ORPHAN_FOUND'],
      'and nothing else went wrong',
    );
  } catch (error) {
    for (const n of c.nodes.values()) console.error(JSON.stringify(n.events.filter((e) => e.ev !== 'cib-changed')).slice(0, 6000));
    throw error;
  } finally {
    // The node first, so it starts nothing more; then every child it recorded (a second copy
    // too, if a broken build started one), and only the very processes recorded: a PID may
    // have been reused since.
    c.kill(1, 'SIGKILL');
    const until = Date.now() + 5000;
    while (c.nodes.get(1)?.exited === false && Date.now() < until) await c.nextEvent(50);
    const recorded: { pid: number; identity: ProcessIdentity }[] = [];
    if (orphanPid !== undefined && orphanIdentity !== undefined) recorded.push({ pid: orphanPid, identity: orphanIdentity });
    for (const file of existsSync(recordsDir) ? readdirSync(recordsDir) : []) {
      try {
        recorded.push(JSON.parse(readFileSync(join(recordsDir, file), 'utf8')) as { pid: number; identity: ProcessIdentity });
      } catch {
        // a torn temporary file: nothing to kill by it
      }
    }
    for (const { pid, identity } of recorded) {
      if (mismatch(pid, identity) === undefined) killByPid(pid);
    }
    await c.stop();
  }
});
