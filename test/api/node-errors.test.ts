import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { joinCluster, isSanodeError, DIAGNOSTICS_CHANNELS, type Cluster } from '../../lib/index.js';

/**
 * What the issue found as "resources that cannot run say nothing" and "errors vanish", on
 * in-process nodes over loopback: each node's own name reaches the CIB, an agent type that does
 * not exist is reported with a code, and an 'error' nobody listens to becomes a process warning.
 * Every wait is bounded; nothing asserts a speed.
 */
const WAIT_MS = 20_000;

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('three nodes started as web1, web2 and web3 without a cib option: the CIB names each node as it named itself', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'sanode-names-'));
  const peers = [1, 2, 3].map((i) => `127.0.93.${i}`);
  const errors: unknown[] = [];
  const clusters: Cluster[] = [];
  try {
    const joined = await Promise.all(
      [1, 2, 3].map((id) =>
        joinCluster({ cluster: 'names', node: { id, name: `web${id}` }, transport: { peers, port: 5471 }, security: 'insecure', stateDir: join(root, `n${id}`) }),
      ),
    );
    clusters.push(...joined);
    for (const c of clusters) c.on('error', (e) => errors.push(e));
    const names = (c: Cluster): string => c.cib().cib.config.nodes.map((n) => `${n.id}=${n.name}`).join(',');
    await until('every CIB to name web1..web3', () => clusters.every((c) => names(c) === '1=web1,2=web2,3=web3'));
    for (const [i, c] of clusters.entries()) assert.equal(c.status().node.name, `web${i + 1}`);
    // Before the fix, nodes 2 and 3 reported SANODE_INVALID_CIB "unknown node" for their own records.
    assert.deepEqual(errors.filter((e) => isSanodeError(e) && e.code === 'SANODE_INVALID_CIB'), []);
  } finally {
    await Promise.all(clusters.map((c) => c.leave()));
    rmSync(root, { recursive: true, force: true });
  }
});

test("an agent type that does not exist is reported as SANODE_RESOURCE_CANNOT_RUN, and with no 'error' listener as a process warning", { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'sanode-noagent-'));
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on('warning', onWarning);
  // The diagnostics channel sees the error too, without counting as its listener.
  const published: { code?: unknown }[] = [];
  const onPublished = (m: unknown): void => {
    published.push(m as { code?: unknown });
  };
  subscribe(DIAGNOSTICS_CHANNELS.error, onPublished);
  let cluster: Cluster | undefined;
  try {
    cluster = await joinCluster({
      cluster: 'noagent',
      node: { id: 1, name: 'web1' },
      transport: { peers: ['127.0.94.1'], port: 5472 },
      security: 'insecure',
      stateDir: join(root, 'n1'),
      cib: {
        nodes: [{ id: '1', name: 'web1' }],
        resources: [{ kind: 'primitive', id: 'web-ip', agent: { class: 'sanode', type: 'vipp' } }],
      },
    });
    // No 'error' listener on purpose: the report must not vanish.
    await until('a warning for web-ip', () => warnings.some((w) => (w as Error & { code?: string }).code === 'SANODE_RESOURCE_CANNOT_RUN'));
    const warning = warnings.find((w) => (w as Error & { code?: string }).code === 'SANODE_RESOURCE_CANNOT_RUN')!;
    assert.equal(warning.name, 'SanodeWarning');
    assert.ok(published.some((m) => m.code === 'SANODE_RESOURCE_CANNOT_RUN'), 'published on sanode:error as well');
    assert.match(warning.message, /web-ip cannot run on web1: probe returned not installed \(rc 5\): no agent sanode:vipp/);
    // With a listener, the same condition is an 'error' event with the code (a cleanup probes again).
    const errors: unknown[] = [];
    cluster.on('error', (e) => errors.push(e));
    await cluster.cleanup('web-ip');
    await until("an 'error' event", () => errors.some((e) => isSanodeError(e) && e.code === 'SANODE_RESOURCE_CANNOT_RUN'));
  } finally {
    unsubscribe(DIAGNOSTICS_CHANNELS.error, onPublished);
    process.off('warning', onWarning);
    await cluster?.leave();
    rmSync(root, { recursive: true, force: true });
  }
});

test('your own agent, passed as agents: { name: agent }, runs the resource that names it, with its parameters', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'sanode-ownagent-'));
  const calls: string[] = [];
  let running = false;
  let monitorsWhileRunning = 0;
  // The README's { start, stop, monitor } object: an in-memory service.
  const myAgent = {
    async start(ctx: { params: { greeting?: string } }): Promise<void> {
      calls.push(`start ${ctx.params.greeting ?? '-'}`);
      running = true;
    },
    async stop(): Promise<void> {
      calls.push('stop');
      running = false;
    },
    async monitor(): Promise<'running' | 'not-running'> {
      if (running) monitorsWhileRunning++;
      return running ? 'running' : 'not-running';
    },
  };
  let cluster: Cluster | undefined;
  try {
    cluster = await joinCluster({
      cluster: 'ownagent',
      node: { id: 1, name: 'web1' },
      transport: { peers: ['127.0.95.1'], port: 5473 },
      security: 'insecure',
      stateDir: join(root, 'n1'),
      agents: { myapp: myAgent },
      cib: {
        nodes: [{ id: '1', name: 'web1' }],
        resources: [{ kind: 'primitive', id: 'app', agent: { class: 'sanode', type: 'myapp' }, params: { greeting: 'hello' }, ops: [{ name: 'monitor', intervalMs: 500, timeoutMs: 5000 }] }],
      },
    });
    const errors: unknown[] = [];
    cluster.on('error', (e) => errors.push(e));
    await until('the start of app', () => calls.includes('start hello'));
    // Its recurring monitor (every 500 ms, as configured) runs the agent's monitor again and again.
    await until('three monitors that find it running', () => monitorsWhileRunning >= 3);
    await cluster.stopResource('app');
    await until('the stop of app', () => calls.includes('stop'));
    assert.deepEqual(calls, ['start hello', 'stop'], 'one start with the configured parameters, one stop');
    assert.deepEqual(errors, []);
  } finally {
    await cluster?.leave();
    rmSync(root, { recursive: true, force: true });
  }
});
