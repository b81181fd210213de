/**
 * `npm run bench:idle`: what a resting cluster costs. Three nodes, each its own OS process
 * running `joinCluster` (test/helpers/cluster-process.ts) on loopback with the secure wire and
 * no resources, per profile; next to them in the same run, a bare idle `node` process (a timer
 * that never fires) as the floor. Once the cluster has formed and settled, CPU (utime + stime
 * from /proc/<pid>/stat, so every thread counts) is read at the start and the end of a window,
 * and RSS (VmRSS) at its end.
 *
 * Options: --profiles lan,fast  --seconds 20  --settle-ms 2000
 *          --hold-ms N (override the profile's tokenHoldMs, to see what the hold costs and saves)
 *          --cpu-prof-dir DIR (profile every node; each leaves gracefully at the end so the profile is written)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../test/helpers/process-cluster.js';
import { formatTable } from './stats.js';

type Profile = 'lan' | 'fast' | 'wan';

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'lan,fast' },
    seconds: { type: 'string', default: '20' },
    'settle-ms': { type: 'string', default: '2000' },
    'cpu-prof-dir': { type: 'string' },
    'hold-ms': { type: 'string' },
  },
});
const profiles = values.profiles.split(',').map((p) => p.trim()) as Profile[];
for (const p of profiles) if (!['lan', 'fast', 'wan'].includes(p)) throw new Error(`--profiles: unknown profile '${p}'; use lan, fast or wan`);
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds: expected a positive number, got '${values.seconds}'`);
const settleMs = Number(values['settle-ms']);
const profDir = values['cpu-prof-dir'];
const holdMs = values['hold-ms'] === undefined ? undefined : Number(values['hold-ms']);

const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'helpers', 'cluster-process.js');
const NODES = [1, 2, 3];
/** 127.0.<base>.x blocks of our own: bench:totem counts up from 100, bench:leader uses 240. */
const ADDRESS_BASE = 230;
const TICKS_PER_SECOND = 100; // USER_HZ: what /proc/<pid>/stat counts in on Linux
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after the closing parenthesis are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

interface Sample {
  cpuPerMin: number;
  rss: number;
}

/** Measures the given processes over the same window. */
async function measure(pids: number[]): Promise<Sample[]> {
  const before = pids.map(cpuSeconds);
  const startMs = performance.now();
  await sleep(seconds * 1000);
  const minutes = (performance.now() - startMs) / 60_000;
  return pids.map((pid, i) => ({ cpuPerMin: (cpuSeconds(pid) - before[i]!) / minutes, rss: rssMiB(pid) }));
}

function spawnNode(argv: string[]): ChildProcess {
  const flags = profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  return spawn(process.execPath, [...flags, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function idleCluster(profile: Profile, addressBase: number): Promise<{ nodes: Sample[]; bare: Sample }> {
  const c = new ProcessCluster(NODES.length, {
    fixture,
    addressBase,
    spawnNode: (_id, argv) => spawnNode(argv),
    configFor: (id, common) => ({
      options: {
        cluster: 'bench-idle',
        node: { id },
        transport: { nodes: common.nodes, port: common.port },
        keyHex: common.key,
        stateDir: common.stateDir,
        profile,
        ...(holdMs === undefined ? {} : { timers: { tokenHoldMs: holdMs } }),
      },
    }),
  });
  // The floor: a node process that only keeps its event loop alive.
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 2 ** 30)'], { stdio: 'ignore' });
  try {
    c.startAll();
    await c.waitForView(NODES, NODES, 30_000);
    for (const id of NODES) await c.waitFor(id, (e) => e.ev === 'quorum' && e.quorate === true, 30_000);
    await sleep(settleMs);
    const pids = NODES.map((id) => c.nodes.get(id)!.child.pid!);
    const viewsBefore = NODES.map((id) => c.nodes.get(id)!.events.filter((e) => e.ev === 'view').length);
    const samples = await measure([...pids, bare.pid!]);
    // A view change in the window means the figure is not a resting one: say so.
    const views = NODES.map((id, i) => c.nodes.get(id)!.events.filter((e) => e.ev === 'view').length - viewsBefore[i]!);
    if (views.some((n) => n > 0)) console.warn(`profile ${profile}: ${views.join(' / ')} view change(s) per node during the window: the cluster did not rest`);
    if (profDir !== undefined) {
      for (const id of NODES) c.send(id, { cmd: 'leave' });
      for (const id of NODES) await c.waitFor(id, (e) => e.ev === 'left', 10_000).catch(() => undefined);
      await sleep(500);
    }
    return { nodes: samples.slice(0, NODES.length), bare: samples[NODES.length]! };
  } finally {
    bare.kill('SIGKILL');
    await c.stop();
  }
}

const f2 = (n: number): string => n.toFixed(2);
const f1 = (n: number): string => n.toFixed(1);
console.log(
  `sanode bench:idle — 3 joinCluster processes on loopback, secure wire, no resources; ${seconds} s window after ${settleMs} ms of rest` +
    `${holdMs === undefined ? '' : `; tokenHoldMs ${holdMs}`}\n`,
);
const rows: (string | number)[][] = [];
let base = ADDRESS_BASE;
for (const profile of profiles) {
  const { nodes, bare } = await idleCluster(profile, base++);
  const cpu = nodes.map((s) => s.cpuPerMin);
  const rss = nodes.map((s) => s.rss);
  const meanCpu = cpu.reduce((a, b) => a + b, 0) / cpu.length;
  const meanRss = rss.reduce((a, b) => a + b, 0) / rss.length;
  rows.push([profile, cpu.map(f2).join(' / '), f2(meanCpu), f2(bare.cpuPerMin), rss.map(f1).join(' / '), f1(meanRss), f1(bare.rss), `+${f1(meanRss - bare.rss)}`]);
}
console.log(
  formatTable(['profile', 'CPU-s/min per node (1/2/3)', 'mean', 'bare node', 'RSS MiB (1/2/3)', 'mean', 'bare node', 'over bare'], rows),
);
