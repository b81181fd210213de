/**
 * `npm run bench:totem`: real processes over real UDP on loopback.
 *   - ordered-broadcast throughput (messages/s) at 64 B and 1 KiB, every node sending at once;
 *   - delivery latency (broadcast → own delivery) p50 / p99 on an otherwise idle ring;
 *   - time from `kill -9` of a node to the survivors' new view, median and p99, per profile.
 * Options: --sizes 3,5  --profiles lan,fast,wan  --runs 20  --messages 20000
 */
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../test/helpers/process-cluster.js';
import { formatTable, median, percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,5' },
    profiles: { type: 'string', default: 'lan,fast,wan' },
    runs: { type: 'string', default: '20' },
    messages: { type: 'string', default: '20000' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const profiles = values.profiles.split(',') as ('lan' | 'fast' | 'wan')[];
const runs = Number(values.runs);
const totalMessages = Number(values.messages);
const FORM_MS = 30_000;
let addressBase = 100;

async function delivered(cluster: ProcessCluster, id: number): Promise<number> {
  const mark = cluster.nodes.get(id)!.events.length;
  cluster.send(id, { cmd: 'digest' });
  const e = await cluster.waitFor(id, (x) => x.ev === 'digest', 10_000, mark);
  return e.delivered as number;
}

async function throughput(size: number, payloadBytes: number): Promise<number> {
  const cluster = new ProcessCluster(size, { profile: 'lan', addressBase: addressBase++ });
  const all = Array.from({ length: size }, (_, i) => i + 1);
  try {
    cluster.startAll();
    await cluster.waitForView(all, all, FORM_MS);
    const perNode = Math.ceil(totalMessages / size);
    const expected = perNode * size;
    const startedMs = performance.now();
    for (const id of all) cluster.send(id, { cmd: 'broadcast', count: perNode, size: payloadBytes });
    const deadline = Date.now() + 300_000;
    for (const id of all) {
      while ((await delivered(cluster, id)) < expected) {
        if (Date.now() > deadline) throw new Error('throughput run did not finish in 300 s');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    return expected / ((performance.now() - startedMs) / 1000);
  } finally {
    await cluster.stop();
  }
}

async function latency(size: number): Promise<number[]> {
  const cluster = new ProcessCluster(size, { profile: 'lan', addressBase: addressBase++ });
  const all = Array.from({ length: size }, (_, i) => i + 1);
  try {
    cluster.startAll();
    await cluster.waitForView(all, all, FORM_MS);
    cluster.send(1, { cmd: 'latency', count: 300, size: 64, intervalMs: 5 });
    const e = await cluster.waitFor(1, (x) => x.ev === 'latency', 60_000);
    return e.samplesMs as number[];
  } finally {
    await cluster.stop();
  }
}

async function killToView(size: number, profile: 'lan' | 'fast' | 'wan'): Promise<number[]> {
  const cluster = new ProcessCluster(size, { profile, addressBase: addressBase++ });
  const all = Array.from({ length: size }, (_, i) => i + 1);
  const samples: number[] = [];
  try {
    cluster.startAll();
    await cluster.waitForView(all, all, FORM_MS);
    for (let run = 0; run < runs; run += 1) {
      const victim = all[run % size]!; // every node takes its turn, the representative included
      const survivors = all.filter((id) => id !== victim);
      const marks = new Map(survivors.map((id) => [id, cluster.nodes.get(id)!.events.length]));
      // Let the ring settle so each run starts from a quiet, stable membership.
      await new Promise((r) => setTimeout(r, 300));
      const killedAtMs = Date.now();
      cluster.kill(victim);
      let latestMs = 0;
      for (const id of survivors) {
        const want = JSON.stringify(survivors);
        const v = await cluster.waitFor(id, (e) => e.ev === 'view' && JSON.stringify(e.members) === want, FORM_MS, marks.get(id));
        latestMs = Math.max(latestMs, v.atMs as number);
      }
      samples.push(latestMs - killedAtMs);
      while (!cluster.nodes.get(victim)!.exited) await cluster.nextEvent(20);
      cluster.start(victim);
      await cluster.waitForView(all, all, FORM_MS);
    }
    return samples;
  } finally {
    await cluster.stop();
  }
}

const f1 = (n: number): string => n.toFixed(1);
console.log(`sanode bench:totem — real processes, UDP on loopback, secure wire; ${runs} kill runs per cell\n`);
const throughputRows: (string | number)[][] = [];
for (const size of sizes) {
  const small = await throughput(size, 64);
  const large = await throughput(size, 1024);
  const lat = await latency(size);
  throughputRows.push([size, Math.round(small), Math.round(large), f1(median(lat)), f1(percentile(lat, 99))]);
}
console.log(formatTable(['nodes', 'msg/s 64B', 'msg/s 1KiB', 'latency p50 ms', 'latency p99 ms'], throughputRows));
console.log();
const failoverRows: (string | number)[][] = [];
for (const profile of profiles) {
  for (const size of sizes) {
    const s = await killToView(size, profile);
    failoverRows.push([profile, size, s.length, f1(median(s)), f1(percentile(s, 99)), f1(Math.max(...s))]);
  }
}
console.log(formatTable(['profile', 'nodes', 'runs', 'kill→view p50 ms', 'p99 ms', 'max ms'], failoverRows));
