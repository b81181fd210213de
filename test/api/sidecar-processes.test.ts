/**
 * Three sidecars (`sanode run cluster.yaml`) as separate processes on loopback, driven only with
 * the `sanode` commands through their admin sockets. Every process is tracked by PID and killed
 * in `finally`; every wait is bounded and waits for a state, never for a time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli as cliWith, runningOn, untilStatus } from '../helpers/admin-cli.js';
import type { StatusReport } from '../../lib/admin/report.js';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cli', 'main.js');
const PORT = 5531;
const cli = (...argv: string[]) => cliWith({}, ...argv);
const until = (socket: string, what: string, ok: (r: StatusReport) => boolean) => untilStatus(socket, what, ok, 30_000);
const ADDR = `127.0.${60 + (process.pid % 100)}.1`;

function fileFor(id: number, dir: string, resources: string): string {
  return `cluster: sidecar-test
node: { id: ${id}, name: node-${id} }
transport:
  peers: ['${ADDR}:${PORT}', '${ADDR}:${PORT + 1}', '${ADDR}:${PORT + 2}']
security: insecure
profile: lan
stateDir: ${join(dir, `state-${id}`)}
alerts: [{ id: recorder, script: ${join(dir, 'alert.sh')} }]
admin:
  socket: ${join(dir, `admin-${id}.sock`)}
  readOnlySocket: ${join(dir, `status-${id}.sock`)}
cib:
  nodes: [{ id: '1', name: node-1 }, { id: '2', name: node-2 }, { id: '3', name: node-3 }]
  rscDefaults: { resourceStickiness: 100 }
  resources:
${resources}`;
}

const dummy = (id: string) => `    - kind: primitive
      id: ${id}
      agent: { class: sanode, type: dummy }
      ops: [{ name: monitor, intervalMs: 500, timeoutMs: 2000 }]
`;

test('three sidecars from cluster.yaml files, managed with the sanode commands only', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-sidecar-'));
  const children = new Map<number, { child: ChildProcess; out: string; exit: Promise<number | null>; running: Promise<void> }>();
  const start = (id: number) => {
    const child = spawn(process.execPath, [main, 'run', join(dir, `node-${id}.yaml`)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let markRunning!: () => void;
    const entry = {
      child,
      out: '',
      exit: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
      // The admin socket exists once the node has joined and logged that it runs.
      running: new Promise<void>((resolve) => (markRunning = resolve)),
    };
    const collect = (d: Buffer) => {
      entry.out += d.toString();
      if (/"msg":"node \d+ \(node-\d+\) running"/.test(entry.out)) markRunning();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    children.set(id, entry);
  };
  const running = async (id: number) => {
    const entry = children.get(id)!;
    const outcome = await Promise.race([entry.running.then(() => 'running'), entry.exit.then((code) => `exited ${code}`)]);
    assert.equal(outcome, 'running', entry.out.slice(-2000));
  };
  const admin = (id: number) => join(dir, `admin-${id}.sock`);
  try {
    for (const id of [1, 2, 3]) writeFileSync(join(dir, `node-${id}.yaml`), fileFor(id, dir, dummy('app')));
    const alertLog = join(dir, 'alerts.log');
    writeFileSync(join(dir, 'alert.sh'), `#!/bin/sh\necho "$CRM_alert_kind $CRM_alert_node $CRM_alert_rsc $CRM_alert_task $CRM_alert_rc" >> ${alertLog}\n`, { mode: 0o755 });
    for (const id of [1, 2, 3]) start(id);
    for (const id of [1, 2, 3]) await running(id);
    let r = await until(admin(1), 'quorum and app running once', (s) => s.quorum.quorate && s.view?.members.length === 3 && runningOn(s, 'app').length === 1);
    assert.equal(statSync(admin(1)).mode & 0o777, 0o600, 'the admin socket is owner-only by default');

    // status, in text and JSON
    const text = await cli('--socket', admin(2), 'status');
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /Quorum: quorate/);
    assert.match(text.out, /app \(sanode:dummy\): Started node-\d/);
    const statusJson = JSON.parse((await cli('--socket', admin(2), 'status', '--json')).out) as StatusReport;
    assert.equal(statusJson.format, 'sanode-status/1');

    // move, then clear
    const target = ['node-1', 'node-2', 'node-3'].find((n) => n !== runningOn(r, 'app')[0])!;
    const moved = await cli('--socket', admin(1), 'resource', 'move', 'app', target);
    assert.equal(moved.code, 0, moved.err);
    r = await until(admin(1), `app on ${target}`, (s) => runningOn(s, 'app').join() === target);
    assert.equal((await cli('--socket', admin(1), 'resource', 'clear', 'app')).code, 0);

    // standby moves it away; online lets the node run resources again
    assert.equal((await cli('--socket', admin(3), 'node', 'standby', target)).code, 0);
    r = await until(admin(1), `app off ${target}`, (s) => runningOn(s, 'app').length === 1 && runningOn(s, 'app')[0] !== target);
    assert.equal(r.nodes.find((n) => n.name === target)?.state, 'standby');
    assert.equal((await cli('--socket', admin(3), 'node', 'online', target)).code, 0);

    // what an operator reads: every resource and where it runs, one resource, the properties,
    // the configuration, each link and its peers
    const list = await cli('--socket', admin(2), 'resource', 'list');
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^app\s+sanode:dummy\s+Started on node-\d$/m);
    const one = await cli('--socket', admin(2), 'resource', 'status', 'app');
    assert.equal(one.code, 0, one.err);
    assert.match(one.out, /^app\s+sanode:dummy\s+Started on node-\d/m);
    assert.match((await cli('--socket', admin(2), 'property', 'list')).out, /no properties set \(defaults apply\)/);
    const shown = JSON.parse((await cli('--socket', admin(2), 'config', 'show')).out) as { resources: { id: string }[] };
    assert.deepEqual(shown.resources.map((x) => x.id), ['app']);
    const links = await cli('--socket', admin(2), 'links');
    assert.equal(links.code, 0, links.err);
    assert.match(links.out, /^link 0 \(udpu, /m);
    assert.match(links.out, /^ {2}node 1: connected, heard \d+ ms ago$/m);
    assert.match(links.out, /^ {2}node 3: connected, heard \d+ ms ago$/m);
    // ban keeps it off its node until clear; cleanup answers
    const banned = runningOn(await until(admin(1), 'app placed', (s) => runningOn(s, 'app').length === 1), 'app')[0]!;
    const ban = await cli('--socket', admin(2), 'resource', 'ban', 'app', banned);
    assert.equal(ban.code, 0, ban.err);
    assert.match(ban.out, new RegExp(`^app: banned from ${banned} \\(constraint cli-ban-app-on-${banned}; undo with sanode resource clear app\\)$`, 'm'));
    await until(admin(1), `app off ${banned}`, (st) => runningOn(st, 'app').length === 1 && runningOn(st, 'app')[0] !== banned);
    assert.equal((await cli('--socket', admin(2), 'resource', 'clear', 'app')).code, 0);
    const cleaned = await cli('--socket', admin(2), 'resource', 'cleanup', 'app');
    assert.equal(cleaned.code, 0, cleaned.err);
    assert.equal(cleaned.out, 'app: cleaned up\n');

    // the read-only socket answers status and refuses changes
    assert.equal((await cli('--socket', join(dir, 'status-1.sock'), 'quorum')).code, 0);
    const denied = await cli('--socket', join(dir, 'status-1.sock'), 'resource', 'stop', 'app');
    assert.equal(denied.code, 4);
    assert.match(denied.err, /read-only.*SANODE_ADMIN_DENIED/);

    // config apply of a changed file: diff shown, applied in agreed order, the new resource runs
    const changed = join(dir, 'changed.yaml');
    writeFileSync(changed, fileFor(1, dir, dummy('app') + dummy('extra')));
    const applied = await cli('--socket', admin(2), 'config', 'apply', changed);
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.out, /^\+ resource extra$/m);
    await until(admin(3), 'extra running', (s) => runningOn(s, 'extra').length === 1);
    // a typo in the file is refused with the suggestion, and nothing changes
    writeFileSync(changed, fileFor(1, dir, dummy('app').replace('intervalMs', 'interval')));
    const typo = await cli('--socket', admin(2), 'config', 'apply', changed);
    assert.equal(typo.code, 1);
    assert.match(typo.err, /interval: unknown key; did you mean '.*intervalMs'\?/);

    // SIGHUP reloads node 1's own file: 'extra' is not in it, so it goes
    children.get(1)!.child.kill('SIGHUP');
    await until(admin(2), 'extra removed by the reload', (s) => !s.resources.some((x) => x.id === 'extra'));

    // SIGHUP with a typo in the file: logged with its code, and nothing changes
    const own = join(dir, 'node-1.yaml');
    const good = readFileSync(own, 'utf8');
    writeFileSync(own, fileFor(1, dir, dummy('app').replace('intervalMs', 'interval')));
    const logged = children.get(1)!.out.length;
    children.get(1)!.child.kill('SIGHUP');
    for (let i = 0; i < 200 && !children.get(1)!.out.slice(logged).includes('reload refused'); i += 1) await new Promise((done) => setTimeout(done, 50));
    const refusal = children.get(1)!.out.slice(logged).split('\n').find((l) => l.includes('reload refused'));
    assert.ok(refusal !== undefined, 'the refused reload is logged');
    assert.equal((JSON.parse(refusal) as { code?: string }).code, 'SANODE_INVALID_CONFIG');
    assert.match(refusal, /nothing changed.*interval: unknown key/);
    const after = await until(admin(2), 'the same resources after the refused reload', () => true);
    assert.deepEqual(after.resources.map((x) => x.id), ['app'], 'app is still configured');
    assert.equal(children.get(1)!.child.exitCode, null, 'node 1 still runs');
    writeFileSync(own, good);

    // JSON-lines logs carry node, view and epoch; resource lines carry the resource
    const lines = children.get(1)!.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l.event === 'view' && l.node === 1 && typeof l.view === 'number'), 'a view line with node and view');
    assert.ok(lines.some((l) => l.msg === 'reload: - resource extra' && l.node === 1 && typeof l.view === 'number'), 'the reload diff is logged, with node and view');

    // SIGTERM: a graceful leave, exit 0, and the resource runs elsewhere
    r = await until(admin(1), 'app placed', (s) => runningOn(s, 'app').length === 1);
    const holder = Number(runningOn(r, 'app')[0]!.slice('node-'.length));
    const other = [1, 2, 3].find((n) => n !== holder)!;
    children.get(holder)!.child.kill('SIGTERM');
    assert.equal(await children.get(holder)!.exit, 0, children.get(holder)!.out.slice(-2000));
    r = await until(admin(other), 'app moved after the leave', (s) => runningOn(s, 'app').length === 1 && runningOn(s, 'app')[0] !== `node-${holder}`);
    // The alert scripts recorded the failover: the stop on the leaving node, the start on the new one.
    const newHolder = runningOn(r, 'app')[0]!;
    const recorded = () => (existsSync(alertLog) ? readFileSync(alertLog, 'utf8') : '');
    const expectedLines = [new RegExp(`^resource node-${holder} app stop 0$`, 'm'), new RegExp(`^resource ${newHolder} app start 0$`, 'm'), new RegExp(`^node node-${holder}`, 'm')];
    // Alerts run in the background of three processes: wait (bounded) until all have been written.
    for (let i = 0; i < 100 && !expectedLines.every((re) => re.test(recorded())); i += 1) await new Promise((done) => setTimeout(done, 50));
    for (const re of expectedLines) assert.match(recorded(), re);

    // `sanode leave` through the socket: the sidecar leaves and exits 0
    const left = await cli('--socket', admin(other), 'leave');
    assert.equal(left.code, 0, left.err);
    assert.equal(await children.get(other)!.exit, 0);
  } catch (error) {
    for (const [id, c] of children) process.stderr.write(`--- node ${id}\n${c.out.split('\n').slice(-40).join('\n')}\n`);
    throw error;
  } finally {
    for (const { child } of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([...children.values()].map((c) => c.exit));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sanode run refuses a wrong file with exit code 78 and the key named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-sidecar-bad-'));
  try {
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, fileFor(1, dir, dummy('app')).replace('profile: lan', 'profile: lan\nquorum: { two_node: true }'));
    const child = spawn(process.execPath, [main, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 78);
    assert.match(err, /quorum\.two_node: unknown key; did you mean 'quorum\.twoNode'\?/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sanode run exits 75 (try again later) when the node cannot start because another copy of it runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-sidecar-twice-'));
  const children: ChildProcess[] = [];
  try {
    const file = join(dir, 'cluster.yaml');
    writeFileSync(join(dir, 'alert.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    writeFileSync(file, fileFor(1, dir, dummy('app')));
    const first = spawn(process.execPath, [main, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(first);
    let out = '';
    first.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    // Up once it logs its first view (alone: its peers are not started).
    for (let i = 0; i < 400 && !/"event":"view"/.test(out); i += 1) await new Promise((done) => setTimeout(done, 50));
    assert.match(out, /"event":"view"/, 'the first copy is up');
    const second = spawn(process.execPath, [main, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(second);
    let err = '';
    second.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    assert.equal(code, 75, err);
    assert.match(err, /\[SANODE_NODE_RUNNING\]/);
    assert.match(err, new RegExp(`\\b${first.pid}\\b`), "the message names the running copy's pid");
    assert.equal(first.exitCode, null, 'the first copy runs on');
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  }
});
