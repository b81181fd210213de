/**
 * At what rate of forged datagrams does a node lose its membership? (issue 12, "Also measure")
 *
 * Three nodes, each `joinCluster` in its own OS process on loopback (127.0.131.1-3), secure
 * wire. A flooder process sends forged frames at node 1 — node 2's header under another key, so
 * every one is a `bad-auth` drop — at rising rates, one step at a time, with a calm pause in
 * between. For each step: the rate reached, how many views any node installed and whether any
 * lost quorum during the step (membership lost), node 1's bad-auth drops, and the kernel's UDP
 * receive-buffer drops (/proc/net/snmp, machine-wide: loopback is shared).
 *
 *   npm run build && node dist/bench/flood.js [--rates 5000,10000,...] [--step-ms 10000] [--profile lan|fast]
 *
 * Every process it starts is ended by PID; every wait is bounded.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ProcessCluster, type ProcessEvent } from '../test/helpers/process-cluster.js';
import { formatTable } from './stats.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '5000,10000,20000,40000,80000,160000,320000' },
    'step-ms': { type: 'string', default: '10000' },
    profile: { type: 'string', default: 'lan' },
  },
});
const RATES = values.rates.split(',').map(Number);
const STEP_MS = Number(values['step-ms']);
const PROFILE = values.profile as 'lan' | 'fast';
const CLUSTER = 'flood-bench';
const PORT = 5531;
const here = dirname(fileURLToPath(import.meta.url));
const address = (id: number): string => `127.0.131.${id}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function kernelUdpDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const counts = lines[1]!.split(/\s+/);
  return Number(counts[names.indexOf('RcvbufErrors')] ?? 0);
}

async function statusOf(c: ProcessCluster, id: number): Promise<Record<string, unknown>> {
  const node = c.nodes.get(id)!;
  const from = node.events.length;
  c.send(id, { cmd: 'status' });
  const e = await c.waitFor(id, (ev) => ev.ev === 'status', 10_000, from);
  return e['status'] as Record<string, unknown>;
}

function flood(rate: number, ms: number): Promise<{ sent: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'flood-sender.js'), CLUSTER, address(1), String(PORT), String(rate), String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), ms + 30_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      if (code === 0) resolve(JSON.parse(out) as { sent: number; ms: number });
      else reject(new Error(`flooder exited with ${code}`));
    });
  });
}

async function main(): Promise<void> {
  const c = new ProcessCluster(3, {
    fixture: join(here, '..', 'test', 'helpers', 'cluster-process.js'),
    addresses: address,
    port: PORT,
    configFor: (id, common) => ({
      options: {
        cluster: CLUSTER,
        node: { id },
        transport: { peers: [1, 2, 3].map(address), port: PORT },
        profile: PROFILE,
        stateDir: common.stateDir,
        keyHex: common.key,
        resources: { manage: false },
      },
    }),
  });
  const rows: (string | number)[][] = [];
  let lostAt: number | undefined;
  try {
    c.startAll();
    await c.waitForView([1, 2, 3], [1, 2, 3], 30_000);
    await sleep(2_000);
    for (const rate of RATES) {
      const marks = new Map([1, 2, 3].map((id) => [id, c.nodes.get(id)!.events.length]));
      const before = await statusOf(c, 1);
      const kernelBefore = kernelUdpDrops();
      const result = await flood(rate, STEP_MS);
      // The step's record: every view and quorum event any node reported during it.
      const during: ProcessEvent[] = [];
      for (const id of [1, 2, 3]) during.push(...c.nodes.get(id)!.events.slice(marks.get(id)).filter((e) => e.ev === 'view' || e.ev === 'quorum'));
      const after = await statusOf(c, 1);
      const drops = (s: Record<string, unknown>): number => ((s['drops'] as Record<string, number> | undefined)?.['bad-auth'] ?? 0);
      const views = during.filter((e) => e.ev === 'view').length;
      const quorumLost = during.some((e) => e.ev === 'quorum' && e['quorate'] === false);
      const lost = views > 0 || quorumLost;
      if (lost && lostAt === undefined) lostAt = rate;
      rows.push([rate, Math.round(result.sent / (result.ms / 1000)), views, quorumLost ? 'yes' : 'no', drops(after) - drops(before), kernelUdpDrops() - kernelBefore]);
      console.error(`rate ${rate}: ${lost ? 'membership changed' : 'membership held'}`);
      // Let a changed membership settle before the next step, so each step starts from one view.
      await c.waitForView([1, 2, 3], [1, 2, 3], 30_000);
      await sleep(3_000);
    }
  } finally {
    await c.stop();
  }
  console.log(`\nforged frames at node 1, ${PROFILE} profile, ${STEP_MS} ms per step, 3 nodes in separate processes on loopback`);
  console.log(formatTable(['target /s', 'sent /s', 'views during', 'quorum lost', 'bad-auth drops (node 1)', 'kernel UDP drops'], rows));
  console.log(lostAt === undefined ? '\nmembership held at every rate tried' : `\nmembership first changed at ${lostAt} forged datagrams/s`);
}

await main();
