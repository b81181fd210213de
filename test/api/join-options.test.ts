import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinCluster, isSanodeError, type JoinClusterOptions } from '../../lib/index.js';

// Options that fail at bind time have already chosen an incarnation: keep that state out of the repo.
const stateDir = mkdtempSync(join(tmpdir(), 'sanode-opts-state-'));
process.on('exit', () => rmSync(stateDir, { recursive: true, force: true }));

const base: JoinClusterOptions = {
  cluster: 'opts',
  stateDir,
  node: { id: 1 },
  transport: { peers: ['127.0.91.1', '127.0.91.2', '127.0.91.3'], port: 5405 },
  security: 'insecure',
};

async function refused(options: JoinClusterOptions, code: string, message: RegExp): Promise<void> {
  await assert.rejects(joinCluster(options), (error: unknown) => {
    assert.ok(isSanodeError(error), `a typed SanodeError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

test('joinCluster refuses bad options with the field named and the fix', async () => {
  await refused({ ...base, cluster: 'has spaces' }, 'SANODE_INVALID_CONFIG', /^cluster: /);
  await refused({ ...base, node: { id: 0 } }, 'SANODE_INVALID_CONFIG', /^node\.id: expected an integer 1\.\.65535/);
  await refused({ ...base, node: { id: 4 } }, 'SANODE_INVALID_CONFIG', /node 4 is not in the node list/);
  await refused({ ...base, transport: { port: 5405 } }, 'SANODE_INVALID_CONFIG', /needs peers/);
  await refused({ ...base, security: undefined }, 'SANODE_INVALID_CONFIG', /^keyFile: .*sanode keygen/);
  await refused({ ...base, profile: 'turbo' as 'lan' }, 'SANODE_INVALID_CONFIG', /^profile: /);
  await refused({ ...base, quorum: { twoNode: true } }, 'SANODE_INVALID_CONFIG', /twoNode: needs exactly two nodes/);
  await refused({ ...base, quorum: { tieBreaker: 'vote' } }, 'SANODE_INVALID_CONFIG', /^tieBreakerCheck: /);
  await refused({ ...base, transport: { ...base.transport, port: 70_000 } }, 'SANODE_INVALID_CONFIG', /port/);
});

test('joinCluster refuses a missing or too-open key file, naming the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-opts-'));
  try {
    const keyFile = join(dir, 'authkey');
    await refused({ ...base, security: undefined, keyFile }, 'SANODE_KEY_MISSING', /authkey/);
    writeFileSync(keyFile, Buffer.alloc(32, 1), { mode: 0o644 });
    chmodSync(keyFile, 0o644);
    await refused({ ...base, security: undefined, keyFile }, 'SANODE_KEY_TOO_OPEN', /chmod 600/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('joinCluster refuses an address that is not on this host and a port already taken', async () => {
  // 192.0.2.0/24 is TEST-NET-1: never assigned to a host, so binding fails locally; nothing is sent.
  await refused({ ...base, transport: { peers: ['192.0.2.1', '192.0.2.2'] } }, 'SANODE_ADDRESS_NOT_LOCAL', /192\.0\.2\.1/);
  const squatter = createSocket('udp4');
  await new Promise<void>((resolve) => squatter.bind(5411, '127.0.91.1', resolve));
  try {
    await refused({ ...base, transport: { ...base.transport, port: 5411 } }, 'SANODE_PORT_IN_USE', /5411/);
  } finally {
    squatter.close();
  }
});

test('a second copy of a node on one host is refused as such, not as "port in use"', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-opts-twice-'));
  const options: JoinClusterOptions = { ...base, stateDir: dir, transport: { peers: ['127.0.91.1', '127.0.91.2', '127.0.91.3'], port: 5412 } };
  const first = await joinCluster(options);
  try {
    // Another port too, so only the lock can tell it is the same node.
    await refused({ ...options, transport: { ...options.transport, port: 5413 } }, 'SANODE_NODE_RUNNING', /node 1 of cluster 'opts' already runs here \(pid \d+, this process/);
  } finally {
    await first.leave();
  }
  // leave() released the lock: the node can start again.
  const again = await joinCluster(options);
  await again.leave();
  rmSync(dir, { recursive: true, force: true });
});

test('a lock left by a process that is gone is taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-opts-stale-'));
  try {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    writeFileSync(join(dir, 'node.lock'), JSON.stringify({ pid: deadPid, cluster: 'opts', node: 1 }));
    const cluster = await joinCluster({ ...base, stateDir: dir, transport: { ...base.transport, port: 5414 } });
    await cluster.leave();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a state directory that cannot be used is refused before anything binds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanode-opts-file-'));
  try {
    writeFileSync(join(dir, 'a-file'), '');
    await refused({ ...base, stateDir: join(dir, 'a-file', 'node-1') }, 'SANODE_INVALID_CONFIG', /^stateDir: '.*a-file\/node-1' cannot be used \(ENOTDIR\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
