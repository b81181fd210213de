/**
 * `npm run bench:totem`: real processes over real UDP on loopback.
 *   - ordered-broadcast throughput (messages/s) at 64 B and 1 KiB, every node sending at once:
 *     the first run of a fresh cluster (cold: what this bench always measured) and `--reps` more
 *     on the same, warmed-up cluster, median and p99 (nearest rank) of those;
 *   - delivery latency (broadcast → own delivery) p50 / p99 on an otherwise idle ring;
 *   - delivery latency under a steady load (`--load-rate` messages/s in all, spread over the
 *     nodes, for `--load-ms`): p50 / p99 / max of every message's broadcast → own delivery;
 *   - time from `kill -9` of a node to the survivors' new view, median and p99, per profile.
 * Options: --sizes 3,5  --profiles lan,fast,wan  --runs 20  --messages 20000  --reps 3
 *          --only throughput,latency,load,kill  --load-rate 25000  --load-ms 3000
 *          --bundle on|off (off: one datagram per message, the transport before bundles)
 */
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../test/helpers/process-cluster.js';
import type { TotemProcessConfig } from '../test/helpers/totem-process.js';
import { formatTable, median, percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,5' },
    profiles: { type: 'string', default: 'lan,fast,wan' },
    runs: { type: 'string', default: '20' },
    messages: { type: 'string', default: '20000' },
    reps: { type: 'string', default: '3' },
    only: { type: 'string', default: 'throughput,latency,load,kill' },
    'load-rate': { type: 'string', default: '25000' },
    'load-ms': { type: 'string', default: '3000' },
    bundle: { type: 'string', default: 'on' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const profiles = values.profiles.split(',') as ('lan' | 'fast' | 'wan')[];
const runs = Number(values.runs);
const totalMessages = Number(values.messages);
const reps = Number(values.reps);
const only = new Set(values.only.split(','));
const loadRate = Number(values['load-rate']);
const loadMs = Number(values['load-ms']);
const bundle = values.bundle !== 'off';
const FORM_MS = 30_000;
let addressBase = 100;

function cluster(size: number, profile: 'lan' | 'fast' | 'wan'): ProcessCluster {
  return new ProcessCluster(size, {
    profile,
    addressBase: addressBase++,
    configFor: (id, common) =>
      ({
        nodeId: id,
        nodes: common.nodes,
        port: common.port,
        stateDir: common.stateDir,
        profile,
        bundle,
        ...(common.key === undefined ? {} : { key: common.key }),
      }) satisfies TotemProcessConfig,
  });
}

async function delivered(c: ProcessCluster, id: number): Promise<number> {
  const mark = c.nodes.get(id)!.events.length;
  c.send(id, { cmd: 'digest' });
  const e = await c.waitFor(id, (x) => x.ev === 'digest', 10_000, mark);
  return e.delivered as number;
}

/** CPU seconds (user + system) each node's process has used so far. */
async function cpuOf(c: ProcessCluster, all: number[]): Promise<number> {
  let total = 0;
  for (const id of all) {
    const mark = c.nodes.get(id)!.events.length;
    c.send(id, { cmd: 'cpu' });
    const e = await c.waitFor(id, (x) => x.ev === 'cpu', 10_000, mark);
    total += ((e.userMs as number) + (e.systemMs as number)) / 1000;
  }
  return total;
}

/**
 * One throughput run: every node broadcasts its share at once; rate = messages / time until all
 * are delivered everywhere. Also the CPU all nodes spent per message: on a shared machine the
 * rate falls with the others' load, this much less.
 */
async function throughputRun(c: ProcessCluster, all: number[], payloadBytes: number, alreadyDelivered: number): Promise<{ rate: number; cpuUs: number }> {
  const cpuBefore = await cpuOf(c, all);
  const perNode = Math.ceil(totalMessages / all.length);
  const expected = alreadyDelivered + perNode * all.length;
  const startedMs = performance.now();
  for (const id of all) c.send(id, { cmd: 'broadcast', count: perNode, size: payloadBytes });
  const deadline = Date.now() + 300_000;
  for (const id of all) {
    while ((await delivered(c, id)) < expected) {
      if (Date.now() > deadline) throw new Error('throughput run did not finish in 300 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const rate = (perNode * all.length) / ((performance.now() - startedMs) / 1000);
  return { rate, cpuUs: ((await cpuOf(c, all)) - cpuBefore) * 1e6 / (perNode * all.length) };
}

/** Cold first run, then `reps` warm runs on the same cluster. */
async function throughput(size: number, payloadBytes: number): Promise<{ cold: number; warm: number[]; cpuUs: number[] }> {
  const c = cluster(size, 'lan');
  const all = Array.from({ length: size }, (_, i) => i + 1);
  try {
    c.startAll();
    await c.waitForView(all, all, FORM_MS);
    const perRun = Math.ceil(totalMessages / size) * size;
    const cold = (await throughputRun(c, all, payloadBytes, 0)).rate;
    const warm: number[] = [];
    const cpuUs: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const run = await throughputRun(c, all, payloadBytes, perRun * (rep + 1));
      warm.push(run.rate);
      cpuUs.push(run.cpuUs);
    }
    return { cold, warm, cpuUs };
  } finally {
    await c.stop();
  }
}

async function latency(size: number): Promise<number[]> {
  const c = cluster(size, 'lan');
  const all = Array.from({ length: size }, (_, i) => i + 1);
  try {
    c.startAll();
    await c.waitForView(all, all, FORM_MS);
    c.send(1, { cmd: 'latency', count: 300, size: 64, intervalMs: 5 });
    const e = await c.waitFor(1, (x) => x.ev === 'latency', 60_000);
    return e.samplesMs as number[];
  } finally {
    await c.stop();
  }
}

/** Every node offers rate/size messages/s; latency of every message, all nodes pooled. */
async function underLoad(size: number, rate: number): Promise<{ samples: number[]; sent: number; refused: number }> {
  const c = cluster(size, 'lan');
  const all = Array.from({ length: size }, (_, i) => i + 1);
  try {
    c.startAll();
    await c.waitForView(all, all, FORM_MS);
    // A short warm-up at the same rate, so the figure is the steady state, not the JIT's start.
    for (const id of all) c.send(id, { cmd: 'load', rate: rate / size, durationMs: 500, size: 64 });
    for (const id of all) await c.waitFor(id, (x) => x.ev === 'load', 30_000);
    const marks = new Map(all.map((id) => [id, c.nodes.get(id)!.events.length]));
    for (const id of all) c.send(id, { cmd: 'load', rate: rate / size, durationMs: loadMs, size: 64 });
    const samples: number[] = [];
    let sent = 0;
    let refused = 0;
    for (const id of all) {
      const e = await c.waitFor(id, (x) => x.ev === 'load', loadMs + 30_000, marks.get(id));
      for (const s of e.samplesMs as number[]) samples.push(s);
      sent += e.sent as number;
      refused += e.refused as number;
    }
    return { samples, sent, refused };
  } finally {
    await c.stop();
  }
}

async function killToView(size: number, profile: 'lan' | 'fast' | 'wan'): Promise<number[]> {
  const c = cluster(size, profile);
  const all = Array.from({ length: size }, (_, i) => i + 1);
  const samples: number[] = [];
  try {
    c.startAll();
    await c.waitForView(all, all, FORM_MS);
    for (let run = 0; run < runs; run += 1) {
      const victim = all[run % size]!; // every node takes its turn, the representative included
      const survivors = all.filter((id) => id !== victim);
      const marks = new Map(survivors.map((id) => [id, c.nodes.get(id)!.events.length]));
      // Let the ring settle so each run starts from a quiet, stable membership.
      await new Promise((r) => setTimeout(r, 300));
      const killedAtMs = Date.now();
      c.kill(victim);
      let latestMs = 0;
      for (const id of survivors) {
        const want = JSON.stringify(survivors);
        const v = await c.waitFor(id, (e) => e.ev === 'view' && JSON.stringify(e.members) === want, FORM_MS, marks.get(id));
        latestMs = Math.max(latestMs, v.atMs as number);
      }
      samples.push(latestMs - killedAtMs);
      while (!c.nodes.get(victim)!.exited) await c.nextEvent(20);
      c.start(victim);
      await c.waitForView(all, all, FORM_MS);
    }
    return samples;
  } finally {
    await c.stop();
  }
}

const f1 = (n: number): string => n.toFixed(1);
const r0 = (n: number): string => String(Math.round(n));
console.log(
  `sanode bench:totem — real processes, UDP on loopback, secure wire, bundles ${bundle ? 'on' : 'off'}; ` +
    `${totalMessages} messages per throughput run, ${reps} warm runs; ${runs} kill runs per cell\n`,
);
if (only.has('throughput')) {
  const rows: (string | number)[][] = [];
  for (const size of sizes) {
    for (const bytes of [64, 1024]) {
      const t = await throughput(size, bytes);
      rows.push([size, bytes, r0(t.cold), r0(median(t.warm)), r0(Math.min(...t.warm)), r0(Math.max(...t.warm)), f1(median(t.cpuUs))]);
    }
  }
  console.log(formatTable(['nodes', 'payload B', 'cold msg/s', 'warm median msg/s', 'warm min', 'warm max', 'CPU µs/msg (all nodes)'], rows));
  console.log();
}
if (only.has('latency')) {
  const rows: (string | number)[][] = [];
  for (const size of sizes) {
    const lat = await latency(size);
    rows.push([size, f1(median(lat)), f1(percentile(lat, 99))]);
  }
  console.log(formatTable(['nodes', 'idle latency p50 ms', 'idle latency p99 ms'], rows));
  console.log();
}
if (only.has('load')) {
  const rows: (string | number)[][] = [];
  for (const size of sizes) {
    const l = await underLoad(size, loadRate);
    rows.push([size, loadRate, l.sent, l.refused, f1(median(l.samples)), f1(percentile(l.samples, 99)), f1(Math.max(...l.samples))]);
  }
  console.log(formatTable(['nodes', 'offered msg/s', 'sent', 'refused', 'latency p50 ms', 'p99 ms', 'max ms'], rows));
  console.log();
}
if (only.has('kill')) {
  const rows: (string | number)[][] = [];
  for (const profile of profiles) {
    for (const size of sizes) {
      const s = await killToView(size, profile);
      rows.push([profile, size, s.length, f1(median(s)), f1(percentile(s, 99)), f1(Math.max(...s))]);
    }
  }
  console.log(formatTable(['profile', 'nodes', 'runs', 'kill→view p50 ms', 'p99 ms', 'max ms'], rows));
}
