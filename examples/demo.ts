/**
 * `npm run demo`: a three-node cluster on this machine, one process per node on loopback, each
 * ready to run a leader-only job and an HTTP service the cluster keeps on one node. It prints a
 * live timeline, kills the node that runs both with SIGKILL, shows both failovers with their
 * measured durations, and stops everything it started. No root needed.
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
  rsc?: string;
  op?: string;
  rc?: number;
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
    case 'resource':
      return `node ${e.node} ${e.op === 'start' ? '+++' : '---'} service "${e.rsc}" ${e.op}${e.rc === 0 ? '' : ` failed (rc ${e.rc})`}`;
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
  const firstService = waitFor((e) => e.ev === 'resource' && e.op === 'start' && e.rc === 0, 30_000, 'service start');
  for (const n of nodes) start(n.id);
  const leader = await firstLeader;
  const service = await firstService;
  await waitFor((e) => e.ev === 'leader-work' && e.node === leader.node && (e.beat ?? 0) >= 4, 10_000, 'leader work');

  const victim = service.node;
  const roles = victim === leader.node ? 'the leader and the service' : 'the service';
  console.log(`\n${clock(Date.now())}  demo: kill -9 of node ${victim}, which runs ${roles}\n`);
  const nextLeader = victim === leader.node ? waitFor((e) => e.ev === 'leader-start' && e.node !== victim, 20_000, 'new leader') : undefined;
  const nextService = waitFor((e) => e.ev === 'resource' && e.op === 'start' && e.rc === 0 && e.node !== victim, 30_000, 'service restart elsewhere');
  const killedAtMs = Date.now();
  children.get(victim)!.kill('SIGKILL');
  const next = await nextLeader;
  const moved = await nextService;
  if (next !== undefined) await waitFor((e) => e.ev === 'leader-work' && e.node === next.node && (e.beat ?? 0) >= 2, 10_000, 'new leader work');

  console.log('');
  if (next !== undefined) {
    console.log(
      `leader failover: node ${next.node} took over ${(next.atMs - killedAtMs).toFixed(0)} ms after the kill -9 of node ${victim}` +
        ` (epoch ${leader.epoch} -> ${next.epoch}); it waited out the old leader's lease, so the two callbacks never overlapped.`,
    );
  }
  console.log(
    `service failover: "web" started on node ${moved.node} ${(moved.atMs - killedAtMs).toFixed(0)} ms after the kill -9;` +
      ` the cluster first waited until node ${victim} would have stopped it by itself, had it been alive but cut off.`,
  );
}

try {
  await main();
} finally {
  for (const child of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stateRoot, { recursive: true, force: true });
}
