/**
 * The "must show", on real namespaces: three sidecars (`sanode run cluster.yaml`), each in
 * its own network namespace on one bridge, each from its own file, manage a kernel-leased VIP and
 * a real nginx from Debian for a client in a fourth namespace; the cluster is driven only with the
 * `sanode` commands through the admin sockets (Unix sockets on the shared filesystem).
 *
 * Every namespace and interface carries the NetnsLab prefix (snt-…), every address is in
 * 10.78.0.0/24 inside the lab, every process is started by this test and killed by PID in
 * finally; every wait is bounded and waits for a state. Skipped without root or without nginx.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { NetnsLab, netnsUnavailable } from '../helpers/netns.js';
import { cli as cliWith, runningOn as where, untilStatus } from '../helpers/admin-cli.js';
import type { StatusReport } from '../../lib/admin/report.js';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cli', 'main.js');
const NGINX = '/usr/sbin/nginx';
const SUBNET = '10.78.0';
const VIP = `${SUBNET}.100`;
const WAIT_MS = 60_000;
const cli = (...argv: string[]) => cliWith({}, ...argv);
const until = (socket: string, what: string, ok: (r: StatusReport) => boolean) => untilStatus(socket, what, ok, WAIT_MS);

test('three sidecars in namespaces serve nginx through a VIP; status, move, standby, apply, failover and an alert', { timeout: 400_000 }, async (t) => {
  const reason = (await netnsUnavailable()) ?? (existsSync(NGINX) ? undefined : 'needs nginx (apt install nginx; .ci/run installs it)');
  if (reason !== undefined) {
    t.skip(reason);
    return;
  }
  const lab = new NetnsLab();
  const dir = mkdtempSync(join(tmpdir(), 'sanode-sidecar-netns-'));
  const nodes = new Map<number, { child: ChildProcessWithoutNullStreams; out: string; exit: Promise<number | null> }>();
  try {
    const nic = lab.name('eth');
    const sw = await lab.addNamespace('sw');
    const bridge = lab.name('br');
    await lab.addBridge(sw, bridge);
    const ns = new Map<number, string>();
    for (const id of [1, 2, 3]) {
      const n = await lab.addNamespace(`n${id}`);
      ns.set(id, n);
      await lab.addVeth(n, nic, sw, lab.name(`p${id}`));
      await lab.attach(sw, lab.name(`p${id}`), bridge);
      await lab.addAddress(n, nic, `${SUBNET}.${id}/24`);
    }
    const client = await lab.addNamespace('cl');
    await lab.addVeth(client, nic, sw, lab.name('pc'));
    await lab.attach(sw, lab.name('pc'), bridge);
    await lab.addAddress(client, nic, `${SUBNET}.50/24`);

    const key = join(dir, 'authkey');
    writeFileSync(key, randomBytes(32), { mode: 0o600 });
    const alertLog = join(dir, 'alerts.log');
    writeFileSync(join(dir, 'alert.sh'), `#!/bin/sh\necho "$CRM_alert_kind $CRM_alert_node $CRM_alert_rsc $CRM_alert_task $CRM_alert_rc" >> ${alertLog}\n`, { mode: 0o755 });
    const resources = (extra: string) => `  resources:
    - kind: group
      id: web
      members:
        - kind: primitive
          id: web-ip
          agent: { class: sanode, type: vip }
          params: { ip: ${VIP}/24, nic: ${nic}, leaseSeconds: 3 }
          ops: [{ name: monitor, intervalMs: 1000, timeoutMs: 5000 }]
        - kind: primitive
          id: web-server
          agent: { class: sanode, type: process }
          params: { command: ${NGINX}, args: '-c ${dir}/nginx.conf', healthUrl: 'http://${VIP}/' }
          ops: [{ name: monitor, intervalMs: 1000, timeoutMs: 5000 }]
${extra}`;
    const fileFor = (id: number, extra = '') => `cluster: netns-web
node: { id: ${id}, name: node-${id} }
transport: { peers: [${SUBNET}.1, ${SUBNET}.2, ${SUBNET}.3] }
keyFile: ${key}
stateDir: ${dir}/state-${id}
admin: { socket: ${dir}/admin-${id}.sock }
alerts: [{ id: recorder, script: ${dir}/alert.sh, events: [resource] }]
cib:
  nodes: [{ id: '1', name: node-1 }, { id: '2', name: node-2 }, { id: '3', name: node-3 }]
  rscDefaults: { resourceStickiness: 100 }
${resources(extra)}`;
    // One nginx config for every node (the CIB holds the resource once); the pid file is in the
    // lab's directory so nothing of the host's nginx is touched.
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;\npid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/nginx-body;\n  server {\n    listen ${VIP}:80;\n    location / { return 200 "served on $server_addr\\n"; }\n  }\n}\n`,
    );
    for (const id of [1, 2, 3]) writeFileSync(join(dir, `node-${id}.yaml`), fileFor(id));
    for (const id of [1, 2, 3]) {
      const child = lab.spawn(ns.get(id)!, [process.execPath, main, 'run', join(dir, `node-${id}.yaml`)]);
      const entry = { child, out: '', exit: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
      child.stdout.on('data', (d: Buffer) => (entry.out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (entry.out += d.toString()));
      nodes.set(id, entry);
    }
    const admin = (id: number) => join(dir, `admin-${id}.sock`);
    for (const id of [1, 2, 3]) {
      for (let i = 0; i < 600 && !existsSync(admin(id)) && nodes.get(id)!.child.exitCode === null; i += 1) await new Promise((r) => setTimeout(r, 100));
      assert.ok(existsSync(admin(id)), `node ${id} opened its admin socket: ${nodes.get(id)!.out.slice(-1500)}`);
    }
    const served = (r: StatusReport) => r.quorum.quorate && where(r, 'web-server').length === 1 && where(r, 'web-ip').join() === where(r, 'web-server').join();
    let r = await until(admin(1), 'web served', served);
    const get = async (): Promise<string> => {
      const res = await lab.exec(client, [process.execPath, '-e', `fetch('http://${VIP}/', { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { process.stdout.write('ERR ' + e.message); })`]);
      return res.stdout.trim();
    };
    // nginx answers through the VIP, from the node that holds it.
    assert.equal(await get(), `served on ${VIP}`);

    // resource move to another node; the client follows.
    const first = where(r, 'web')[0] ?? where(r, 'web-server')[0]!;
    const target = ['node-1', 'node-2', 'node-3'].find((n) => n !== first)!;
    assert.equal((await cli('--socket', admin(2), 'resource', 'move', 'web', target)).code, 0);
    r = await until(admin(2), `web on ${target}`, (s) => served(s) && where(s, 'web-server')[0] === target);
    assert.equal((await cli('--socket', admin(2), 'resource', 'clear', 'web')).code, 0);
    assert.equal(await get(), `served on ${VIP}`);

    // node standby moves it off the target; online again.
    assert.equal((await cli('--socket', admin(3), 'node', 'standby', target)).code, 0);
    r = await until(admin(3), `web off ${target}`, (s) => served(s) && where(s, 'web-server')[0] !== target);
    assert.equal((await cli('--socket', admin(3), 'node', 'online', target)).code, 0);

    // config apply of a changed file: a third resource joins, with the diff shown.
    writeFileSync(join(dir, 'changed.yaml'), fileFor(1, `    - kind: primitive\n      id: marker\n      agent: { class: sanode, type: dummy }\n`));
    const applied = await cli('--socket', admin(1), 'config', 'apply', join(dir, 'changed.yaml'));
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.out, /^\+ resource marker$/m);
    await until(admin(1), 'marker running', (s) => where(s, 'marker').length === 1);

    // failover: SIGTERM the holder; status --json keeps answering on the others while it moves.
    const holder = Number(where(r, 'web-server')[0]!.slice('node-'.length));
    const other = [1, 2, 3].find((n) => n !== holder)!;
    nodes.get(holder)!.child.kill('SIGTERM');
    const during = await cli('--socket', admin(other), 'status', '--json');
    assert.equal(during.code, 0, during.err);
    assert.equal((JSON.parse(during.out) as StatusReport).format, 'sanode-status/1');
    assert.equal(await nodes.get(holder)!.exit, 0);
    r = await until(admin(other), 'web served elsewhere', (s) => served(s) && where(s, 'web-server')[0] !== `node-${holder}`);
    assert.equal(await get(), `served on ${VIP}`);

    // The alert script recorded the failover: the stop on the leaving node and the new start.
    const newHolder = where(r, 'web-server')[0]!;
    const wanted = [new RegExp(`^resource node-${holder} web-server stop 0$`, 'm'), new RegExp(`^resource ${newHolder} web-server start 0$`, 'm')];
    const recorded = () => (existsSync(alertLog) ? readFileSync(alertLog, 'utf8') : '');
    for (let i = 0; i < 100 && !wanted.every((re) => re.test(recorded())); i += 1) await new Promise((done) => setTimeout(done, 50));
    for (const re of wanted) assert.match(recorded(), re);
  } catch (error) {
    for (const [id, n] of nodes) process.stderr.write(`--- node ${id}\n${n.out.split('\n').filter((l) => !l.includes('"event":"link"')).slice(-30).join('\n')}\n`);
    throw error;
  } finally {
    // Graceful first so nginx is stopped by its agent; the lab then kills whatever is left by PID.
    for (const n of nodes.values()) if (n.child.exitCode === null) n.child.kill('SIGTERM');
    await Promise.race([Promise.all([...nodes.values()].map((n) => n.exit)), new Promise((r) => setTimeout(r, 20_000))]);
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
