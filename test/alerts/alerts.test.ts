import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { Alerts, type AlertConfig } from '../../lib/alerts/index.js';
import type { Cluster } from '../../lib/runtime/cluster.js';
import { resolveJoinOptions } from '../../lib/runtime/options.js';
import { isSanodeError, type JoinClusterOptions } from '../../lib/index.js';
import { CHANNELS } from '../../lib/diagnostics.js';

/** The part of a Cluster that Alerts reads: its public events, status() and cib(). */
function fakeCluster(): Cluster & EventEmitter {
  const e = new EventEmitter() as unknown as Cluster & EventEmitter;
  Object.assign(e, {
    status: () => ({ cluster: 'web', node: { id: 1, name: 'web1', incarnation: 1 }, view: { id: { seq: 4, rep: 1 }, members: [1, 2] }, epoch: 65537 }),
    cib: () => ({ cib: { config: { nodes: [{ id: '1', name: 'web1' }, { id: '2', name: 'web2' }, { id: '3', name: 'web3' }] } } }),
  });
  return e;
}

/** Resolves once `check` holds, re-checking whenever a file in `dir` may have changed; bounded. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i += 1) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
}

test('an alert script gets the event as CRM_alert_* and SANODE_ALERT_* variables', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-alert-'));
  try {
    const out = join(dir, 'events');
    const script = join(dir, 'alert.sh');
    writeFileSync(script, `#!/bin/sh\necho "$CRM_alert_kind $CRM_alert_node $CRM_alert_rsc $CRM_alert_task $CRM_alert_rc $CRM_alert_recipient $SANODE_ALERT_CLUSTER $SANODE_ALERT_EPOCH" >> ${out}\n`);
    chmodSync(script, 0o755);
    const cluster = fakeCluster();
    const alerts = new Alerts(cluster, [{ id: 'file', script, recipient: '/var/log/x' }]);
    cluster.emit('resource', { rsc: 'web-ip', node: 'web1', op: 'start', intervalMs: 0, rc: 0 });
    cluster.emit('resource', { rsc: 'web-ip', node: 'web1', op: 'monitor', intervalMs: 2000, rc: 0 }); // not news
    cluster.emit('view', { members: [1, 2, 3] });
    await eventually(() => existsSync(out) && readFileSync(out, 'utf8').split('\n').length >= 3, 'two alerts delivered');
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), ['resource web1 web-ip start 0 /var/log/x web 65537', 'node web3    /var/log/x web 65537']);
    alerts.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing alert is retried, then recorded and published; it never blocks the caller', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-alert-fail-'));
  const published: unknown[] = [];
  const onAlert = (m: unknown) => published.push(m);
  subscribe(CHANNELS.alert, onAlert);
  try {
    const count = join(dir, 'count');
    const script = join(dir, 'fail.sh');
    writeFileSync(script, `#!/bin/sh\necho x >> ${count}\necho "receiver down" >&2\nexit 3\n`);
    chmodSync(script, 0o755);
    const hang = join(dir, 'hang.sh');
    writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(hang, 0o755);
    const cluster = fakeCluster();
    const configs: AlertConfig[] = [
      { id: 'failing', script, retries: 1 },
      { id: 'hanging', script: hang, retries: 0, timeoutMs: 200, events: ['leader'] },
    ];
    const alerts = new Alerts(cluster, configs);
    // emit() returns before any script has run: the listeners only queue.
    cluster.emit('leader', { leading: true, epoch: 65537 });
    assert.equal(existsSync(count), false);
    await eventually(() => alerts.failures().length === 2, 'both alerts recorded as failed');
    const byId = Object.fromEntries(alerts.failures().map((f) => [f.alert, f]));
    assert.equal(readFileSync(count, 'utf8'), 'x\nx\n', 'one try and one retry');
    assert.equal(byId.failing!.error, 'exit 3: receiver down');
    assert.equal(byId.failing!.attempts, 2);
    assert.equal(byId.hanging!.error, 'timed out after 200 ms');
    assert.ok(published.some((m) => (m as { alert: string }).alert === 'failing'));
    alerts.close();
  } finally {
    unsubscribe(CHANNELS.alert, onAlert);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a webhook receives the event as JSON; an HTTP error is a failure', async () => {
  const bodies: unknown[] = [];
  let status = 200;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const cluster = fakeCluster();
    const alerts = new Alerts(cluster, [{ id: 'hook', webhook: `http://127.0.0.1:${port}/`, retries: 0, events: ['quorum'] }]);
    cluster.emit('quorum', { quorate: false, reason: 'no-majority' });
    await eventually(() => bodies.length === 1, 'the webhook was called');
    assert.deepEqual({ kind: (bodies[0] as { kind: string }).kind, desc: (bodies[0] as { desc: string }).desc }, { kind: 'quorum', desc: 'no quorum: no-majority' });
    status = 503;
    cluster.emit('quorum', { quorate: true, reason: 'majority' });
    await eventually(() => alerts.failures().length === 1, 'the 503 was recorded');
    assert.equal(alerts.failures()[0]!.error, 'HTTP 503');
    alerts.close();
  } finally {
    server.close();
  }
});

test('an alert needs exactly one of script and webhook', () => {
  const base: JoinClusterOptions = { cluster: 'web', node: { id: 1 }, transport: { peers: ['127.0.0.1'] }, security: 'insecure', stateDir: '/tmp/x' };
  try {
    resolveJoinOptions({ ...base, alerts: [{ id: 'a', script: '/bin/true', webhook: 'http://127.0.0.1/' }] });
    assert.fail('accepted');
  } catch (error) {
    assert.ok(isSanodeError(error));
    assert.equal(error.field, 'alerts[0]');
    assert.match(error.message, /either script or webhook/);
  }
});
