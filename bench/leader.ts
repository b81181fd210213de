/**
 * `npm run bench:leader`: how long a three-node cluster goes without a running leader callback.
 *   - kill -9 of the leader's process → the new leader's callback starting on a survivor;
 *   - a graceful `leave()` of the leader → the same;
 * median and p99 per timing profile, and the ratio leave / kill.
 *
 * Each node is its own OS process (test/helpers/cluster-process.ts) on loopback, secure wire.
 * One cluster per profile; kill and leave runs alternate in it, so load from other jobs on the
 * machine falls on both alike. Before every run the cluster has settled: all three nodes share
 * one view, exactly one node leads, nothing changed for a quiet period, and the leader itself
 * reports `leading` (its lease is running). The victim is restarted (same state dir) after each
 * run. Times are from just before the SIGKILL (or the leave command) to the survivor's
 * `leader-start` atMs, both read as performance.timeOrigin + performance.now() on this host.
 *
 * Options: --profiles lan,fast,wan  --runs 20 (per profile and kind)
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ProcessCluster, type ProcessEvent } from '../test/helpers/process-cluster.js';
import { PROFILES } from '../lib/totem/config.js';
import { defaultLeadershipTimers } from '../lib/controller/node-controller.js';
import { formatTable, median, percentile } from './stats.js';

type Profile = 'lan' | 'fast' | 'wan';
type Kind = 'kill' | 'leave';

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'lan,fast,wan' },
    runs: { type: 'string', default: '20' },
  },
});
const profiles = values.profiles.split(',').map((p) => p.trim()) as Profile[];
for (const p of profiles) if (!(p in PROFILES)) throw new Error(`--profiles: unknown profile '${p}'; use lan, fast or wan`);
const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs: expected a positive integer, got '${values.runs}'`);

const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'helpers', 'cluster-process.js');
const NODES = [1, 2, 3];
/** 127.0.<base>.x blocks of our own: tests default to 10-209, bench:totem counts up from 100. */
const ADDRESS_BASE = 240;
const nowMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every cluster still running, so a signal can end its processes too (a finally does not run on SIGINT). */
const live = new Set<ProcessCluster>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of live) {
      for (const n of c.nodes.values()) {
        if (!n.exited && n.child.pid !== undefined) {
          try {
            process.kill(n.child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      rmSync(c.stateRoot, { recursive: true, force: true });
    }
    process.exit(130);
  });
}

interface Timing {
  /** The takeover wait a survivor owes a leader that vanished: (token timeout + lease) * (1 + 2 drift). */
  takeoverWaitMs: number;
  /** How long the cluster must be free of view, quorum and leader events before a run. */
  quietMs: number;
  /** Bound on one run and on one settle (restart, join, takeover wait). */
  boundMs: number;
}

function timingOf(profile: Profile): Timing {
  const t = PROFILES[profile];
  const lead = defaultLeadershipTimers(t, NODES.length);
  return {
    takeoverWaitMs: (lead.tokenTimeoutMs + lead.leaseMs) * (1 + 2 * lead.clockDriftRatio),
    quietMs: Math.max(1000, t.tokenTimeoutMs / 2),
    boundMs: 30_000 + 5 * (t.tokenTimeoutMs + t.consensusMs + t.mergeDetectMs),
  };
}

function clusterFor(profile: Profile, addressBase: number): ProcessCluster {
  return new ProcessCluster(NODES.length, {
    fixture,
    addressBase,
    configFor: (id, common) => ({
      options: {
        cluster: 'bench-leader',
        node: { id },
        transport: { nodes: common.nodes, port: common.port },
        keyHex: common.key,
        stateDir: common.stateDir,
        profile,
      },
    }),
  });
}

const CHANGES = new Set(['view', 'quorum', 'leader-start', 'leader-abort', 'join-error']);

/** Nodes whose latest leader-start has no leader-abort after it (only processes still running). */
function leading(c: ProcessCluster): { node: number; epoch: number }[] {
  const out: { node: number; epoch: number }[] = [];
  for (const n of c.nodes.values()) {
    if (n.exited) continue;
    const last = n.events.filter((e) => e.ev === 'leader-start' || e.ev === 'leader-abort').at(-1);
    if (last?.ev === 'leader-start') out.push({ node: n.id, epoch: last.epoch as number });
  }
  return out;
}

function lastChangeMs(c: ProcessCluster): number {
  let latest = 0;
  for (const n of c.nodes.values()) {
    for (const e of n.events) if (CHANGES.has(e.ev)) latest = Math.max(latest, e.atMs as number);
  }
  return latest;
}

/**
 * Waits until all three nodes share one view, exactly one leads, nothing changed for quietMs,
 * and the leader's own status says it leads in that view. Returns the leader.
 */
async function settle(c: ProcessCluster, timing: Timing): Promise<{ node: number; epoch: number }> {
  const deadline = Date.now() + timing.boundMs;
  const left = (): number => {
    const ms = deadline - Date.now();
    if (ms <= 0) {
      const seen = [...c.nodes.values()].map((n) => `${n.id}:${JSON.stringify(n.events.filter((e) => e.ev === 'view').at(-1)?.members)}`);
      throw new Error(`cluster did not settle within ${timing.boundMs} ms (views ${seen.join(' ')}, leaders ${JSON.stringify(leading(c))})`);
    }
    return ms;
  };
  for (;;) {
    await c.waitForView(NODES, NODES, left());
    const leaders = leading(c);
    const quietForMs = nowMs() - lastChangeMs(c);
    if (leaders.length !== 1 || quietForMs < timing.quietMs) {
      await c.nextEvent(Math.min(left(), leaders.length === 1 ? timing.quietMs - quietForMs : 250));
      continue;
    }
    const leader = leaders[0]!;
    const mark = c.nodes.get(leader.node)!.events.length;
    c.send(leader.node, { cmd: 'status' });
    const reply = await c.waitFor(leader.node, (e) => e.ev === 'status', Math.min(left(), 10_000), mark);
    const status = reply.status as { leading: boolean; epoch?: number; view?: { members: number[] } };
    if (status.leading && status.epoch === leader.epoch && JSON.stringify(status.view?.members) === JSON.stringify(NODES)) return leader;
  }
}

/** The first leader-start on any of `among` stamped after `afterMs`. */
async function nextLeader(c: ProcessCluster, among: number[], afterMs: number, timeoutMs: number): Promise<ProcessEvent & { node: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const starts = among
      .flatMap((id) => (c.nodes.get(id)?.events ?? []).map((e): ProcessEvent & { node: number } => ({ ...e, node: id })))
      .filter((e) => e.ev === 'leader-start' && (e.atMs as number) > afterMs)
      .sort((a, b) => (a.atMs as number) - (b.atMs as number));
    if (starts[0] !== undefined) return starts[0];
    if (Date.now() > deadline) throw new Error(`no new leader among [${among.join(',')}] within ${timeoutMs} ms`);
    await c.nextEvent(100);
  }
}

interface ProfileResult {
  kill: number[];
  leave: number[];
  notes: string[];
}

async function benchProfile(profile: Profile, addressBase: number): Promise<ProfileResult> {
  const timing = timingOf(profile);
  const result: ProfileResult = { kill: [], leave: [], notes: [] };
  const c = clusterFor(profile, addressBase);
  live.add(c);
  try {
    c.startAll();
    for (let i = 0; i < 2 * runs; i += 1) {
      const kind: Kind = i % 2 === 0 ? 'kill' : 'leave';
      const old = await settle(c, timing);
      const survivors = NODES.filter((id) => id !== old.node);
      const marks = new Map(survivors.map((id) => [id, c.nodes.get(id)!.events.length]));
      const t0Ms = nowMs();
      if (kind === 'kill') c.kill(old.node);
      else c.send(old.node, { cmd: 'leave' });
      const next = await nextLeader(c, survivors, t0Ms, timing.boundMs);
      const tookMs = (next.atMs as number) - t0Ms;
      result[kind].push(tookMs);
      if ((next.epoch as number) <= old.epoch) result.notes.push(`${kind} run ${result[kind].length}: epoch did not grow (${old.epoch} -> ${String(next.epoch)})`);

      // The victim's process ends (kill, or exit after leave); then check what happened meanwhile.
      const victim = c.nodes.get(old.node)!;
      const exitBy = Date.now() + timing.boundMs;
      while (!victim.exited) {
        if (Date.now() > exitBy) throw new Error(`node ${old.node} did not exit after ${kind}`);
        await c.nextEvent(100);
      }
      if (kind === 'leave') {
        const abort = victim.events.find((e) => e.ev === 'leader-abort' && e.epoch === old.epoch);
        if (abort === undefined || (abort.atMs as number) > (next.atMs as number)) {
          result.notes.push(`leave run ${result.leave.length}: the old callback's abort was not seen before the new start`);
        }
        if (!victim.events.some((e) => e.ev === 'left')) result.notes.push(`leave run ${result.leave.length}: node ${old.node} exited without 'left'`);
      }
      const newStarts = survivors.flatMap((id) => c.nodes.get(id)!.events.slice(marks.get(id)).filter((e) => e.ev === 'leader-start'));
      if (newStarts.length !== 1) result.notes.push(`${kind} run ${result[kind].length}: ${newStarts.length} leader starts among the survivors`);
      console.error(`  ${profile} ${kind.padEnd(5)} run ${String(result[kind].length).padStart(2)}/${runs}: node ${old.node} -> node ${next.node} in ${tookMs.toFixed(1)} ms`);
      c.start(old.node); // same state dir: a restart of the same node, with a new incarnation
    }
    return result;
  } finally {
    await c.stop();
    live.delete(c);
  }
}

const f0 = (n: number): string => n.toFixed(0);
console.log(`sanode bench:leader — 3 processes on loopback (127.0.x.1-3), secure wire; ${runs} kill and ${runs} leave runs per profile`);
console.log('time from kill -9 (or leave()) of the leader to the new leader callback starting on a survivor\n');
const rows: (string | number)[][] = [];
const allNotes: string[] = [];
for (const [i, profile] of profiles.entries()) {
  const startedMs = Date.now();
  const r = await benchProfile(profile, ADDRESS_BASE + i);
  console.error(`  ${profile}: done in ${((Date.now() - startedMs) / 1000).toFixed(0)} s`);
  const timing = timingOf(profile);
  for (const kind of ['kill', 'leave'] as const) {
    const s = r[kind];
    rows.push([
      profile,
      PROFILES[profile].tokenTimeoutMs,
      f0(timing.takeoverWaitMs),
      kind,
      s.length,
      f0(median(s)),
      f0(percentile(s, 99)),
      f0(Math.max(...s)),
      kind === 'leave' ? `${(median(r.leave) / median(r.kill)).toFixed(3)} / ${(percentile(r.leave, 99) / percentile(r.kill, 99)).toFixed(3)}` : '',
    ]);
  }
  allNotes.push(...r.notes.map((n) => `${profile}: ${n}`));
}
console.log(formatTable(['profile', 'token ms', 'takeover wait ms', 'kind', 'runs', 'median ms', 'p99 ms', 'max ms', 'leave/kill p50 / p99'], rows));
if (allNotes.length > 0) {
  console.log('\nnotes:');
  for (const n of allNotes) console.log(`  ${n}`);
}
