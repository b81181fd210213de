import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { simulateCommand } from '../../lib/cli/simulate.js';

/** The repository root, from .build/<x>/test/scheduler or dist/test/scheduler. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('repository root not found');
}

const root = repoRoot();
const example = join(root, 'examples/cib/web-nfs.json');
const exampleState = join(root, 'examples/cib/web-nfs-state.json');
const NOW = '2023-11-15T00:00:00Z';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } };
  const code = await simulateCommand(argv, io);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'sanode-simulate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('sanode simulate', () => {
  it('prints placement, the ordered transition and scores for the web + NFS example', async () => {
    const r = await run(['--config', example, '--show-scores', '--now', NOW]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /webip\s+webservice\s+node1/);
    assert.match(r.out, /webserver\s+webservice\s+node1/);
    assert.match(r.out, /ping\s+ping-clone\s+node1, node2, node3/);
    assert.match(r.out, /Transition \(\d+ actions, in order\)/);
    assert.match(r.out, /Allocation scores:/);
    // The group starts in member order: the IP, then the mount, then the web server.
    const ip = r.out.indexOf('start webip');
    const fs = r.out.indexOf('start webstore');
    const web = r.out.indexOf('start webserver');
    assert.ok(ip > 0 && ip < fs && fs < web, r.out);
  });

  it('--node-down moves the group to the other connected node; --json is machine-readable', async () => {
    const r = await run(['--config', example, '--state', exampleState, '--node-down', 'node1', '--json', '--now', NOW]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { placement: Record<string, { node: string }[]>; actions: { id: string; deps: string[] }[]; scores?: unknown };
    assert.deepEqual(doc.placement['webip'], [{ node: 'node2', role: 'Started' }]);
    assert.equal(doc.scores, undefined);
    const ids = doc.actions.map((a) => a.id);
    assert.ok(ids.includes('webip_start_0@node2'));
    // Every dependency comes earlier in the list.
    doc.actions.forEach((a, i) => a.deps.forEach((d) => assert.ok(ids.indexOf(d) < i, `${a.id} after ${d}`)));
  });

  it('--no-quorum under no-quorum-policy=stop stops everything that runs', async () => {
    const r = await run(['--config', example, '--state', exampleState, '--no-quorum', '--json', '--now', NOW]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { placement: Record<string, unknown[]>; actions: { kind: string }[] };
    assert.ok(Object.values(doc.placement).every((l) => l.length === 0));
    assert.ok(doc.actions.length > 0 && doc.actions.every((a) => a.kind === 'stop'));
  });

  it('a bad configuration names the file and the field, exits 1, and prints no stack trace', async () => {
    const bad = file('bad.json', JSON.stringify({ nodes: [{ id: '1', name: 'n1' }], resources: [{ kind: 'primitive', id: 'ip', agent: { class: 'ocf', type: 'IPaddr2' } }] }));
    const r = await run(['--config', bad]);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /bad\.json: resources\[0\]\.agent\.provider \(ip\): .*\[SANODE_INVALID_CIB\]/);
    assert.doesNotMatch(r.err, /\n\s+at /);
  });

  it('broken JSON is reported with a line and column', async () => {
    const r = await run(['--config', file('broken.json', '{\n  "nodes": [,]\n}')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /broken\.json: json: not valid JSON at line 2, column \d+/);
  });

  it('a state file naming an unknown resource or a bad op record names the field', async () => {
    const unknown = file('s1.json', JSON.stringify({ nodes: { node1: { state: 'online', resources: { nope: { ops: [] } } } } }));
    const r1 = await run(['--config', example, '--state', unknown]);
    assert.equal(r1.code, 1);
    assert.match(r1.err, /s1\.json: status\.nodes\.node1\.resources\.nope \(nope\): unknown primitive/);
    const badRc = file('s2.json', JSON.stringify({ nodes: { node2: { state: 'online', resources: { webip: { ops: [{ op: 'start', intervalMs: 0, rc: 'ok', timeMs: 1, callId: 1 }] } } } } }));
    const r2 = await run(['--config', example, '--state', badRc]);
    assert.equal(r2.code, 1);
    assert.match(r2.err, /status\.nodes\.node2\.resources\.webip\.ops\[0\]\.rc/);
    const badState = file('s3.json', JSON.stringify({ nodes: { node9: { state: 'online' } } }));
    assert.match((await run(['--config', example, '--state', badState])).err, /status\.nodes\.node9 \(node9\): unknown node/);
  });

  it('a missing file, an unknown --node-down name and usage errors are reported plainly', async () => {
    const missing = await run(['--config', join(dir, 'nope.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /--config: cannot read .*nope\.json: no such file/);
    const node = await run(['--config', example, '--node-down', 'node9']);
    assert.equal(node.code, 1);
    assert.match(node.err, /--node-down \(node9\): unknown node/);
    assert.equal((await run([])).code, 2);
    assert.equal((await run(['--config', example, '--bogus'])).code, 2);
    const nullResource = await run(['--config', file('null.json', JSON.stringify({ nodes: [], resources: [null] }))]);
    assert.equal(nullResource.code, 1);
    assert.match(nullResource.err, /resources\[0\]: must be an object/);
  });
});
