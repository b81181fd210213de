/**
 * The README's TypeScript snippets, run exactly as printed (test/config/readme-snippets.test.ts
 * type-checks them; this runs them). Each is extracted verbatim, compiled with TypeScript and run
 * with `node` as an ES module that imports `sanode` from this tree, inside a fresh network
 * namespace and mount namespace (`unshare --net --mount`) where the addresses the snippet names
 * (10.0.0.11-13, the VIP 10.0.0.100) exist on a veth pair, and where /etc and /var/lib are
 * overlays, so the snippet's /etc/sanode/authkey and its default state directory
 * (/var/lib/sanode/...) are the namespace's own and vanish with it. Nothing leaves the namespace.
 *
 * The only code added to a snippet is what the README leaves to the reader: `doLeaderWork`, and
 * for the resources snippet the server.js its process agent runs. The resources snippet is node 1
 * of three, as it says; nodes 2 and 3 are sidecars (`sanode run`) with the same configuration, so
 * the cluster is quorate and the snippet's `standby('web1', true)` (a CIB change, which needs
 * quorum) completes. A snippet neither harness knows fails the test: every snippet must run.
 * Every process is started here and killed by PID; every wait is bounded. Skipped without root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { netnsUnavailable } from '../helpers/netns.js';
import { cli } from '../helpers/admin-cli.js';
import type { StatusReport } from '../../lib/admin/report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const main = join(root, 'dist', 'lib', 'cli', 'main.js');
const RUN_PRELUDE = "async function doLeaderWork(epoch: number): Promise<void> { console.log('leader work, epoch', epoch); }\n";
const SNIPPET_LIMIT_MS = 60_000;

function snippets(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** A directory that is a tiny ES-module project depending on this tree as `sanode`, as the README asks. */
function project(dir: string, code: string): string {
  const app = join(dir, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(root, join(app, 'node_modules', 'sanode'));
  writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');
  const js = ts.transpileModule(`${RUN_PRELUDE}${code}`, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }, reportDiagnostics: true });
  assert.deepEqual(js.diagnostics ?? [], [], 'the snippet compiles');
  writeFileSync(join(app, 'snippet.js'), js.outputText);
  for (const d of ['etc-u', 'etc-w', 'lib-u', 'lib-w']) mkdirSync(join(dir, d));
  return app;
}

/** The namespace's set-up, then `extra` (background peers), then the snippet in the foreground. */
function script(dir: string, app: string, extra = ''): string {
  return [
    'set -e',
    'ip link set lo up',
    'ip link add eth0 type veth peer name eth1',
    'ip link set eth0 up && ip link set eth1 up',
    'for a in 11 12 13; do ip addr add 10.0.0.$a/24 dev eth0; done',
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/etc-u,workdir=${dir}/etc-w /etc`,
    `mount -t overlay overlay -o lowerdir=/var/lib,upperdir=${dir}/lib-u,workdir=${dir}/lib-w /var/lib`,
    'mkdir -p /etc/sanode',
    `node ${main} keygen --out /etc/sanode/authkey >/dev/null`,
    `cd ${app}`,
    extra,
    'exec node snippet.js',
  ].join('\n');
}

interface Run {
  pid: number;
  out: () => string;
  exit: Promise<number | null>;
}

function start(body: string): Run {
  const child = spawn('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', body], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { pid: child.pid!, out: () => out, exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

const killPid = (pid: number): void => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: gave up after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The joining snippet: node 1 of three, alone, so not quorate; it must join, report and leave by itself. */
async function runJoining(code: string, dir: string): Promise<void> {
  const app = project(dir, code);
  const run = start(script(dir, app));
  try {
    const code = await within(run.exit, SNIPPET_LIMIT_MS, 'the snippet to finish (it ends with leave())').catch((e: Error) => assert.fail(`${e.message}; output:\n${run.out()}`));
    assert.equal(code, 0, run.out());
    // console.log(cluster.status()) printed the node's status: the cluster, this node, its links.
    assert.match(run.out(), /cluster: 'web'/);
    assert.match(run.out(), /local: '10\.0\.0\.11:5405'/);
  } finally {
    killPid(run.pid);
  }
}

/** The resources snippet as node 1, sidecars as nodes 2 and 3; it ends with standby('web1') and keeps running. */
async function runResources(code: string, dir: string, cib: string): Promise<void> {
  const app = project(dir, code);
  // What the snippet's process agent runs (`/usr/bin/node server.js`, health-checked on the VIP).
  writeFileSync(join(app, 'server.js'), "import { createServer } from 'node:http';\ncreateServer((_q, s) => s.end('ok\\n')).listen(80);\n");
  const peers: string[] = [];
  for (const id of [2, 3]) {
    const yaml = [
      'cluster: web',
      `node: { id: ${id}, name: web${id} }`,
      "transport: { peers: ['10.0.0.11', '10.0.0.12', '10.0.0.13'] }",
      'keyFile: /etc/sanode/authkey',
      `stateDir: ${dir}/state-${id}`,
      `admin: { socket: ${dir}/admin-${id}.sock }`,
      `cib: ${cib}`,
      '',
    ].join('\n');
    writeFileSync(join(dir, `node-${id}.yaml`), yaml);
    peers.push(`node ${main} run ${dir}/node-${id}.yaml >${dir}/node-${id}.log 2>&1 & echo $! >${dir}/node-${id}.pid`);
  }
  const run = start(script(dir, app, peers.join('\n')));
  const peerPids = (): number[] => [2, 3].flatMap((id) => (existsSync(join(dir, `node-${id}.pid`)) ? [Number(readFileSync(join(dir, `node-${id}.pid`), 'utf8'))] : []));
  try {
    const socket = join(dir, 'admin-2.sock');
    let last: StatusReport | undefined;
    const deadline = Date.now() + SNIPPET_LIMIT_MS;
    const done = (r: StatusReport): boolean => {
      const web1 = r.nodes.find((n) => n.name === 'web1');
      const app = r.resources.find((x) => x.id === 'web-app');
      const ip = r.resources.find((x) => x.id === 'web-ip');
      return web1?.standby === true && app?.running.length === 1 && app.running[0]!.node !== 'web1' && !app.running[0]!.failed && ip?.running[0]?.node === app.running[0]!.node;
    };
    while (Date.now() < deadline && (last === undefined || !done(last))) {
      const exited = await Promise.race([run.exit, new Promise<'running'>((r) => setTimeout(() => r('running'), 250))]);
      assert.equal(exited, 'running', `the snippet exited early:\n${run.out()}`);
      const s = await cli({}, '--socket', socket, 'status', '--json');
      if (s.code === 0) last = JSON.parse(s.out) as StatusReport;
    }
    assert.ok(last !== undefined && done(last), `web1 in standby with the group running healthy elsewhere; last status: ${JSON.stringify(last?.nodes)} ${JSON.stringify(last?.resources)}\nsnippet output:\n${run.out()}\nnode 2 log tail:\n${readFileSync(join(dir, 'node-2.log'), 'utf8').slice(-3000)}`);
    // The snippet's own 'resource' listener printed this node's operations: at least its probe of the VIP.
    assert.match(run.out(), /^web-ip monitor on web1 rc \d+$/m);
  } finally {
    killPid(run.pid);
    for (const pid of peerPids()) killPid(pid);
  }
}

test("the README's TypeScript snippets run as printed", { timeout: 200_000 }, async (t) => {
  const reason = await netnsUnavailable();
  if (reason !== undefined) {
    t.skip(reason);
    return;
  }
  const all = snippets();
  assert.ok(all.length >= 2, 'the README has its snippets');
  for (const [i, code] of all.entries()) {
    const dir = mkdtempSync(join(tmpdir(), `sanode-readme-${i}-`));
    try {
      if (/cib: \{/.test(code)) {
        await t.test(`snippet ${i} (resources): node 1 of three, with two sidecars`, () => runResources(code, dir, cibOf(code)));
      } else if (/cluster\.leave\(\)/.test(code)) {
        await t.test(`snippet ${i} (joining): runs to its leave() and exits 0`, () => runJoining(code, dir));
      } else {
        assert.fail(`README snippet ${i} has no harness here; every snippet must run:\n${code}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

/** The snippet's `cib: {...}` object literal, as the YAML (flow style) for the sidecar peers. */
function cibOf(code: string): string {
  const startAt = code.indexOf('cib: {') + 'cib: '.length;
  let depth = 0;
  for (let i = startAt; i < code.length; i += 1) {
    if (code[i] === '{' || code[i] === '[') depth += 1;
    if (code[i] === '}' || code[i] === ']') depth -= 1;
    if (depth === 0) {
      // Evaluated as a JavaScript literal (it is one), then written as JSON, which YAML reads.
      const literal = code.slice(startAt, i + 1);
      return JSON.stringify(new Function(`return (${literal});`)());
    }
  }
  throw new Error('unbalanced cib literal');
}
