/**
 * The admin socket of an embedded node (joinCluster with `admin`), spoken to with the `sanode`
 * commands and with raw protocol lines. One node of one: quorate alone, nothing to wait for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinCluster, isSanodeError, DIAGNOSTICS_CHANNELS, type JoinClusterOptions } from '../../lib/index.js';
import { cli, runningOn, untilStatus } from '../helpers/admin-cli.js';
import type { StatusReport } from '../../lib/admin/report.js';

/** Sends raw lines and collects `count` answers. */
function raw(path: string, lines: string[], count: number): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const answers: Record<string, unknown>[] = [];
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const p of parts) answers.push(JSON.parse(p) as Record<string, unknown>);
      if (answers.length >= count) {
        socket.destroy();
        resolve(answers);
      }
    });
    socket.on('error', reject);
    socket.on('connect', () => socket.write(lines.map((l) => `${l}\n`).join('')));
  });
}

test('an embedded node answers the sanode commands on its admin socket; the read-only socket refuses changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-admin-'));
  const socket = join(dir, 'admin.sock');
  const readOnlySocket = join(dir, 'status.sock');
  const options: JoinClusterOptions = {
    cluster: 'admin-test',
    node: { id: 1, name: 'solo' },
    transport: { peers: [`127.0.${70 + (process.pid % 100)}.1`], port: 5441 },
    security: 'insecure',
    stateDir: join(dir, 'state'),
    admin: { socket, readOnlySocket },
    // A recipient that is gone: its failures must show in status, and nothing else may suffer.
    alerts: [{ id: 'broken', script: join(dir, 'no-such-script'), retries: 0, events: ['resource'] }],
    cib: { nodes: [{ id: '1', name: 'solo' }], resources: [{ kind: 'primitive', id: 'app', agent: { class: 'sanode', type: 'dummy' } }] },
  };
  const views: unknown[] = [];
  const onView = (m: unknown) => views.push(m);
  subscribe(DIAGNOSTICS_CHANNELS.view, onView);
  const cluster = await joinCluster(options);
  const events: { rsc: string; op: string; rc: number }[] = [];
  cluster.on('resource', (e) => events.push(e));
  try {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    assert.equal(statSync(readOnlySocket).mode & 0o777, 0o666);

    // The socket comes from SANODE_ADMIN_SOCKET when --socket is not given.
    const status = await cli({ SANODE_ADMIN_SOCKET: socket }, 'status', '--json');
    assert.equal(status.code, 0, status.err);
    const report = JSON.parse(status.out) as StatusReport;
    assert.equal(report.format, 'sanode-status/1');
    assert.equal(report.node.name, 'solo');
    assert.equal(report.quorum.quorate, true);
    assert.deepEqual(report.nodes.map((n) => [n.name, n.state]), [['solo', 'online']]);

    const members = await cli({}, '--socket', readOnlySocket, 'members');
    assert.equal(members.code, 0, members.err);
    assert.match(members.out, /^view \d+: 1; coordinator 1/);
    const denied = await cli({}, '--socket', readOnlySocket, 'property', 'set', 'maintenanceMode', 'true');
    assert.equal(denied.code, 4);
    assert.match(denied.err, /read-only/);

    // A property set through the admin socket lands in the CIB; ignore comes with its warning.
    const set = await cli({}, '--socket', socket, 'property', 'set', 'noQuorumPolicy', 'ignore');
    assert.equal(set.code, 0, set.err);
    assert.match(set.out, /WARNING: noQuorumPolicy is ignore/);
    assert.equal(cluster.cib().cib.config.properties?.noQuorumPolicy, 'ignore');
    const bad = await cli({}, '--socket', socket, 'property', 'set', 'noQuorumPolicy', 'sometimes');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /noQuorumPolicy is one of stop, freeze, ignore, demote, got "sometimes"/);
    const unknown = await cli({}, '--socket', socket, 'resource', 'stop', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no top-level resource 'nope' \(resources: app\)/);

    // The broken alert (the dummy's probe and start are resource events) is listed by status.
    let alertFailures: StatusReport['alertFailures'] = [];
    for (let i = 0; i < 100 && alertFailures.length === 0; i += 1) {
      alertFailures = (JSON.parse((await cli({}, '--socket', socket, 'status', '--json')).out) as StatusReport).alertFailures;
      if (alertFailures.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(alertFailures[0]?.alert, 'broken');
    assert.match((await cli({}, '--socket', socket, 'status')).out, /Failed Alerts:\n {2}\* broken \(resource event at .*\): .*ENOENT/);

    // restart: stopped (the command waits for that), then started again.
    await untilStatus(socket, 'app running', (r) => runningOn(r, 'app').length === 1, 30_000);
    const stops = () => events.filter((e) => e.rsc === 'app' && e.op === 'stop' && e.rc === 0).length;
    const stopsBefore = stops();
    const restarted = await cli({}, '--socket', socket, 'resource', 'restart', 'app');
    assert.equal(restarted.code, 0, restarted.err);
    assert.equal(stops(), stopsBefore + 1, 'restart stopped it once');
    await untilStatus(socket, 'app running again', (r) => runningOn(r, 'app').length === 1, 30_000);

    // Per-node maintenance: the node attribute in the CIB, shown by status and node list; while it
    // holds, a stop asked for is not carried out on the node, and it is once maintenance ends.
    const usage = await cli({}, '--socket', socket, 'node', 'maintenance', 'solo', 'sometimes');
    assert.equal(usage.code, 2);
    assert.match(usage.err, /state is on or off/);
    const maint = await cli({}, '--socket', socket, 'node', 'maintenance', 'solo');
    assert.equal(maint.code, 0, maint.err);
    assert.equal(maint.out, 'solo: maintenance on\n');
    assert.equal(cluster.cib().cib.config.nodes.find((n) => n.name === 'solo')?.attributes?.['maintenance'], 'true');
    const inMaint = JSON.parse((await cli({}, '--socket', socket, 'status', '--json')).out) as StatusReport;
    assert.deepEqual(inMaint.nodes.map((n) => [n.name, n.state, n.maintenance]), [['solo', 'maintenance', true]]);
    assert.deepEqual(inMaint.resources.find((r) => r.id === 'app')?.running.map((a) => [a.node, a.managed]), [['solo', false]]);
    assert.match((await cli({}, '--socket', socket, 'node', 'list')).out, /solo\s+1\s+maintenance/);
    assert.match((await cli({}, '--socket', socket, 'status')).out, /solo \(1\): maintenance[\s\S]*app \(sanode:dummy\): Started solo \[.*unmanaged\]/);
    const eventsBefore = events.length;
    assert.equal((await cli({}, '--socket', socket, 'resource', 'stop', 'app')).code, 0);
    // The scheduler on the live CIB (target-role Stopped, node in maintenance) plans nothing.
    const held = JSON.parse((await cli({}, '--socket', socket, 'simulate', '--live', '--json')).out) as { actions: unknown[] };
    assert.deepEqual(held.actions, []);
    // Every resource event from "stop" up to "off" is recorded: none may be an operation on app.
    const during = events.slice(eventsBefore);
    const maintOff = await cli({}, '--socket', socket, 'node', 'maintenance', 'solo', 'off');
    assert.equal(maintOff.code, 0, maintOff.err);
    assert.equal(maintOff.out, 'solo: maintenance off\n');
    assert.deepEqual(during.filter((e) => e.rsc === 'app'), [], 'nothing ran on app while solo was in maintenance');
    await untilStatus(socket, 'app stopped after maintenance', (r) => runningOn(r, 'app').length === 0, 30_000);
    assert.equal(cluster.cib().cib.config.nodes.find((n) => n.name === 'solo')?.attributes?.['maintenance'], undefined);
    assert.equal((await cli({}, '--socket', socket, 'resource', 'start', 'app')).code, 0);
    await untilStatus(socket, 'app running after maintenance', (r) => runningOn(r, 'app').length === 1, 30_000);

    // simulate --live runs the scheduler on the running CIB (config and status) and changes nothing.
    const before = cluster.cib().version;
    const sim = await cli({}, '--socket', socket, 'simulate', '--live', '--node-down', 'solo', '--json');
    assert.equal(sim.code, 0, sim.err);
    assert.ok(JSON.stringify(JSON.parse(sim.out)).includes('app'));
    assert.deepEqual(cluster.cib().version, before);
    assert.equal((await cli({}, 'simulate', '--live', '--socket', join(dir, 'nobody.sock'))).code, 3);

    // Raw protocol: another version, an unknown command, and not JSON are refused by code.
    const answers = await raw(socket, ['{"v":2,"id":1,"cmd":"status"}', '{"v":1,"id":2,"cmd":"format-disk"}', 'hello'], 3);
    assert.deepEqual(
      answers.map((a) => (a.error as { code: string }).code),
      ['SANODE_ADMIN_PROTOCOL', 'SANODE_ADMIN_PROTOCOL', 'SANODE_ADMIN_PROTOCOL'],
    );
    assert.match((answers[0]!.error as { message: string }).message, /this node speaks 1/);

    // The library published its view on the diagnostics channel, with the context fields.
    assert.ok(views.some((m) => (m as { cluster?: string; node?: number; view?: number }).cluster === 'admin-test' && (m as { node: number }).node === 1));

    // A second node cannot take a socket someone answers on; its failed start releases everything.
    await assert.rejects(
      joinCluster({ ...options, node: { id: 2, name: 'two' }, transport: { peers: [`127.0.${70 + (process.pid % 100)}.1`, `127.0.${70 + (process.pid % 100)}.2`], port: 5441 }, stateDir: join(dir, 'state-2'), admin: { socket } }),
      (error: unknown) => isSanodeError(error) && error.code === 'SANODE_ADMIN_UNAVAILABLE' && /another process answers/.test(error.message),
    );
  } finally {
    unsubscribe(DIAGNOSTICS_CHANNELS.view, onView);
    await cluster.leave();
  }
  // leave() closed the sockets and removed their files.
  assert.throws(() => statSync(socket), /ENOENT/);
  const gone = await cli({}, '--socket', socket, 'status');
  assert.equal(gone.code, 3);
  assert.match(gone.err, /no sanode node answers on .*admin\.sock/);
  rmSync(dir, { recursive: true, force: true });
});
