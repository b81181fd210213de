import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram, runCli } from '../../lib/cli/program.js';
import { clusterFileJsonSchema } from '../../lib/config/schema.js';
import { prettyLine } from '../../lib/sidecar/log.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} });
  return { code, out, err };
}

function paths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...paths(c, [...prefix, c.name()])]);
}

test('every command and subcommand has help, and exits 0 with it', async () => {
  const all = paths(buildProgram({ stdout: { write: () => true }, stderr: { write: () => true } }, () => undefined));
  assert.ok(all.length >= 30, `found ${all.length} commands`);
  for (const path of all) {
    const r = await cli(...path, '--help');
    assert.equal(r.code, 0, `${path.join(' ')} --help: ${r.err}`);
    // The passed-through commands print their own usage, the rest commander's.
    assert.match(r.out, /usage: sanode/i, path.join(' '));
  }
});

test('a mistyped command is a usage error (exit 2) with a suggestion; --version prints the package version', async () => {
  const r = await cli('resource', 'mvoe', 'web-ip', 'node-2');
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command 'mvoe'[\s\S]*Did you mean move\?/);
  const missing = await cli('resource', 'move', 'web-ip');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /missing required argument 'node'/);
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal((await cli('--version')).out.trim(), pkg.version);
});

test('config schema prints the JSON Schema of cluster.yaml; agents list and describe need no node', async () => {
  assert.deepEqual(JSON.parse((await cli('config', 'schema')).out), clusterFileJsonSchema());
  const list = JSON.parse((await cli('agents', 'list', '--json')).out) as { agent: string }[];
  assert.deepEqual(list.slice(0, 4).map((a) => a.agent), ['sanode:vip', 'sanode:process', 'sanode:filesystem', 'sanode:dummy']);
  const vip = await cli('agents', 'describe', 'sanode:vip');
  assert.equal(vip.code, 0, vip.err);
  assert.match(vip.out, /^ {2}ip \(required\): /m);
  // The README's own example: an OCF agent from Debian's resource-agents, read from its meta-data.
  if (existsSync('/usr/lib/ocf/resource.d/heartbeat/IPaddr2')) {
    const ipaddr2 = await cli('agents', 'describe', 'ocf:heartbeat:IPaddr2');
    assert.equal(ipaddr2.code, 0, ipaddr2.err);
    assert.match(ipaddr2.out, /^ocf:heartbeat:IPaddr2: Manages virtual IPv4 and IPv6 addresses/);
    assert.match(ipaddr2.out, /^ {2}ip \(required\)/m);
  }
  const nope = await cli('agents', 'describe', 'sanode:nope');
  assert.equal(nope.code, 1);
  assert.match(nope.err, /no agent 'sanode:nope'/);
});

test('config verify: a valid file exits 0; a typo exits 1 with the suggestion; a missing key file is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-verify-'));
  try {
    const file = join(dir, 'cluster.yaml');
    const body = `cluster: web\nnode: { id: 1 }\ntransport: { peers: [10.0.0.11, 10.0.0.12, 10.0.0.13] }\nstateDir: ${dir}\n`;
    writeFileSync(file, `${body}security: insecure\n`);
    const ok = await cli('config', 'verify', file);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /cluster\.yaml: valid/);
    writeFileSync(file, `${body}security: insecure\nquorum: { twoNode: true, wait_for_all: true }\n`);
    const typo = await cli('config', 'verify', file);
    assert.equal(typo.code, 1);
    assert.match(typo.err, /quorum\.wait_for_all: unknown key; did you mean 'quorum\.waitForAll'\?/);
    writeFileSync(file, `${body}quorum: { twoNode: true }\nsecurity: insecure\n`);
    assert.match((await cli('config', 'verify', file)).err, /twoNode: needs exactly two nodes/);
    // What the node itself would refuse before it binds: timers that break their relations, and
    // more links than the transport takes.
    writeFileSync(file, `${body}security: insecure\ntimers: { tokenTimeoutMs: 80 }\n`);
    const timers = await cli('config', 'verify', file);
    assert.equal(timers.code, 1);
    assert.match(timers.err, /timers\.tokenRetransmitMs: 100 must be below timers\.tokenTimeoutMs \(80\)/);
    const link = (i: number): string => `{ mode: udpu, bindAddr: 10.0.${i}.11, port: 5405 }`;
    writeFileSync(file, `cluster: web\nnode: { id: 1 }\ntransport:\n  nodes: [{ id: 1, addrs: [10.0.0.11] }, { id: 2, addrs: [10.0.0.12] }]\n  links: [${Array.from({ length: 9 }, (_, i) => link(i)).join(', ')}]\nstateDir: ${dir}\nsecurity: insecure\n`);
    const links = await cli('config', 'verify', file);
    assert.equal(links.code, 1);
    assert.match(links.err, /transport: links: expected 1 to 8 links/);
    writeFileSync(file, `${body}keyFile: authkey\n`);
    const key = await cli('config', 'verify', file);
    assert.equal(key.code, 1);
    assert.match(key.err, new RegExp(`${dir}/authkey`), 'a relative keyFile is read next to the file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a command against a socket nobody answers on exits 3 and says how to point at one', async () => {
  const r = await cli('--socket', '/nonexistent/sanode.sock', 'status');
  assert.equal(r.code, 3);
  assert.match(r.err, /no sanode node answers on \/nonexistent\/sanode\.sock \(ENOENT\).*--socket PATH or SANODE_ADMIN_SOCKET/);
});

test('pretty logs read as one line with node, view, epoch and resource', () => {
  const line = prettyLine(JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5), cluster: 'web', node: 2, view: 7, epoch: 65538, resource: 'web-ip', msg: 'monitor rc 7' }));
  assert.equal(line, '2026-01-02T03:04:05.000Z WARN  [node 2 view 7 epoch 65538] web-ip: monitor rc 7\n');
});
