import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinCluster, isSanodeError, type JoinClusterOptions } from '../../lib/index.js';

/**
 * A refused joinCluster releases everything it took, so a retry in the same process works
 * (issue 12, item 4), and a damaged state file is refused by name with the fix, never rewritten
 * and never silently reset (item 5). One node of a 3-node list on loopback 127.0.121.x: it never
 * needs the others to be up.
 */
const peers = ['127.0.121.1', '127.0.121.2', '127.0.121.3'];
const port = 5441;

function optionsIn(stateDir: string, over: Partial<JoinClusterOptions> = {}): JoinClusterOptions {
  return { cluster: 'join-fail', node: { id: 1 }, transport: { peers, port }, security: 'insecure', stateDir, resources: { manage: false }, ...over };
}

/** Whether this process can bind the node's port right now, i.e. nothing holds it. */
async function portIsFree(): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, peers[0], resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

async function refusedWith(options: JoinClusterOptions, code: string, message: RegExp): Promise<void> {
  await assert.rejects(joinCluster(options), (error: unknown) => {
    assert.ok(isSanodeError(error), `a typed SanodeError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
  assert.equal(await portIsFree(), true, 'the refused join released its UDP port');
}

async function joinsThenLeaves(options: JoinClusterOptions): Promise<void> {
  const cluster = await joinCluster(options);
  // A leave that never finishes ends only at the runtime's guard, which reports it as an error.
  const errors: unknown[] = [];
  cluster.on('error', (error) => errors.push(error));
  await cluster.leave();
  assert.deepEqual(errors.map(String), [], 'the graceful leave finished by itself');
}

test('a bad timer is refused before binding, and a retry with valid options in the same process works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-joinfail-'));
  try {
    await refusedWith(optionsIn(dir, { timers: { tokenTimeoutMs: -5 } }), 'SANODE_INVALID_CONFIG', /tokenTimeoutMs/);
    await joinsThenLeaves(optionsIn(dir));
    assert.equal(await portIsFree(), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const damaged: [file: string, contents: string, problem: RegExp][] = [
  ['totem-state.json', '{"ringSeq": 12, "incarn', /not JSON/],
  ['totem-state.json', '{"ringSeq": null, "incarnation": 1700000000000}', /ringSeq/],
  ['totem-state.json', '{"ringSeq": 3, "incarnation": "soon"}', /incarnation/],
  ['last-man-standing.json', '{"config": {"version": 1, "seq"', /not JSON/],
  ['last-man-standing.json', '{"config": null, "acked": []}', /config/],
  ['peer-incarnations.json', '{"peers": {"2": -1}}', /peers\.2/],
];

for (const [file, contents, problem] of damaged) {
  test(`a damaged ${file} (${contents.slice(0, 28)}…) is refused by name with the fix, and left as it was`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sanode-joinfail-'));
    try {
      mkdirSync(dir, { recursive: true });
      const path = join(dir, file);
      writeFileSync(path, contents);
      await refusedWith(optionsIn(dir), 'SANODE_STATE_DAMAGED', new RegExp(`${file.replace('.', '\\.')}[^]*${problem.source}[^]*(restore|remove|move)`));
      assert.equal(readFileSync(path, 'utf8'), contents, 'the damaged file is not rewritten');
      // Once the operator follows the fix (here: moves the file away), the node starts.
      rmSync(path);
      await joinsThenLeaves(optionsIn(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('an incarnation with no successor left is refused with the recovery, not as an option never set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-joinfail-'));
  try {
    const path = join(dir, 'totem-state.json');
    const contents = JSON.stringify({ ringSeq: 4, incarnation: Number.MAX_SAFE_INTEGER });
    writeFileSync(path, contents);
    await refusedWith(optionsIn(dir), 'SANODE_INCARNATION_EXHAUSTED', /totem-state\.json[^]*incarnation[^]*sanode keygen/);
    assert.equal(readFileSync(path, 'utf8'), contents);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a high but usable incarnation starts the node and the next restart still finds a successor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-joinfail-'));
  try {
    const path = join(dir, 'totem-state.json');
    writeFileSync(path, JSON.stringify({ ringSeq: 4, incarnation: Number.MAX_SAFE_INTEGER - 2 }));
    const cluster = await joinCluster(optionsIn(dir));
    assert.equal(cluster.status().node.incarnation, Number.MAX_SAFE_INTEGER - 1);
    await cluster.leave();
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).incarnation, Number.MAX_SAFE_INTEGER - 1);
    await joinsThenLeaves(optionsIn(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
