/**
 * The fault lab: a seeded random schedule of faults against the namespace HA lab (ha-lab.ts),
 * with observers that record the whole run and checks computed from the record afterwards
 * (docs/fault-lab.md). Used by test/e2e/fault-lab.test.ts (CI: ≥ 30 faults, one profile) and
 * bench/fault-lab.ts (the manual run: ≥ 300 faults over `lan` and `fast`).
 *
 * One fault = apply, hold for a seeded time, heal, then wait (bounded) until the cluster has
 * settled: every node running, in one quorate view of all three, exactly one leader term open,
 * the VIP on exactly one node and the client answered 10 times in a row by that node. A fault
 * that does not settle within `settleTimeoutMs` ends the schedule and is reported as a wedge.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Prng } from '../../lib/sim/prng.js';
import { PROFILES } from '../../lib/totem/config.js';
import { defaultLeadershipTimers } from '../../lib/controller/node-controller.js';
import { lostNodeDeadlineMs } from '../../lib/controller/timing.js';
import { HaLab, NODE_IDS, nodeName, nodeIdOf, sleep, type CutMode, type Overlap, type Profile } from './ha-lab.js';
import type { ProcessEvent } from './process-cluster.js';

export const FAULT_KINDS = ['kill-holder', 'stop-holder', 'cut', 'partition', 'one-way', 'leave', 'kill-all'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One planned fault; `target` is resolved when the fault runs (the holder moves). */
export interface PlannedFault {
  index: number;
  kind: FaultKind;
  /** For cut, partition, one-way and leave: the holder, or one of the other two (0 or 1). */
  target: 'holder' | 0 | 1;
  holdMs: number;
  cutMode?: CutMode;
  /** one-way: `out` drops what the node sends to its peers, `in` what they send to it. */
  direction?: 'in' | 'out';
}

export interface FaultRecord extends PlannedFault {
  node: number | undefined;
  holderBefore: number;
  appliedAt: number;
  healedAt: number;
  /** The holder once settled. */
  holderAfter?: number;
  /** kill-all: when the last restarted node process was up (its first line). */
  runningAt?: number;
  settledAt: number | undefined;
}

export interface VipGap {
  fromMs: number;
  toMs: number;
  ms: number;
  fault: number;
  kind: FaultKind | 'start';
  boundMs: number;
  /** Evidence for a long gap: the watchers' largest sampling pause (a stalled machine) and the views installed during it. */
  stallMs: number;
  views: number;
}

export interface LeaderTerm {
  node: number;
  epoch: number;
  startMs: number;
  /** The last moment the callback acted: its start or its last `leader-tick`. */
  lastActMs: number;
}

export interface ConfigCheck {
  afterFault: number;
  node: number;
  ok: boolean;
  detail?: string;
}

export interface FaultLabReport {
  profile: Profile;
  seed: number;
  planned: number;
  faults: FaultRecord[];
  /** A fault (or the formation, fault -1) after which the cluster did not settle in time. */
  wedge?: { fault: number; kind: FaultKind | 'formation'; error: string; state: string; views: number };
  /** Confirmed overlaps of the VIP on two nodes (HaLab.confirmedOverlaps) and their total ms. */
  vipOverlaps: Overlap[];
  vipOverlapMs: number;
  /** Upper bound: overlaps of first-to-last reports (HaLab.overlaps), for the record. */
  possibleOverlapMs: number;
  dualAnswers: { first: { node: string; t: number }; second: { node: string; t0: number } }[];
  answers: number;
  /** For the record: the longest the client went without an answer (a VIP can be up with no server behind it). */
  longestOutageMs: number;
  leaderOverlaps: { a: LeaderTerm; b: LeaderTerm; ms: number }[];
  gaps: VipGap[];
  longestGap: VipGap | undefined;
  gapViolations: VipGap[];
  failoverBoundMs: number;
  restartBoundMs: number;
  configChecks: ConfigCheck[];
  watcherMaxGapMs: number;
  durationMs: number;
  labDir: string;
}

export interface FaultLabOptions {
  profile: Profile;
  seed: number;
  faults: number;
  /** Seeded hold per fault, ms, both inclusive. */
  holdMs?: [number, number];
  settleTimeoutMs?: number;
  leaseSeconds?: number;
  keepDir?: boolean;
  log?: (line: string) => void;
}

/** Two answers from different nodes less than this apart (end of one to start of the next) are a dual answer. */
export const DUAL_WINDOW_MS = 25;
const SELF_STOP_MS = 1000;
/** VIP start + server start + its health check, on a busy 2-core machine. */
const START_ALLOWANCE_MS = 2000;
/** Scheduling delay on a loaded machine. */
const SLACK_MS = 2000;
/** After a kill of every node: processes start, form a view, probe every resource. */
const RESTART_ALLOWANCE_MS = 5000;

const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * The longest a client may go without the VIP after one fault, from the timing formulas the
 * product uses (lib/controller/timing.ts): detection (token timeout + failToRecv + consensus),
 * then the lost-node deadline (counted from the last token before the fault, so detection here
 * is only a margin: the lease, then the later of selfStopMs and the VIP's kernel lease + 1 s),
 * then the start of the VIP and the server, plus slack for a loaded machine.
 */
export function failoverBoundMs(profile: Profile, leaseSeconds: number): number {
  const timers = PROFILES[profile];
  const lease = defaultLeadershipTimers(timers, NODE_IDS.length);
  const detect = lease.tokenTimeoutMs + timers.failToRecvMs + timers.consensusMs;
  return Math.round(detect + lostNodeDeadlineMs(lease, Math.max(SELF_STOP_MS, leaseSeconds * 1000 + 1000)) + START_ALLOWANCE_MS + SLACK_MS);
}

/**
 * The schedule: blocks of the seven kinds in a seeded order (so a run of ≥ 7 faults has every
 * kind), each with a seeded target, hold and variant.
 */
export function planFaults(seed: number, count: number, holdMs: [number, number]): PlannedFault[] {
  const rng = new Prng(seed);
  const out: PlannedFault[] = [];
  while (out.length < count) {
    for (const kind of rng.shuffle([...FAULT_KINDS])) {
      if (out.length >= count) break;
      const fault: PlannedFault = { index: out.length, kind, target: 'holder', holdMs: rng.int(holdMs[0], holdMs[1]) };
      if (kind === 'cut' || kind === 'partition' || kind === 'one-way' || kind === 'leave') fault.target = rng.pick(['holder', 0, 1] as const);
      if (kind === 'cut') fault.cutMode = rng.pick(['silent', 'link-down'] as const);
      if (kind === 'one-way') fault.direction = rng.pick(['in', 'out'] as const);
      out.push(fault);
    }
  }
  return out;
}

export function describeFault(f: PlannedFault): string {
  const variant = f.cutMode ?? f.direction;
  return `#${f.index} ${f.kind}${variant === undefined ? '' : `(${variant})`} target=${f.target} hold=${f.holdMs}ms`;
}

export function randomSeed(): number {
  return randomBytes(4).readUInt32BE(0) % 1_000_000_000;
}

// ---------------------------------------------------------------------------------------------

function lastEvent(events: readonly ProcessEvent[], ev: string): ProcessEvent | undefined {
  for (let i = events.length - 1; i >= 0; i -= 1) if (events[i]!.ev === ev) return events[i];
  return undefined;
}

/** The epoch of the leader term open in this process's events, if any. */
function openTerm(events: readonly ProcessEvent[]): number | undefined {
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const e = events[i]!;
    if (e.ev === 'leader-abort') return undefined;
    if (e.ev === 'leader-start') return e.epoch as number;
  }
  return undefined;
}

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v,
  );

export async function runFaultLab(options: FaultLabOptions): Promise<FaultLabReport> {
  const holdMs = options.holdMs ?? [300, 2500];
  const settleTimeoutMs = options.settleTimeoutMs ?? 60_000;
  const leaseSeconds = options.leaseSeconds ?? 3;
  const log = options.log ?? (() => undefined);
  const plan = planFaults(options.seed, options.faults, holdMs);
  const lab = new HaLab({
    profile: options.profile,
    leaseSeconds,
    monitorMs: 1000,
    selfStopMs: SELF_STOP_MS,
    leaderTickMs: 20,
    prefix: `snt-fl${randomBytes(2).toString('hex').slice(0, 3)}`,
    keepDir: options.keepDir,
  });
  const onSignal = (): void => {
    void lab.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // A closed terminal too: a run started in the background must not leave its namespaces behind.
  process.once('SIGHUP', onSignal);
  const started = nowMs();
  const records: FaultRecord[] = [];
  const configChecks: ConfigCheck[] = [];
  let wedge: FaultLabReport['wedge'];
  let expectedConfig = '';
  let runStart = started;

  const holder = (): number => {
    const h = lab.holders();
    return h.length === 1 ? h[0]! : nodeIdOf(lab.servedBy() ?? 'node-1');
  };
  const settled = (): boolean => {
    const want = JSON.stringify([...NODE_IDS]);
    let terms = 0;
    for (const id of NODE_IDS) {
      const node = lab.cluster?.nodes.get(id);
      if (node === undefined || node.exited) return false;
      if (JSON.stringify(lastEvent(node.events, 'view')?.members) !== want) return false;
      if (lastEvent(node.events, 'quorum')?.quorate !== true) return false;
      if (openTerm(node.events) !== undefined) terms += 1;
    }
    if (terms !== 1) return false;
    const holders = lab.holders();
    if (holders.length !== 1) return false;
    const recent = lab.client.slice(-10);
    return recent.length === 10 && recent.every((s) => s.ok && s.node === nodeName(holders[0]!));
  };
  const settle = (what: string): Promise<void> => lab.waitUntil(`the cluster to settle after ${what}`, settled, settleTimeoutMs);
  const checkConfig = async (afterFault: number): Promise<void> => {
    for (const id of NODE_IDS) {
      const got = canonical((await lab.cib(id)).cib.config);
      const ok = got === expectedConfig;
      configChecks.push({ afterFault, node: id, ok, ...(ok ? {} : { detail: `expected ${expectedConfig}\ngot ${got}` }) });
    }
  };
  const others = (id: number): number[] => NODE_IDS.filter((n) => n !== id);

  try {
    await lab.setup();
    log(`[${options.profile}] seed ${options.seed}: ${plan.length} faults, lab ${lab.netns.prefix} in ${lab.dir}`);
    lab.startAll();
    lab.startClient();
    const viewsSince = (t: number): number => NODE_IDS.reduce((n, id) => n + lab.history.get(id)!.filter((e) => e.ev === 'view' && (e.atMs as number) >= t).length, 0);
    const formingSince = nowMs();
    try {
      await settle('formation');
    } catch (error) {
      wedge = { fault: -1, kind: 'formation', error: (error as Error).message, state: lab.describe(), views: viewsSince(formingSince) };
      log(`[${options.profile}] WEDGE at formation: ${(error as Error).message}`);
      const end = nowMs();
      return analyse(lab, options, plan.length, records, configChecks, wedge, end, end, started, leaseSeconds);
    }
    // Configuration that only the run sets (the nodes start from cibConfig() without it): after a
    // kill of every node it can only come back from the nodes' persisted state.
    const mark = `seed-${options.seed}`;
    const via = holder();
    for (const id of NODE_IDS) {
      const ref = `mark-${id}`;
      const from = lab.history.get(via)!.length;
      lab.cluster!.send(via, { cmd: 'cib-update', ref, change: { op: 'set-node-attribute', node: nodeName(id), name: 'faultlab-mark', value: mark } });
      const reply = await lab.waitForEvent(via, `cib-update ${ref}`, (e) => (e.ev === 'cib-updated' || e.ev === 'cib-error') && e.ref === ref, 30_000, from);
      if (reply.ev === 'cib-error') throw new Error(`setting the configuration mark failed: ${String(reply.code)} ${String(reply.message)}`);
    }
    expectedConfig = canonical((await lab.cib(via)).cib.config);
    await lab.eventually('every node has the marked configuration', async () => Promise.all(NODE_IDS.map(async (id) => canonical((await lab.cib(id)).cib.config))), (all) => all.every((c) => c === expectedConfig), 30_000);
    runStart = nowMs();

    for (const fault of plan) {
      const before = holder();
      const node = fault.target === 'holder' ? before : fault.kind === 'kill-all' || fault.kind === 'kill-holder' || fault.kind === 'stop-holder' ? before : others(before)[fault.target];
      const record: FaultRecord = { ...fault, node: fault.kind === 'kill-all' ? undefined : node, holderBefore: before, appliedAt: nowMs(), healedAt: 0, settledAt: undefined };
      records.push(record);
      const victim = node!;
      switch (fault.kind) {
        case 'kill-holder':
          record.appliedAt = lab.crash(victim);
          await sleep(fault.holdMs);
          await lab.reboot(victim);
          break;
        case 'stop-holder':
          record.appliedAt = lab.freeze(victim);
          await sleep(fault.holdMs);
          lab.thaw(victim);
          break;
        case 'cut':
          record.appliedAt = await lab.cut(victim, fault.cutMode);
          await sleep(fault.holdMs);
          await lab.restore(victim);
          break;
        case 'partition':
          record.appliedAt = nowMs();
          for (const o of others(victim)) {
            await lab.blackhole(victim, o);
            await lab.blackhole(o, victim);
          }
          await sleep(fault.holdMs);
          await lab.clearBlackholes();
          break;
        case 'one-way':
          record.appliedAt = nowMs();
          for (const o of others(victim)) await (fault.direction === 'out' ? lab.blackhole(victim, o) : lab.blackhole(o, victim));
          await sleep(fault.holdMs);
          await lab.clearBlackholes();
          break;
        case 'leave':
          record.appliedAt = await lab.leave(victim, settleTimeoutMs);
          await sleep(fault.holdMs);
          await lab.killLeftovers(victim);
          lab.start(victim);
          break;
        case 'kill-all':
          record.appliedAt = nowMs();
          for (const id of NODE_IDS) lab.crash(id);
          await sleep(fault.holdMs);
          for (const id of NODE_IDS) await lab.reboot(id);
          // Until every node process runs again nothing can hold the VIP: on a loaded machine
          // starting Node itself takes seconds, which is not the product's failover.
          await lab.waitUntil('every restarted node process up', () => NODE_IDS.every((id) => (lab.cluster!.nodes.get(id)?.events.length ?? 0) > 0), settleTimeoutMs);
          record.runningAt = Math.max(...NODE_IDS.map((id) => lab.cluster!.nodes.get(id)!.events[0]!.atMs as number));
          break;
      }
      record.healedAt = nowMs();
      try {
        await settle(describeFault(fault));
      } catch (error) {
        wedge = { fault: fault.index, kind: fault.kind, error: (error as Error).message, state: lab.describe(), views: viewsSince(record.healedAt) };
        log(`[${options.profile}] WEDGE at ${describeFault(fault)}: ${(error as Error).message}`);
        break;
      }
      record.settledAt = nowMs();
      record.holderAfter = holder();
      if (fault.kind === 'kill-all') await checkConfig(fault.index);
      log(
        `[${options.profile}] ${describeFault(fault)} node=${record.node ?? 'all'} holder ${before}→${holder()} settled ${((record.settledAt - record.healedAt) / 1000).toFixed(1)}s after heal`,
      );
    }
    if (wedge === undefined) await checkConfig(plan.length);
    const end = nowMs();
    const report = analyse(lab, options, plan.length, records, configChecks, wedge, runStart, end, started, leaseSeconds);
    // The evidence (node events, watcher reports, client samples) outlives a run that found something.
    if (!clean(report)) lab.options.keepDir = true;
    return report;
  } catch (error) {
    lab.options.keepDir = true;
    throw error;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    if (wedge !== undefined) lab.options.keepDir = true;
    await lab.cleanup();
  }
}

/** The checks, computed from what the lab recorded (exported so that test/lab proves each one fires). */
export function analyse(
  lab: HaLab,
  options: FaultLabOptions,
  planned: number,
  faults: FaultRecord[],
  configChecks: ConfigCheck[],
  wedge: FaultLabReport['wedge'],
  runStart: number,
  end: number,
  started: number,
  leaseSeconds: number,
): FaultLabReport {
  const vipOverlaps = lab.confirmedOverlaps(end).filter((o) => o.toMs > runStart);
  const possible = lab.overlaps(runStart).map((o) => ({ ...o, toMs: Math.min(o.toMs, end) }));

  // Dual answers: successive answers (by completion) from two nodes, the second sent less than
  // DUAL_WINDOW_MS after the first ended (or before: overlapping requests).
  const ok = lab.client.filter((s) => s.ok && s.t >= runStart && s.node !== undefined).sort((a, b) => a.t - b.t);
  const dualAnswers: FaultLabReport['dualAnswers'] = [];
  for (let i = 1; i < ok.length; i += 1) {
    const a = ok[i - 1]!;
    const b = ok[i]!;
    if (a.node !== b.node && b.t0 - a.t < DUAL_WINDOW_MS) dualAnswers.push({ first: { node: a.node!, t: a.t }, second: { node: b.node!, t0: b.t0 } });
  }

  // Leader terms over every process of every node: from the callback's start to its last act.
  const terms = new Map<string, LeaderTerm>();
  for (const id of NODE_IDS) {
    for (const e of lab.history.get(id)!) {
      if (e.ev !== 'leader-start' && e.ev !== 'leader-tick') continue;
      const key = `${id}:${String(e.epoch)}`;
      const at = e.atMs as number;
      const term = terms.get(key);
      if (term === undefined) terms.set(key, { node: id, epoch: e.epoch as number, startMs: at, lastActMs: at });
      else term.lastActMs = Math.max(term.lastActMs, at);
    }
  }
  const list = [...terms.values()];
  const leaderOverlaps: FaultLabReport['leaderOverlaps'] = [];
  for (let i = 0; i < list.length; i += 1) {
    for (let j = i + 1; j < list.length; j += 1) {
      const a = list[i]!;
      const b = list[j]!;
      if (a.node === b.node) continue;
      const ms = Math.min(a.lastActMs, b.lastActMs) - Math.max(a.startMs, b.startMs);
      if (ms > 0) leaderOverlaps.push({ a, b, ms });
    }
  }

  // Stretches without the VIP on any node, from the first report to the last of each presence.
  const failoverBound = failoverBoundMs(options.profile, leaseSeconds);
  const restartBound = failoverBound + RESTART_ALLOWANCE_MS;
  const presence = lab.presence().map((p) => ({ fromMs: p.fromMs, toMs: Math.min(p.toMs, end) })).sort((a, b) => a.fromMs - b.fromMs);
  const raw: { fromMs: number; toMs: number }[] = [];
  let covered = runStart;
  for (const p of presence) {
    if (p.toMs <= covered) continue;
    if (p.fromMs > covered) raw.push({ fromMs: covered, toMs: p.fromMs });
    covered = Math.max(covered, p.toMs);
  }
  if (covered < end) raw.push({ fromMs: covered, toMs: end });
  const gaps: VipGap[] = [];
  for (const g of raw) {
    let fromMs = g.fromMs;
    // A kill of every node has no bound until the nodes are started again: that window is excluded.
    for (const f of faults) {
      const upAt = f.runningAt ?? f.healedAt;
      if (f.kind === 'kill-all' && fromMs >= f.appliedAt && fromMs < upAt) fromMs = upAt;
    }
    if (fromMs >= g.toMs) continue;
    const owner = [...faults].reverse().find((f) => f.appliedAt <= fromMs);
    const kind = owner?.kind ?? 'start';
    const boundMs = kind === 'kill-all' ? restartBound : failoverBound;
    gaps.push({ fromMs, toMs: g.toMs, ms: g.toMs - fromMs, fault: owner?.index ?? -1, kind, boundMs, stallMs: 0, views: 0 });
  }
  for (const g of gaps.filter((x) => x.ms > x.boundMs)) {
    // Ticks report the largest pause of the second before them.
    g.stallMs = Math.max(0, ...NODE_IDS.flatMap((id) => lab.watch.get(id)!.filter((l) => l.src === 'tick' && l.t >= g.fromMs && l.t <= g.toMs + 1000).map((l) => l.maxGapMs ?? 0)));
    g.views = NODE_IDS.reduce((n, id) => n + lab.history.get(id)!.filter((e) => e.ev === 'view' && (e.atMs as number) >= g.fromMs && (e.atMs as number) <= g.toMs).length, 0);
  }
  const longestGap = gaps.reduce<VipGap | undefined>((best, g) => (best === undefined || g.ms > best.ms ? g : best), undefined);
  return {
    profile: options.profile,
    seed: options.seed,
    planned,
    faults,
    ...(wedge === undefined ? {} : { wedge }),
    vipOverlaps,
    vipOverlapMs: vipOverlaps.reduce((s, o) => s + (o.toMs - o.fromMs), 0),
    possibleOverlapMs: possible.reduce((s, o) => s + Math.max(0, o.toMs - o.fromMs), 0),
    dualAnswers,
    answers: ok.length,
    longestOutageMs: lab.outageMs(runStart, end).outageMs,
    leaderOverlaps,
    gaps,
    longestGap,
    gapViolations: gaps.filter((g) => g.ms > g.boundMs),
    failoverBoundMs: failoverBound,
    restartBoundMs: restartBound,
    configChecks,
    watcherMaxGapMs: lab.watcherMaxGapMs(runStart),
    durationMs: end - started,
    labDir: lab.dir,
  };
}

/** Whether the report shows no violation at all (and the whole schedule ran). */
export function clean(r: FaultLabReport): boolean {
  return (
    r.wedge === undefined &&
    r.faults.length === r.planned &&
    r.vipOverlapMs === 0 &&
    r.dualAnswers.length === 0 &&
    r.leaderOverlaps.length === 0 &&
    r.gapViolations.length === 0 &&
    r.configChecks.length > 0 &&
    r.configChecks.every((c) => c.ok)
  );
}

const at = (r: FaultLabReport, t: number): string => `+${((t - (r.faults[0]?.appliedAt ?? t)) / 1000).toFixed(2)}s`;

/** Faults that touched a node other than the holder, after which the VIP was elsewhere. */
export function unforcedMoves(r: FaultLabReport): FaultRecord[] {
  return r.faults.filter((f) => f.kind !== 'kill-all' && f.node !== f.holderBefore && f.holderAfter !== undefined && f.holderAfter !== f.holderBefore);
}

/** The report the manual run prints and a failing test shows. */
export function formatReport(r: FaultLabReport): string {
  const kinds = FAULT_KINDS.map((k) => `${k} ${r.faults.filter((f) => f.kind === k).length}`).join(', ');
  const configOk = r.configChecks.filter((c) => c.ok).length;
  const lines = [
    `profile ${r.profile}, seed ${r.seed}: ${r.faults.length} of ${r.planned} faults in ${(r.durationMs / 1000).toFixed(0)} s (${kinds})`,
    `  VIP on two nodes: ${r.vipOverlapMs.toFixed(0)} ms confirmed in ${r.vipOverlaps.length} overlaps (upper bound from first-to-last reports: ${r.possibleOverlapMs.toFixed(0)} ms)`,
    `  dual answers: ${r.dualAnswers.length} of ${r.answers} answers (two nodes within ${DUAL_WINDOW_MS} ms)`,
    `  leader-callback overlaps: ${r.leaderOverlaps.length}`,
    `  longest stretch without an answer (for the record): ${r.longestOutageMs.toFixed(0)} ms`,
    `  longest stretch without the VIP: ${r.longestGap === undefined ? 'none' : `${r.longestGap.ms.toFixed(0)} ms after fault #${r.longestGap.fault} ${r.longestGap.kind}`} (bound ${r.failoverBoundMs} ms; after a kill-all ${r.restartBoundMs} ms from when the restarted processes were up, the time before excluded); over the bound: ${r.gapViolations.length}`,
    `  configuration intact: ${configOk} of ${r.configChecks.length} checks (every node, after each kill-all and at the end)`,
    `  watcher's largest sampling pause: ${r.watcherMaxGapMs.toFixed(0)} ms`,
    `  moves after a fault on another node than the holder (not a violation: the holder's lease may lapse while the ring re-forms): ${unforcedMoves(r).map((f) => `#${f.index} ${f.kind} node ${f.node}: ${f.holderBefore}→${f.holderAfter}`).join(', ') || 'none'}`,
  ];
  if (r.wedge !== undefined) lines.push(`  WEDGE at ${r.wedge.fault < 0 ? 'formation' : `fault #${r.wedge.fault} ${r.wedge.kind}`}: ${r.wedge.error}; ${r.wedge.views} views installed (all nodes) while waiting\n${r.wedge.state}`);
  for (const o of r.vipOverlaps.slice(0, 5)) lines.push(`  overlap: nodes ${o.nodes.join('+')} ${at(r, o.fromMs)} for ${(o.toMs - o.fromMs).toFixed(1)} ms`);
  for (const d of r.dualAnswers.slice(0, 5)) lines.push(`  dual answer: ${d.first.node} ended ${at(r, d.first.t)}, ${d.second.node} sent ${(d.second.t0 - d.first.t).toFixed(1)} ms later`);
  for (const o of r.leaderOverlaps.slice(0, 5)) lines.push(`  leader overlap: node ${o.a.node} epoch ${o.a.epoch} and node ${o.b.node} epoch ${o.b.epoch} for ${o.ms.toFixed(1)} ms at ${at(r, Math.max(o.a.startMs, o.b.startMs))}`);
  for (const g of r.gapViolations.slice(0, 5)) {
    lines.push(`  over the bound: ${g.ms.toFixed(0)} ms without the VIP from ${at(r, g.fromMs)} after fault #${g.fault} ${g.kind}; meanwhile ${g.views} views installed (all nodes), watchers' largest sampling pause ${g.stallMs.toFixed(0)} ms`);
  }
  for (const c of r.configChecks.filter((x) => !x.ok).slice(0, 3)) lines.push(`  configuration lost on node ${c.node} after fault #${c.afterFault}: ${c.detail}`);
  if (!clean(r)) {
    lines.push(`  schedule (seed ${r.seed}):`);
    for (const f of r.faults) lines.push(`    ${describeFault(f)} node=${f.node ?? 'all'} holder=${f.holderBefore} applied ${at(r, f.appliedAt)} healed ${at(r, f.healedAt)}${f.settledAt === undefined ? ' never settled' : ` settled ${at(r, f.settledAt)}`}`);
    lines.push(`  lab dir (kept on a wedge): ${r.labDir}`);
  }
  return lines.join('\n');
}
