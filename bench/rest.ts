/**
 * `npm run bench:rest`: does a cluster at rest stay calm on a loaded machine? Three sanode nodes
 * and a client in network namespaces (test/helpers/ha-lab.ts: VIP 10.77.0.100 with the vip
 * agent's nft lease, the HTTP server cloned on every node, a GET through the VIP every 10 ms, a
 * watcher of the VIP in every namespace), settled, then left alone for `--minutes` while
 * `--load` busy processes compete for the CPU. Nothing is done to the cluster in that window, so
 * everything it records there is spurious: every view installed, quorum lost, leader started,
 * resource started or stopped, monitor that failed, failover, error reported, node process gone, moment
 * without the VIP or with it on two nodes, and client request that failed (its longest wait for
 * an answer is printed). It also prints each node's CPU over the window.
 *
 * The load (`--load N`, default 2: one per core of this machine) is N node processes at the same
 * priority as the cluster (nice 0), each looping over allocation-heavy work (building and
 * serialising arrays), so the nodes compete for both the CPU and the memory bus, and the
 * collector of each load process runs all the time. `--load 0` measures rest on an idle machine.
 *
 * Prints one verdict line: calm (nothing spurious) or not, and exits 1 when not. Needs root
 * (network namespaces). Everything it creates carries the `snt-rs` prefix and is removed at the
 * end, also on failure or Ctrl-C; it ends only the processes it started, by PID.
 *
 * Options: --profile fast|lan (default fast)  --minutes N (default 10)  --load N (default 2)
 *          --lease-ms N (the VIP's nft lease, default RECOMMENDED_LEASE_MS)  --verbose  --keep
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { HaLab, NODE_IDS, sleep, type Profile } from '../test/helpers/ha-lab.js';
import { DUAL_WINDOW_MS } from '../test/helpers/fault-lab.js';
import type { ProcessEvent } from '../test/helpers/process-cluster.js';
import { RECOMMENDED_LEASE_MS } from '../agents/vip.js';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'fast' },
    minutes: { type: 'string', default: '10' },
    load: { type: 'string', default: '2' },
    'lease-ms': { type: 'string', default: String(RECOMMENDED_LEASE_MS) },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const positive = (name: string, text: string, allowZero = false): number => {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new Error(`--${name}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got '${text}'`);
  return n;
};
if (values.profile !== 'fast' && values.profile !== 'lan') throw new Error(`--profile: expected fast or lan, got '${values.profile}'`);
const profile: Profile = values.profile;
const windowMs = positive('minutes', values.minutes) * 60_000;
const loadCount = positive('load', values.load, true);
if (!Number.isSafeInteger(loadCount)) throw new Error(`--load: expected a whole number, got '${values.load}'`);
const vipLeaseMs = positive('lease-ms', values['lease-ms']);

const nowMs = (): number => performance.timeOrigin + performance.now();
const WAIT_MS = 60_000;
const CALM_MS = 3000;
const TICKS_PER_SECOND = 100;
/** What each load process runs: allocation-heavy work, so its collector runs too. */
const LOAD_JS = 'const parent = process.ppid; let keep = []; for (let n = 0; ; n++) { const a = Array.from({ length: 2000 }, (_, i) => ({ i, s: String(i) })); keep.push(JSON.stringify(a).length); if (keep.length > 1000) keep = []; if (n % 100 === 0 && process.ppid !== parent) process.exit(0); }';

const lab = new HaLab({
  profile,
  leaseSeconds: 3,
  vipLeaseMs,
  monitorMs: 1000,
  serviceLayout: 'clone',
  // Kept by HaLab.cleanup in any case: this script removes it once a run was calm (unless --keep).
  keepDir: true,
  prefix: `snt-rs${randomBytes(2).toString('hex').slice(0, 3)}`,
  log: values.verbose ? (l) => console.error(`  ${l}`) : undefined,
});
const loaders: ChildProcess[] = [];

/** utime + stime of a process, in seconds, from /proc (undefined once it is gone). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
const nodePid = (id: number): number | undefined => lab.cluster?.nodes.get(id)?.child.pid;

let cleaning: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaning ??= (async () => {
    for (const l of loaders) if (l.exitCode === null && l.signalCode === null) l.kill('SIGKILL');
    await lab.cleanup();
  })());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    void cleanup().finally(() => {
      if (!values.keep) rmSync(lab.dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

const reason = await HaLab.unavailable();
if (reason !== undefined) {
  console.error(`bench:rest: ${reason}`);
  process.exit(2);
}

let calm = false;
console.error(`bench:rest: profile ${profile}, ${windowMs / 60_000} min at rest, ${loadCount} load process(es), VIP nft lease ${vipLeaseMs} ms; lab ${lab.netns.prefix} in ${lab.dir}`);
try {
  await lab.setup();
  lab.startClient();
  lab.startAll();
  await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
  await lab.waitForService(WAIT_MS);
  // A load process outlives nothing: it exits once this script is gone (its parent changes).
  for (let i = 0; i < loadCount && cleaning === undefined; i++) loaders.push(spawn(process.execPath, ['-e', LOAD_JS], { stdio: 'ignore' }));
  // The load starts first, so the window judges a cluster that has already met it.
  await sleep(CALM_MS);
  await lab.waitForView(NODE_IDS, NODE_IDS, WAIT_MS);
  await lab.waitForService(WAIT_MS, { from: lab.client.length });
  const load0 = loadavg()[0]!;
  const cpu0 = NODE_IDS.map((id) => cpuSeconds(nodePid(id)));
  const t0 = nowMs();
  const progressEvery = 60_000;
  for (let waited = 0; waited < windowMs; waited += progressEvery) {
    await sleep(Math.min(progressEvery, windowMs - waited));
    if (values.verbose) console.error(`  ${((waited + Math.min(progressEvery, windowMs - waited)) / 60_000).toFixed(1)} min, load average ${loadavg()[0]!.toFixed(2)}`);
  }
  const t1 = nowMs();
  const cpu1 = NODE_IDS.map((id) => cpuSeconds(nodePid(id)));
  const load1 = loadavg()[0]!;
  const died = NODE_IDS.filter((id) => !lab.running(id));
  // Reports of the window's last moments may still be on their way from the watchers and nodes.
  await sleep(1000);

  const inWindow = (e: ProcessEvent): boolean => typeof e.atMs === 'number' && e.atMs >= t0 && e.atMs <= t1;
  const perNode = NODE_IDS.map((id) => {
    const events = (lab.history.get(id) ?? []).filter(inWindow);
    return {
      id,
      views: events.filter((e) => e.ev === 'view').length,
      quorumLost: events.filter((e) => e.ev === 'quorum' && e.quorate === false).length,
      leaderStarts: events.filter((e) => e.ev === 'leader-start').length,
      startsStops: events.filter((e) => e.ev === 'resource' && (e.op === 'start' || e.op === 'stop')).length,
      failedMonitors: events.filter((e) => e.ev === 'resource' && e.op === 'monitor' && e.rc !== 0).length,
      failovers: events.filter((e) => e.ev === 'failover').length,
      errors: events.filter((e) => e.ev === 'error').map((e) => String(e.code)),
      cpuPerMin: cpu0[id - 1] !== undefined && cpu1[id - 1] !== undefined ? ((cpu1[id - 1]! - cpu0[id - 1]!) * 60_000) / (t1 - t0) : undefined,
    };
  });
  // The VIP's confirmed presence, clipped to the window: any moment with no holder is a lapse.
  const presence = lab.confirmedPresence(t1).map((p) => ({ ...p, fromMs: Math.max(p.fromMs, t0), toMs: Math.min(p.toMs, t1) })).filter((p) => p.toMs > p.fromMs);
  const holders = [...new Set(presence.map((p) => p.node))];
  let longestLapseMs = 0;
  let covered = t0;
  for (const p of [...presence].sort((a, b) => a.fromMs - b.fromMs)) {
    if (p.fromMs > covered) longestLapseMs = Math.max(longestLapseMs, p.fromMs - covered);
    covered = Math.max(covered, p.toMs);
  }
  longestLapseMs = Math.max(longestLapseMs, t1 - covered);
  const overlapMs = lab.confirmedOverlaps(t1).filter((o) => o.toMs >= t0 && o.fromMs <= t1).reduce((sum, o) => sum + (Math.min(o.toMs, t1) - Math.max(o.fromMs, t0)), 0);
  const samples = lab.client.filter((s) => s.t >= t0 && s.t <= t1);
  const failed = samples.filter((s) => !s.ok).length;
  const outage = lab.outageMs(t0, t1);
  const dual = lab.answersFromTwoNodes(t0, t1, DUAL_WINDOW_MS).length;
  const watcherGapMs = lab.watcherMaxGapMs(t0);

  console.log(`profile ${profile}, ${((t1 - t0) / 60_000).toFixed(1)} min at rest, ${loadCount} load process(es); load average ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end`);
  for (const n of perNode) {
    console.log(
      `  node-${n.id}: views ${n.views}, quorum lost ${n.quorumLost}, leader starts ${n.leaderStarts}, resource starts/stops ${n.startsStops}, ` +
        `failed monitors ${n.failedMonitors}, failovers ${n.failovers}, errors ${n.errors.length}${n.errors.length > 0 ? ` (${[...new Set(n.errors)].join(', ')})` : ''}, CPU ${n.cpuPerMin === undefined ? '-' : n.cpuPerMin.toFixed(2)} CPU-s/min`,
    );
  }
  console.log(`  VIP: held by ${holders.map((h) => `node-${h}`).join(', ') || 'nobody'}; longest moment without it ${longestLapseMs.toFixed(0)} ms; on two nodes ${overlapMs.toFixed(0)} ms`);
  console.log(`  client: ${samples.length} requests, ${failed} failed, longest wait for an answer ${outage.outageMs.toFixed(0)} ms, answers from two nodes ${dual}`);
  console.log(`  watchers' largest sampling pause ${watcherGapMs.toFixed(0)} ms`);
  if (died.length > 0) console.log(`  node process(es) gone during the window: ${died.map((id) => `node-${id}`).join(', ')}`);
  const spurious = perNode.reduce((sum, n) => sum + n.views + n.quorumLost + n.leaderStarts + n.startsStops + n.failedMonitors + n.failovers + n.errors.length, 0);
  // A lapse is seen only by a sample that found the VIP gone, so any lapse at all is real.
  const lapsed = longestLapseMs > 0 || holders.length !== 1;
  calm = spurious === 0 && died.length === 0 && !lapsed && overlapMs === 0 && dual === 0 && failed === 0;
  console.log(
    calm
      ? 'calm: nothing moved'
      : `NOT calm: ${spurious} spurious event(s)${died.length > 0 ? ', a node died' : ''}${lapsed ? ', the VIP lapsed or moved' : ''}` +
          `${overlapMs > 0 || dual > 0 ? ', the VIP on two nodes' : ''}${failed > 0 ? `, ${failed} client request(s) failed` : ''}`,
  );
} catch (error) {
  console.error(`bench:rest: ${(error as Error).message}\n${lab.describe()}`);
} finally {
  await cleanup();
  if (calm && !values.keep) rmSync(lab.dir, { recursive: true, force: true });
  else console.error(`bench:rest: lab dir kept: ${lab.dir}`);
}
process.exitCode = calm ? 0 : 1;
