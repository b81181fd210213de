/**
 * `npm run demo`: a three-node cluster on this machine, one process per node on loopback, each
 * ready to run a leader-only job. It prints a live timeline, kills the leader with SIGKILL, shows
 * the failover with its measured duration, and stops everything it started. No root needed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const NODE_COUNT = 3;
const here = dirname(fileURLToPath(import.meta.url));
const stateRoot = mkdtempSync(join(tmpdir(), 'sanode-demo-'));
const key = randomBytes(32).toString('hex');
const nodes = Array.from({ length: NODE_COUNT }, (_, i) => ({ id: i + 1, addrs: [`127.0.77.${i + 1}`] }));
const children = new Map<number, ChildProcess>();
const startedAtMs = Date.now();

interface NodeEvent {
  ev: string;
  node: number;
  atMs: number;
  seq?: number;
  members?: number[];
  quorate?: boolean;
  reason?: string;
  beat?: number;
  epoch?: number;
}
const listeners = new Set<(e: NodeEvent) => void>();

function clock(atMs: number): string {
  return `${((atMs - startedAtMs) / 1000).toFixed(3).padStart(7)}s`;
}

function describe(e: NodeEvent): string | undefined {
  switch (e.ev) {
    case 'joined':
      return `node ${e.node} joined: view ${e.seq} members [${e.members?.join(',')}], ${e.quorate ? 'quorate' : 'not quorate yet'}`;
    case 'view':
      return `node ${e.node} view ${e.seq} members [${e.members?.join(',')}]`;
    case 'quorum':
      return `node ${e.node} ${e.quorate ? 'quorate' : 'NOT quorate'} (${e.reason})`;
    case 'leader-start':
      return `node ${e.node} >>> leader callback started, epoch ${e.epoch}`;
    case 'leader-stop':
      return `node ${e.node} <<< leader callback aborted, epoch ${e.epoch}`;
    case 'leader-work':
      return e.beat === 1 || (e.beat ?? 0) % 4 === 0 ? `node ${e.node}     leader job heartbeat ${e.beat}` : undefined;
    default:
      return undefined;
  }
}

function start(id: number): void {
  const config = { nodeId: id, nodes, port: 5405, stateDir: join(stateRoot, `node-${id}`), key };
  const child = spawn(process.execPath, [join(here, 'demo-node.js'), JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.set(id, child);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let e: NodeEvent;
    try {
      e = JSON.parse(line) as NodeEvent;
    } catch {
      return;
    }
    const text = describe(e);
    if (text !== undefined) console.log(`${clock(e.atMs)}  ${text}`);
    for (const l of listeners) l(e);
  });
}

function waitFor(match: (e: NodeEvent) => boolean, timeoutMs: number, what: string): Promise<NodeEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      listeners.delete(listener);
      reject(new Error(`demo: no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    function listener(e: NodeEvent): void {
      if (!match(e)) return;
      clearTimeout(timer);
      listeners.delete(listener);
      resolve(e);
    }
    listeners.add(listener);
  });
}

async function main(): Promise<void> {
  console.log(`sanode demo: ${NODE_COUNT} nodes on 127.0.77.1-${NODE_COUNT}, UDP port 5405, encrypted with a fresh key\n`);
  const firstLeader = waitFor((e) => e.ev === 'leader-start', 20_000, 'leader');
  for (const n of nodes) start(n.id);
  const leader = await firstLeader;
  await waitFor((e) => e.ev === 'leader-work' && e.node === leader.node && (e.beat ?? 0) >= 4, 10_000, 'leader work');

  console.log(`\n${clock(Date.now())}  demo: kill -9 of the leader, node ${leader.node}\n`);
  const nextLeader = waitFor((e) => e.ev === 'leader-start' && e.node !== leader.node, 20_000, 'new leader');
  const killedAtMs = Date.now();
  children.get(leader.node)!.kill('SIGKILL');
  const next = await nextLeader;
  await waitFor((e) => e.ev === 'leader-work' && e.node === next.node && (e.beat ?? 0) >= 2, 10_000, 'new leader work');

  console.log(
    `\nfailover: node ${next.node} took over ${(next.atMs - killedAtMs).toFixed(0)} ms after the kill -9 of node ${leader.node}` +
      ` (epoch ${leader.epoch} -> ${next.epoch}).\nThe new leader waited out the old leader's lease before starting, so the two callbacks never overlapped.`,
  );
}

try {
  await main();
} finally {
  for (const child of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stateRoot, { recursive: true, force: true });
}
