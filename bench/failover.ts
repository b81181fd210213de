/**
 * `npm run bench:failover`: how long a client goes without an answer from a service behind a VIP
 * when the node holding it fails, per timing profile:
 *   - kill:      `kill -9` of the holder's sanode process (its VIP stays in the kernel until the
 *                lease runs out; its HTTP server keeps running, as after a real kill -9);
 *   - link-down: `ip link set dev <bridge port> down`: the holder is cut off and loses carrier.
 *
 * The lab is test/helpers/ha-lab.ts: three nodes and a client, each in its own network namespace
 * on one bridge; group `web` = VIP 10.77.0.100/24 (lease 3 s, monitor 1 s) + an HTTP server bound
 * to it (monitor 1 s). The client sends a GET through the VIP every 10 ms (300 ms timeout); the
 * outage of a run is the longest time between two successive answers, from 1 s before the fault
 * until the service has answered 20 times in a row from another node. Every run also checks, from
 * the watchers in the node namespaces, that the VIP was never on two nodes at once.
 *
 * Between runs the victim comes back (kill: its namespace's leftovers are ended and it restarts,
 * as after a reboot; link-down: the port comes up again) and the cluster settles: three nodes in
 * one view, the service answering from one node, the VIP there only. Stickiness keeps the service
 * where it moved, so the next run's victim is the new holder. Kinds alternate within a profile, so
 * load from other jobs falls on both alike.
 *
 * Needs root (network namespaces). Everything it creates carries the `snt-` prefix and is removed
 * at the end, also on failure or Ctrl-C.
 *
 * Options: --runs N (per profile and kind, default 10)  --profiles lan,fast (default; wan works too)
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { HaLab, NODE_IDS, nodeIdOf, nodeName, sleep, type Profile } from '../test/helpers/ha-lab.js';
import { formatTable, median, percentile } from './stats.js';

type Kind = 'kill' | 'link-down';
const KINDS: Kind[] = ['kill', 'link-down'];

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'lan,fast' },
    runs: { type: 'string', default: '10' },
    verbose: { type: 'boolean', default: false },
  },
});
const profiles = values.profiles.split(',').map((p) => p.trim()) as Profile[];
for (const p of profiles) if (!['lan', 'fast', 'wan'].includes(p)) throw new Error(`--profiles: unknown profile '${p}'; use lan, fast or wan`);
const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs: expected a positive integer, got '${values.runs}'`);

const nowMs = (): number => performance.timeOrigin + performance.now();
const WAIT_MS = 90_000;
const MAX_FAILED_RUNS = 3;

interface RunResult {
  profile: Profile;
  kind: Kind;
  victim: number;
  survivor: number;
  outageMs: number;
  /** From the fault to the VIP's appearance on the survivor. */
  vipMovedMs: number;
  overlaps: number;
}

let current: HaLab | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void (current?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

const reason = await HaLab.unavailable();
if (reason !== undefined) {
  console.error(`bench:failover: ${reason}`);
  process.exit(2);
}

const results: RunResult[] = [];
const failures: string[] = [];
for (const profile of profiles) {
  // The lab dir (node events, watcher reports, stderr) is kept when a run fails, for the post-mortem.
  const lab = new HaLab({ profile, leaseSeconds: 3, monitorMs: 1000, keepDir: true, log: values.verbose ? (l) => console.error(`[${profile}] ${l}`) : undefined });
  current = lab;
  let failed = 0;
  try {
    await lab.setup();
    lab.startAll();
    lab.startClient();

    const settle = async (): Promise<number> => {
      for (const id of NODE_IDS) if (!lab.running(id)) await lab.reboot(id);
      await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
      const holder = nodeIdOf(await lab.waitForService(WAIT_MS));
      await lab.waitUntil(`the VIP on node ${holder} only`, () => JSON.stringify(lab.holders()) === JSON.stringify([holder]), WAIT_MS);
      // A moment with nothing moving, so one run's aftermath (probes of the returning node) is not the next run's fault.
      await sleep(1500);
      await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
      return nodeIdOf(await lab.waitForService(WAIT_MS, { from: lab.client.length }));
    };

    for (let i = 0; i < runs && failed < MAX_FAILED_RUNS; i += 1) {
      for (const kind of KINDS) {
        if (failed >= MAX_FAILED_RUNS) break;
        let victim = 0;
        try {
          victim = await settle();
          const faultAt = kind === 'kill' ? lab.crash(victim) : await lab.cut(victim, 'link-down');
          const survivor = nodeIdOf(await lab.waitForService(WAIT_MS, { not: nodeName(victim), from: lab.client.length }));
          await lab.waitUntil(`the VIP on node ${survivor} only`, () => JSON.stringify(lab.holders()) === JSON.stringify([survivor]), WAIT_MS);
          const outage = lab.outageMs(faultAt - 1000, nowMs());
          const moved = lab.presence().find((p) => p.node === survivor && p.fromMs >= faultAt);
          const overlaps = lab.overlaps(faultAt - 1000).length;
          const result: RunResult = {
            profile,
            kind,
            victim,
            survivor,
            outageMs: outage.outageMs,
            vipMovedMs: moved === undefined ? Number.NaN : moved.fromMs - faultAt,
            overlaps,
          };
          results.push(result);
          console.error(
            `[${profile}] run ${i + 1}/${runs} ${kind.padEnd(9)} node ${victim} -> node ${survivor}: outage ${result.outageMs.toFixed(0)} ms, VIP moved after ${result.vipMovedMs.toFixed(0)} ms${overlaps > 0 ? `, VIP ON TWO NODES ${overlaps}x` : ''}`,
          );
        } catch (error) {
          failed += 1;
          failures.push(`[${profile}] ${kind} run ${i + 1}: ${(error as Error).message}`);
          console.error(`[${profile}] ${kind} run ${i + 1} failed: ${(error as Error).message}\n${lab.describe()}`);
        } finally {
          // Bring the victim back for the next run.
          if (victim !== 0) {
            if (kind === 'link-down') await lab.restore(victim).catch(() => undefined);
            else if (!lab.running(victim)) await lab.reboot(victim).catch(() => undefined);
          }
        }
      }
    }
  } catch (error) {
    failures.push(`[${profile}] setup: ${(error as Error).message}`);
    console.error(`[${profile}] failed: ${(error as Error).message}\n${lab.describe()}`);
  } finally {
    await lab.cleanup();
    current = undefined;
    const clean = failed === 0 && !failures.some((f) => f.startsWith(`[${profile}]`)) && !results.some((r) => r.profile === profile && r.overlaps > 0);
    if (clean) rmSync(lab.dir, { recursive: true, force: true });
    else console.error(`[${profile}] kept the lab dir for the post-mortem: ${lab.dir}`);
  }
}

const rows: (string | number)[][] = [];
for (const profile of profiles) {
  for (const kind of KINDS) {
    const rs = results.filter((r) => r.profile === profile && r.kind === kind);
    if (rs.length === 0) continue;
    const outages = rs.map((r) => r.outageMs);
    const moves = rs.map((r) => r.vipMovedMs).filter((v) => Number.isFinite(v));
    rows.push([
      profile,
      kind,
      rs.length,
      median(outages).toFixed(0),
      percentile(outages, 99).toFixed(0),
      Math.min(...outages).toFixed(0),
      moves.length === 0 ? '-' : median(moves).toFixed(0),
      rs.reduce((n, r) => n + r.overlaps, 0),
    ]);
  }
}
console.log(formatTable(['profile', 'fault', 'runs', 'outage median ms', 'p99 ms', 'min ms', 'VIP moved median ms', 'VIP on two nodes'], rows));
if (failures.length > 0) console.log(`\nfailed runs (${failures.length}):\n${failures.join('\n')}`);
console.log(`\n${JSON.stringify({ results })}`);
process.exitCode = failures.length > 0 || results.some((r) => r.overlaps > 0) ? 1 : 0;
