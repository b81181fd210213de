/**
 * The deterministic simulator: N totem cores in one process, one global fake clock, one event
 * queue, one seeded PRNG, a hostile network, and the guarantee checkers watching every step.
 *
 * A run is a pure function of its options: the same (seed, nodes, faults, profile, bug) gives
 * the same trace byte for byte. Everything random is drawn from `prng`, in an order fixed by the
 * code; nothing reads the real clock.
 *
 * A run has two phases, as in TigerBeetle's VOPR:
 *   1. safety: faults from the chosen mix for `safetyMs` of simulated time, checkers on;
 *   2. liveness: the network heals, paused nodes resume, crashed nodes (usually) restart, and
 *      the cluster must converge to one stable view of all live nodes within a bound computed
 *      from the timers.
 *
 * Time: the global clock counts integer microseconds. Each node sees its own monotonic clock,
 * `floor((floor(global * rate) + offset) / 1000)` integer milliseconds, with a per-node rate
 * near 1 (drift) and offset; its timer deadlines are converted back to global time.
 */
import { Packr } from 'msgpackr';
import { NodeController, parseControlMessage, type ControlMessage } from '../controller/node-controller.js';
import { QuorumTracker, resolveQuorumConfig, type LmsKnowledge, type ResolvedQuorumConfig } from '../quorum/index.js';
import type { NodeId, Send, TotemConfig, TotemCore, TotemEvent, TotemOutput, TotemTimers, View } from '../totem/types.js';
import { createBugInjector, type BugContext, type BugInjector, type BugName } from './bugs.js';
import { createCheckers } from './checkers/index.js';
import { parseFaultMix, type FaultKind, type FaultSet } from './faults.js';
import { EventHeap } from './heap.js';
import { describeQuorum, planLeadership, type LeadershipPlan, type QuorumFlavour, type QuorumOverride } from './leadership-plan.js';
import { SimNetwork, type NetworkModel } from './network.js';
import { Prng } from './prng.js';
import { TraceLog } from './trace.js';
import type { Checker, CheckerName, EndState, HarnessCheck, LiveNode, Observation, Violation } from './types.js';
import { formatTimeUs, formatView, msgKey, viewKey } from './types.js';

export type CreateCore = (config: TotemConfig, nowMs: number) => TotemCore;

export interface SimOptions {
  readonly seed: number;
  /** Number of nodes, 2..32. */
  readonly nodes: number;
  /** A fault mix such as `none`, `loss,crash` or `all` (see faults.ts). */
  readonly faults: string;
  /** The timer profile's name; used for the reproduce command and the network model. */
  readonly profile: string;
  readonly timers: TotemTimers;
  readonly createCore: CreateCore;
  readonly bug?: BugName | undefined;
  /** Overrides the safety phase length drawn from the seed. */
  readonly safetyMs?: number | undefined;
  /** Stop at the first violation (the default), or keep going and collect one per checker. */
  readonly stopOnViolation?: boolean | undefined;
  /** Fold the full trace into a SHA-256, returned as `traceHash`. */
  readonly hashTrace?: boolean | undefined;
  /** Receives every trace line as it happens. */
  readonly traceSink?: ((line: string) => void) | undefined;
  /** Overrides the network latency model chosen from the profile. */
  readonly network?: Partial<NetworkModel> | undefined;
  /** Nodes start at random instants within this window (default: one token timeout). */
  readonly startSpreadMs?: number | undefined;
  /** Abort the run as a `progress` violation after this many simulator steps. */
  readonly maxSteps?: number | undefined;
  /** Use this quorum flavour instead of the seed's (the rest of the plan is unchanged). */
  readonly quorumFlavour?: QuorumFlavour | undefined;
  /** Quorum options for every node instead of the ones drawn from the seed. */
  readonly quorum?: QuorumOverride | undefined;
  /** Node ids 1..N instead of the seed's choice. */
  readonly denseIds?: boolean | undefined;
  /** Partitions applied at fixed global times (ms), in addition to the fault mix. */
  readonly scriptedPartitions?: readonly { readonly atMs: number; readonly groups: readonly (readonly NodeId[])[] }[] | undefined;
  /** Record every node's quorum and leadership state at these global times (ms): RunResult.probes. */
  readonly probeAtMs?: readonly number[] | undefined;
}

/** One node's quorum and leadership state at a probe time. */
export interface NodeProbe {
  readonly node: NodeId;
  readonly up: boolean;
  readonly view: readonly NodeId[] | undefined;
  readonly quorate: boolean;
  readonly reason: string | undefined;
  readonly coordinator: NodeId | undefined;
  readonly leading: boolean;
}

export interface RunStats {
  steps: number;
  packetsSent: number;
  packetsLost: number;
  views: number;
  deliveries: number;
  broadcastsOk: number;
  broadcastsRefused: number;
  crashes: number;
  restarts: number;
  pauses: number;
  partitions: number;
  cuts: number;
  leaderStarts: number;
  controls: number;
}

export interface RunResult {
  readonly seed: number;
  readonly nodes: number;
  readonly faults: string;
  readonly profile: string;
  readonly bug: BugName | undefined;
  readonly violations: readonly Violation[];
  readonly simTimeUs: number;
  readonly safetyMs: number;
  readonly livenessMs: number;
  readonly stats: RunStats;
  readonly traceHash: string | undefined;
  /** The quorum options of the run, e.g. `majority` or `lastManStanding 1200ms, autoTieBreaker "lowest"`. */
  readonly quorum: string;
  readonly probes: readonly { readonly atMs: number; readonly nodes: readonly NodeProbe[] }[];
}

/** Latency per profile: the profiles' timers are tuned for these networks. */
export const NETWORK_MODELS: Readonly<Record<string, NetworkModel>> = {
  fast: { latencyUsMin: 50, latencyUsMax: 600 },
  lan: { latencyUsMin: 100, latencyUsMax: 1500 },
  // One-way delays for round trips of 50-300 ms.
  wan: { latencyUsMin: 10_000, latencyUsMax: 120_000 },
};

/** The reproduce command for one run. */
export function reproduceCommand(o: { seed: number; nodes: number; faults: string; profile: string; bug?: BugName | undefined; safetyMs?: number | undefined; quorumFlavour?: QuorumFlavour | undefined }): string {
  const parts = ['npm run sim --', `--seeds ${o.seed}`, `--nodes ${o.nodes}`, `--faults ${o.faults}`, `--profile ${o.profile}`];
  if (o.bug !== undefined) parts.push(`--inject-bug ${o.bug}`);
  if (o.safetyMs !== undefined) parts.push(`--safety-ms ${o.safetyMs}`);
  if (o.quorumFlavour !== undefined) parts.push(`--quorum ${o.quorumFlavour}`);
  return parts.join(' ');
}

/** How long the liveness phase may take to converge, and how long it must then stay stable. */
export function livenessBudget(timers: TotemTimers, nodes: number): { boundMs: number; stableMs: number } {
  const tokenLossMs = effectiveTokenTimeoutMs(timers, nodes);
  return {
    boundMs: 10 * tokenLossMs + 5 * timers.consensusMs + 2 * timers.mergeDetectMs,
    stableMs: 4 * tokenLossMs + 2 * timers.consensusMs,
  };
}

/**
 * The time without a token after which a ring of `nodes` is declared broken. A profile may
 * stretch the token timeout per member (an optional `tokenPerMemberMs`, beyond the base
 * contract); the simulator's bounds must stretch with it.
 */
export function effectiveTokenTimeoutMs(timers: TotemTimers, nodes: number): number {
  const perMember = timers.tokenPerMemberMs ?? 0;
  return timers.tokenTimeoutMs + Math.max(0, nodes - 2) * perMember;
}

export function runSimulation(options: SimOptions): RunResult {
  return new Simulation(options).run();
}

type SimEvent =
  | { readonly type: 'start'; readonly node: NodeId }
  | { readonly type: 'packet'; readonly to: NodeId; readonly toIncarnation: number; readonly from: NodeId; readonly bytes: Uint8Array }
  | { readonly type: 'tick'; readonly node: NodeId; readonly gen: number }
  | { readonly type: 'broadcast' }
  | { readonly type: 'fault' }
  | { readonly type: 'heal-partition'; readonly gen: number }
  | { readonly type: 'uncut'; readonly links: readonly (readonly [NodeId, NodeId])[] }
  | { readonly type: 'restart'; readonly node: NodeId; readonly lifeGen: number }
  | { readonly type: 'stop'; readonly node: NodeId; readonly lifeGen: number }
  | { readonly type: 'resume'; readonly node: NodeId; readonly pauseGen: number }
  | { readonly type: 'liveness' }
  | { readonly type: 'end' }
  | { readonly type: 'tiebreak'; readonly node: NodeId; readonly lifeGen: number; readonly view: View; readonly granted: boolean }
  | { readonly type: 'script-partition'; readonly groups: readonly (readonly NodeId[])[] }
  | { readonly type: 'probe'; readonly atMs: number };

interface SimNode {
  readonly id: NodeId;
  /** Local clock = global × rate + offset. */
  readonly rate: number;
  readonly offsetUs: number;
  incarnation: number;
  up: boolean;
  leaving: boolean;
  core: TotemCore | undefined;
  /** What survives a crash: the persisted ring seq and last man standing knowledge. */
  readonly store: { ringSeq: number; lms: LmsKnowledge | undefined };
  paused: boolean;
  pauseGen: number;
  /** Packets that arrived while paused, processed on resume (bounded, like a socket buffer). */
  backlog: { from: NodeId; bytes: Uint8Array }[];
  /** Invalidates scheduled restart/stop events when the node's life changes. */
  lifeGen: number;
  tickGen: number;
  tickDeadlineMs: number | undefined;
  lastTickUs: number;
  sameInstantTicks: number;
  /** Quorum + leadership of this incarnation, fed from its core's output on its local clock. */
  ctl: NodeController | undefined;
  /** Control messages the controller asked to broadcast, not yet handed to the core. */
  pendingControls: ControlMessage[];
  lastTermKey: string;
}

/** First byte of a control payload; application payloads start with 's' (0x73). */
const CONTROL_MAGIC = 0xc5;

/** Packets a paused node can queue before the (simulated) socket buffer overflows. */
const BACKLOG_PACKETS_MAX = 512;
/** Ticks of one node at one instant before the harness calls it a timer loop. */
const SAME_INSTANT_TICKS_MAX = 1000;
/**
 * Storm detection: healthy runs take a few thousand steps per simulated second even with 32
 * nodes and heavy loss; a protocol in a view or retransmission storm takes hundreds of
 * thousands. Checking per short window catches a storm after ~10^4 steps instead of letting it
 * burn the whole step budget.
 */
const STORM_WINDOW_US = 100_000;
const STORM_WINDOW_STEPS_MAX = 20_000;

class Simulation {
  private readonly prng: Prng;
  private readonly faultPrng: Prng;
  private readonly queue = new EventHeap<SimEvent>();
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly ids: NodeId[];
  private readonly network: SimNetwork;
  private readonly faults: FaultSet;
  private readonly checkers: Checker[];
  private readonly bug: BugInjector | undefined;
  private readonly trace: TraceLog;
  private readonly packr = new Packr({ useRecords: false });
  private readonly violations: Violation[] = [];
  private readonly firedCheckers = new Set<string>();
  private readonly stats: RunStats = {
    steps: 0, packetsSent: 0, packetsLost: 0, views: 0, deliveries: 0, broadcastsOk: 0, broadcastsRefused: 0,
    crashes: 0, restarts: 0, pauses: 0, partitions: 0, cuts: 0, leaderStarts: 0, controls: 0,
  };
  private nowUs = 0;
  private phase: 'safety' | 'liveness' = 'safety';
  private stopped = false;
  private partitionGen = 0;
  private broadcastCounter = 0;
  private readonly safetyMs: number;
  private readonly boundMs: number;
  private readonly stableMs: number;
  private readonly broadcastMeanMs: number;
  private readonly faultMeanMs: number;
  private readonly tickLateMsMax: number;
  private readonly restartInLiveness: boolean;
  private readonly maxSendQueue: number;
  private readonly maxMessagesPerToken: number;
  private readonly maxSteps: number;
  private livenessStartUs = 0;
  private stormWindowStartUs = 0;
  private stormWindowSteps = 0;
  private stormWindowViews = 0;
  private readonly stormWindowKinds = new Map<unknown, number>();
  private readonly lplan: LeadershipPlan;
  private readonly quorumConfig: ResolvedQuorumConfig;
  private readonly probes: { atMs: number; nodes: NodeProbe[] }[] = [];

  constructor(private readonly o: SimOptions) {
    if (!Number.isInteger(o.nodes) || o.nodes < 2 || o.nodes > 32) throw new RangeError(`nodes must be 2..32, got ${o.nodes}`);
    this.prng = new Prng(o.seed);
    this.faults = parseFaultMix(o.faults);
    const T = o.timers.tokenTimeoutMs;
    const p = this.prng;

    // Everything drawn up front, in a fixed order, so the plan of the run depends on the seed only.
    this.ids = p.chance(0.5) ? range(1, o.nodes) : p.shuffle(range(1, 250)).slice(0, o.nodes).sort((a, b) => a - b);
    if (o.denseIds === true) this.ids = range(1, o.nodes);
    const drift = this.faults.has('clock') ? 0.05 : 0.01;
    for (const id of this.ids) {
      this.nodes.set(id, {
        id, rate: 1 + p.range(-drift, drift), offsetUs: p.int(0, 1_000_000) * 1000 + p.int(0, 999),
        incarnation: 0, up: false, leaving: false, core: undefined, store: { ringSeq: 0, lms: undefined },
        paused: false, pauseGen: 0, backlog: [], lifeGen: 0, tickGen: 0, tickDeadlineMs: undefined,
        lastTickUs: -1, sameInstantTicks: 0, ctl: undefined, pendingControls: [], lastTermKey: '',
      });
    }
    const base = NETWORK_MODELS[o.profile] ?? NETWORK_MODELS['lan']!;
    const model: NetworkModel = { ...base, ...o.network };
    this.network = new SimNetwork(p.fork(), model);
    if (this.faults.has('loss')) {
      this.network.lossRate = p.range(0, 0.3);
      this.network.duplicateRate = p.range(0, 0.1);
    }
    this.faultPrng = p.fork();
    this.safetyMs = o.safetyMs ?? p.int(10 * T, 30 * T);
    ({ boundMs: this.boundMs, stableMs: this.stableMs } = livenessBudget(o.timers, o.nodes));
    this.broadcastMeanMs = p.range(T / 40, T / 5);
    this.faultMeanMs = p.range(T / 2, 4 * T);
    this.tickLateMsMax = this.faults.has('clock') ? T / 4 : 0;
    this.restartInLiveness = p.chance(0.7);
    this.maxSendQueue = p.pick([16, 64, 256]);
    this.maxMessagesPerToken = p.pick([1, 4, 16]);
    // Healthy runs take 10^4-10^5 steps; far beyond that the protocol is in a storm.
    this.maxSteps = o.maxSteps ?? 1_000_000;
    this.lplan = planLeadership(p.fork(), this.ids, o.timers, this.faults, drift, o.quorum, o.quorumFlavour);
    this.quorumConfig = resolveQuorumConfig(this.lplan.quorum);
    this.checkers = createCheckers({ twoNode: this.lplan.twoNode, longPauses: this.lplan.longPauses });
    this.bug = o.bug === undefined ? undefined : createBugInjector(o.bug);
    this.trace = new TraceLog({ capacity: 2000, hash: o.hashTrace === true, sink: o.traceSink });
  }

  run(): RunResult {
    const o = this.o;
    const net = this.network;
    this.note('phase', `seed ${o.seed}: ${o.nodes} nodes [${this.ids.join(',')}], faults ${o.faults}, profile ${o.profile}` +
      `, safety ${this.safetyMs}ms, liveness ${this.boundMs}+${this.stableMs}ms, loss ${(net.lossRate * 100).toFixed(1)}%` +
      `, dup ${(net.duplicateRate * 100).toFixed(1)}%, latency ${net.model.latencyUsMin}-${net.model.latencyUsMax}us` +
      `, queue ${this.maxSendQueue}, per-token ${this.maxMessagesPerToken}` + (o.bug ? `, BUG ${o.bug}` : ''));
    const lt = this.lplan.leadership;
    this.note('phase', `quorum ${describeQuorum(this.lplan.quorum)}; lease ${lt.leaseMs}ms, token timeout ${lt.tokenTimeoutMs}ms, drift ratio ${lt.clockDriftRatio}; ` +
      (this.lplan.longPauses ? 'long pauses: leader overlap not checked' : `pauses below ${this.lplan.pauseBoundMs}ms`) +
      (this.lplan.twoNode ? '; twoNode: split-brain allowed, overlap and single-partition not checked' : ''));
    for (const n of this.nodes.values()) {
      this.note('phase', `n${n.id}: clock rate ${n.rate.toFixed(5)}, offset ${n.offsetUs}us`);
      this.queue.push(this.prng.int(0, (o.startSpreadMs ?? o.timers.tokenTimeoutMs) * 1000), { type: 'start', node: n.id });
    }
    this.queue.push(this.msToUs(this.prng.exponential(this.broadcastMeanMs)), { type: 'broadcast' });
    if (this.discreteFaults().length > 0) this.queue.push(this.msToUs(this.faultPrng.exponential(this.faultMeanMs)), { type: 'fault' });
    this.livenessStartUs = this.safetyMs * 1000;
    this.queue.push(this.livenessStartUs, { type: 'liveness' });
    const endUs = this.livenessStartUs + (this.boundMs + this.stableMs) * 1000;
    this.queue.push(endUs, { type: 'end' });
    for (const sp of o.scriptedPartitions ?? []) this.queue.push(this.msToUs(sp.atMs), { type: 'script-partition', groups: sp.groups });
    for (const atMs of o.probeAtMs ?? []) this.queue.push(this.msToUs(atMs), { type: 'probe', atMs });

    let ended = false;
    while (!this.stopped && !ended) {
      const next = this.queue.pop();
      if (next === undefined) break;
      this.nowUs = next.timeUs;
      this.stats.steps++;
      if (this.stats.steps > this.maxSteps) {
        this.violate('progress', `the run exceeded ${this.maxSteps} simulator steps: a message or timer storm`);
        break;
      }
      if (this.nowUs - this.stormWindowStartUs >= STORM_WINDOW_US) {
        this.stormWindowStartUs = this.nowUs;
        this.stormWindowSteps = 0;
        this.stormWindowViews = 0;
        this.stormWindowKinds.clear();
      } else if (++this.stormWindowSteps > STORM_WINDOW_STEPS_MAX) {
        const kinds = [...this.stormWindowKinds.entries()].map(([k, c]) => `kind ${String(k)}: ${c}`).join(', ');
        this.violate('progress', `storm: ${STORM_WINDOW_STEPS_MAX} steps within ${STORM_WINDOW_US / 1000}ms of simulated time, ` +
          `${this.stormWindowViews} views installed; packets sent by kind: ${kinds || 'none'}`);
        break;
      }
      ended = this.handle(next.item);
    }
    if (ended && !this.stopped) this.finish(endUs);
    return {
      seed: o.seed, nodes: o.nodes, faults: o.faults, profile: o.profile, bug: o.bug,
      violations: this.violations, simTimeUs: this.nowUs, safetyMs: this.safetyMs,
      livenessMs: this.boundMs + this.stableMs, stats: this.stats,
      traceHash: o.hashTrace === true ? this.trace.digest() : undefined,
      quorum: describeQuorum(this.lplan.quorum), probes: this.probes,
    };
  }

  // ---------------------------------------------------------------------------------- events

  private handle(e: SimEvent): boolean {
    switch (e.type) {
      case 'start':
        this.startNode(this.node(e.node));
        return false;
      case 'packet':
        this.onPacket(e.to, e.toIncarnation, e.from, e.bytes);
        return false;
      case 'tick': {
        const n = this.node(e.node);
        if (e.gen !== n.tickGen || !n.up || n.paused) return false;
        this.tickNode(n);
        return false;
      }
      case 'broadcast':
        this.onBroadcast();
        return false;
      case 'fault':
        if (this.phase !== 'safety') return false;
        this.injectFault();
        this.queue.push(this.nowUs + this.msToUs(this.faultPrng.exponential(this.faultMeanMs)), { type: 'fault' });
        return false;
      case 'heal-partition':
        if (e.gen === this.partitionGen && this.phase === 'safety') {
          this.network.healPartition();
          this.note('fault', `partition healed (${this.network.describe()})`);
        }
        return false;
      case 'uncut':
        if (this.phase !== 'safety') return false;
        for (const [from, to] of e.links) this.network.uncut(from, to);
        this.note('fault', `healed one-way cuts ${e.links.map(([f, t]) => `n${f}->n${t}`).join(' ')} (${this.network.describe()})`);
        return false;
      case 'restart': {
        const n = this.node(e.node);
        if (e.lifeGen === n.lifeGen && !n.up && this.phase === 'safety') this.startNode(n);
        return false;
      }
      case 'stop': {
        const n = this.node(e.node);
        if (e.lifeGen === n.lifeGen && n.up) this.crashNode(n, 'stops after leaving');
        return false;
      }
      case 'resume': {
        const n = this.node(e.node);
        if (e.pauseGen === n.pauseGen && n.paused) this.resumeNode(n);
        return false;
      }
      case 'liveness':
        this.startLiveness();
        return false;
      case 'end':
        return true;
      case 'tiebreak': {
        const n = this.node(e.node);
        // A paused or restarted node never hears back: its check timed out; the view stays not quorate.
        if (e.lifeGen !== n.lifeGen || !n.up || n.paused || n.ctl?.currentView !== e.view) return false;
        n.pendingControls.push({ t: 'tiebreak', seq: e.view.id.seq, rep: e.view.id.rep, granted: e.granted });
        this.step(n, () => undefined);
        return false;
      }
      case 'script-partition':
        this.network.partition(e.groups);
        this.partitionGen++;
        this.stats.partitions++;
        this.note('fault', `scripted ${this.network.describe()}`);
        return false;
      case 'probe':
        this.probes.push({ atMs: e.atMs, nodes: this.ids.map((id) => this.probe(this.node(id))) });
        return false;
    }
  }

  private probe(n: SimNode): NodeProbe {
    const ctl = n.up ? n.ctl : undefined;
    const d = ctl?.decision;
    return {
      node: n.id, up: n.up, view: ctl?.currentView?.members, quorate: d?.quorate ?? false,
      reason: ctl?.currentView === undefined ? undefined : d?.reason, coordinator: ctl?.currentTerm?.coordinator, leading: ctl?.isLeader ?? false,
    };
  }

  private startLiveness(): void {
    this.phase = 'liveness';
    this.network.healAll();
    this.note('phase', `liveness: network healed, ${this.restartInLiveness ? 'crashed nodes restart' : 'crashed nodes stay down'}`);
    for (const n of this.nodes.values()) {
      if (n.up && n.leaving) this.crashNode(n, 'stops after leaving');
    }
    for (const n of this.nodes.values()) {
      if (n.paused) this.resumeNode(n);
    }
    if (this.restartInLiveness) {
      for (const n of this.nodes.values()) if (!n.up) this.startNode(n);
    }
  }

  private finish(endUs: number): void {
    for (const n of this.nodes.values()) {
      if (!n.up || this.bug === undefined) continue;
      const held = this.bug.flush(n.id);
      for (const ev of held) this.observeEvent(n, ev);
    }
    const live: LiveNode[] = [];
    for (const n of this.nodes.values()) {
      if (n.up && n.core !== undefined) live.push({ node: n.id, incarnation: n.incarnation, status: n.core.status() });
    }
    const end: EndState = { timeUs: endUs, stableFromUs: endUs - this.stableMs * 1000, live };
    this.note('phase', `end: ${live.map((l) => `n${l.node} ${l.status.state} ${l.status.view ? formatView(l.status.view) : '-'} queue=${l.status.sendQueueLength}`).join('; ')}`);
    for (const c of this.checkers) {
      if (this.stopped) break;
      const problem = c.finish(end);
      if (problem !== undefined) this.violate(c.name, problem);
    }
  }

  // ---------------------------------------------------------------------------------- nodes

  private startNode(n: SimNode): void {
    n.incarnation++;
    n.up = true;
    n.leaving = false;
    n.paused = false;
    n.backlog = [];
    n.lifeGen++;
    n.tickGen++;
    n.tickDeadlineMs = undefined;
    if (n.incarnation > 1) this.stats.restarts++;
    this.note('fault', `n${n.id} ${n.incarnation === 1 ? 'starts' : 'restarts'} as incarnation ${n.incarnation} with ringSeq ${n.store.ringSeq}`);
    this.observe({ type: 'start', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation });
    const config: TotemConfig = {
      nodeId: n.id, incarnation: n.incarnation, nodes: this.ids, ringSeq: n.store.ringSeq, timers: this.o.timers,
      maxSendQueue: this.maxSendQueue, maxMessagesPerToken: this.maxMessagesPerToken,
    };
    n.pendingControls = [];
    n.lastTermKey = '';
    const bug = this.bug;
    n.ctl = new NodeController({
      nodeId: n.id,
      quorum: this.quorumConfig,
      leadership: bug === undefined ? this.lplan.leadership : bug.leadershipTimers(this.lplan.leadership),
      persistedLms: n.store.lms,
      createQuorum: (c, o) => (bug === undefined ? new QuorumTracker(c, o) : bug.wrapQuorum(new QuorumTracker(c, o))),
    });
    try {
      n.core = this.o.createCore(config, this.localMs(n));
    } catch (err) {
      this.violate('core-exception', `createTotem threw at n${n.id}: ${describeError(err)}`);
      return;
    }
    this.step(n, () => undefined);
  }

  private crashNode(n: SimNode, how: string): void {
    this.note('fault', `n${n.id}/${n.incarnation} ${how}`);
    this.observe({ type: 'crash', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation });
    n.up = false;
    n.leaving = false;
    n.core = undefined;
    n.ctl = undefined;
    n.pendingControls = [];
    n.paused = false;
    n.backlog = [];
    n.lifeGen++;
    n.tickGen++;
    n.tickDeadlineMs = undefined;
    this.stats.crashes++;
    this.bug?.crashed(n.id);
  }

  private pauseNode(n: SimNode, durationMs: number): void {
    n.paused = true;
    n.pauseGen++;
    this.stats.pauses++;
    this.note('fault', `n${n.id} pauses for ${durationMs.toFixed(1)}ms`);
    this.queue.push(this.nowUs + this.msToUs(durationMs), { type: 'resume', node: n.id, pauseGen: n.pauseGen });
  }

  /**
   * After a stall a real event loop finds both expired timers and queued packets. Node runs the
   * timers phase first, but a stall in the middle of a poll phase drains packets first, so the
   * order is drawn from the seed: protocols must survive both.
   */
  private resumeNode(n: SimNode): void {
    n.paused = false;
    const backlog = n.backlog;
    n.backlog = [];
    const timersFirst = this.faultPrng.chance(0.5);
    this.note('fault', `n${n.id} resumes (local ${this.localMs(n)}ms) with ${backlog.length} queued packets, ${timersFirst ? 'timers' : 'packets'} first`);
    const life = n.lifeGen;
    // Like the runtime after a stall: check the leader lease before processing anything else.
    this.step(n, () => undefined, (ctl, nowMs) => ctl.tick(nowMs));
    if (this.stopped || !n.up || n.lifeGen !== life) return;
    if (timersFirst) this.tickIfDue(n);
    for (const p of backlog) {
      if (this.stopped || !n.up || n.lifeGen !== life || n.paused) return;
      this.receiveNow(n, p.from, p.bytes);
    }
    if (!this.stopped && n.up && n.lifeGen === life) this.tickIfDue(n);
  }

  private tickIfDue(n: SimNode): void {
    const deadline = this.nodeDeadlineMs(n);
    if (deadline !== undefined && deadline <= this.localMs(n)) this.tickNode(n);
    else this.scheduleTick(n);
  }

  private tickNode(n: SimNode): void {
    if (n.lastTickUs === this.nowUs) {
      if (++n.sameInstantTicks > SAME_INSTANT_TICKS_MAX) {
        this.violate('progress', `n${n.id} asked for ${SAME_INSTANT_TICKS_MAX} ticks at one instant: a timer that keeps firing without being reset`);
        return;
      }
    } else {
      n.lastTickUs = this.nowUs;
      n.sameInstantTicks = 0;
    }
    n.tickDeadlineMs = undefined;
    const localMs = this.localMs(n);
    this.trace.add({ k: 'tick', t: this.nowUs, node: n.id, localMs });
    this.step(n, (core, nowMs) => core.tick(nowMs), (ctl, nowMs) => {
      const d = ctl.nextDeadlineMs();
      if (d !== undefined && d <= nowMs) ctl.tick(nowMs);
    });
  }

  private onPacket(to: NodeId, toIncarnation: number, from: NodeId, bytes: Uint8Array): void {
    const n = this.node(to);
    if (!n.up || n.incarnation !== toIncarnation) {
      this.trace.add({ k: 'recv', t: this.nowUs, node: to, from, bytes, note: 'dropped' });
      return;
    }
    if (n.paused) {
      const overflow = n.backlog.length >= BACKLOG_PACKETS_MAX;
      if (!overflow) n.backlog.push({ from, bytes });
      this.trace.add({ k: 'recv', t: this.nowUs, node: to, from, bytes, note: overflow ? 'overflow' : 'queued' });
      return;
    }
    this.receiveNow(n, from, bytes);
  }

  private receiveNow(n: SimNode, from: NodeId, bytes: Uint8Array): void {
    this.trace.add({ k: 'recv', t: this.nowUs, node: n.id, from, bytes, note: 'ok' });
    // Decoding per receiver gives each node its own copy: nodes never share objects.
    const msg = this.packr.unpack(bytes) as Parameters<TotemCore['receive']>[1];
    this.step(n, (core, nowMs) => core.receive(from, msg, nowMs));
  }

  private onBroadcast(): void {
    const endOfBroadcastsUs = this.livenessStartUs + this.boundMs * 1000;
    if (this.nowUs >= endOfBroadcastsUs) return;
    this.queue.push(this.nowUs + Math.max(1, this.msToUs(this.prng.exponential(this.broadcastMeanMs))), { type: 'broadcast' });
    const candidates = [...this.nodes.values()].filter((n) => n.up && !n.paused && !n.leaving);
    if (candidates.length === 0) return;
    const n = this.prng.pick(candidates);
    const tag = `s${this.o.seed}b${++this.broadcastCounter}:`;
    const extra = this.prng.int(0, 8);
    const payload = new Uint8Array(tag.length + extra);
    for (let i = 0; i < tag.length; i++) payload[i] = tag.charCodeAt(i);
    for (let i = tag.length; i < payload.length; i++) payload[i] = this.prng.int(0, 255);
    this.step(n, (core, nowMs) => {
      const result = core.broadcast(payload, nowMs);
      if (result.ok) {
        this.stats.broadcastsOk++;
        this.trace.add({ k: 'broadcast', t: this.nowUs, node: n.id, inc: n.incarnation, result: `ok ${msgKey({ sender: n.id, senderIncarnation: n.incarnation, msgId: result.msgId })} (${payload.length}B)` });
        this.observe({ type: 'broadcast', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation, msgId: result.msgId, payload });
      } else {
        this.stats.broadcastsRefused++;
        this.trace.add({ k: 'broadcast', t: this.nowUs, node: n.id, inc: n.incarnation, result: `refused: ${result.reason}` });
      }
    });
  }

  /**
   * One turn of a node's loop, per the driver contract in totem/types.ts: feed the input, then
   * take the output and persist it BEFORE sending, then hand events over (to the checkers, and to
   * the node's quorum + leadership controller, as lib/runtime/cluster.ts does). Control messages
   * the controller asks for are broadcast through the core in the same turn.
   * `ctlInput`, when given, runs on the controller before the core's input (a lease check first).
   */
  private step(n: SimNode, input: (core: TotemCore, nowMs: number) => void, ctlInput?: (ctl: NodeController, nowMs: number) => void): void {
    const core = n.core;
    if (core === undefined || this.stopped) return;
    const nowMs = this.localMs(n);
    const life = n.lifeGen;
    let out: TotemOutput;
    try {
      if (ctlInput !== undefined && n.ctl !== undefined) {
        ctlInput(n.ctl, nowMs);
        this.drainController(n);
      }
      input(core, nowMs);
      out = core.takeOutput();
    } catch (err) {
      this.violate('core-exception', `n${n.id}/${n.incarnation} threw: ${describeError(err)}`);
      return;
    }
    for (let round = 0; ; round++) {
      this.applyOutput(n, out, nowMs);
      if (this.stopped || n.lifeGen !== life) return;
      const controls = n.pendingControls;
      n.pendingControls = [];
      if (controls.length === 0) break;
      if (round >= 50) {
        this.violate('progress', `n${n.id} kept producing control messages within one turn`);
        return;
      }
      try {
        for (const c of controls) this.broadcastControl(n, core, c, nowMs);
        out = core.takeOutput();
      } catch (err) {
        this.violate('core-exception', `n${n.id}/${n.incarnation} threw: ${describeError(err)}`);
        return;
      }
    }
    this.scheduleTick(n);
  }

  private applyOutput(n: SimNode, out: TotemOutput, nowMs: number): void {
    if (out.persist !== undefined) {
      n.store.ringSeq = out.persist.ringSeq;
      this.trace.add({ k: 'persist', t: this.nowUs, node: n.id, ringSeq: out.persist.ringSeq });
    }
    for (const s of out.sends) this.send(n, s);
    const events = this.bug === undefined ? out.events : this.bug.events(n.id, out.events, this.bugContext());
    for (const ev of events) {
      if (this.stopped) return;
      this.observeEvent(n, ev);
    }
    // The controller sees what the core really produced (bugs only corrupt what is reported).
    const ctl = n.ctl;
    if (ctl === undefined) return;
    try {
      for (const ev of out.events) {
        if (this.stopped) return;
        if (ev.type === 'view') ctl.onView(ev.view, nowMs, ev.transitional);
        else {
          const control = this.decodeControl(ev.delivery.payload);
          if (control === undefined) continue;
          ctl.onControl(ev.delivery.sender, control, nowMs);
        }
        this.drainController(n);
      }
      if (out.tokenAcceptedMs !== undefined && !this.stopped) {
        ctl.onToken(out.tokenAcceptedMs, nowMs);
        this.drainController(n);
      }
    } catch (err) {
      this.violate('core-exception', `n${n.id}/${n.incarnation} quorum/leadership threw: ${describeError(err)}`);
    }
  }

  /** Reports what the controller did and queues what it wants broadcast. */
  private drainController(n: SimNode): void {
    const ctl = n.ctl;
    if (ctl === undefined) return;
    const out = ctl.takeOutput();
    // Persisted before any control of this output is broadcast (they go out after this returns).
    if (out.persist !== undefined) n.store.lms = out.persist;
    const base = { timeUs: this.nowUs, node: n.id, incarnation: n.incarnation };
    for (const e of out.events) {
      if (this.stopped) return;
      switch (e.type) {
        case 'quorum': {
          const view = ctl.currentView!;
          const d = e.decision;
          this.note('leader', `n${n.id}/${n.incarnation} ${d.quorate ? 'quorate' : 'NOT quorate'} in ${formatView(view)} (${d.reason}, ${d.totalVotes}/${d.expectedVotes} votes)`);
          this.observe({ type: 'quorum', ...base, view, quorate: d.quorate, reason: d.reason });
          break;
        }
        case 'coordinator':
          break;
        case 'leader-start': {
          this.stats.leaderStarts++;
          const epoch = this.bug === undefined ? e.epoch : this.bug.leaderEpoch(n.id, e.epoch, this.bugContext());
          this.note('leader', `n${n.id}/${n.incarnation} LEADER-START epoch ${epoch}`);
          this.observe({ type: 'leader-start', ...base, epoch });
          break;
        }
        case 'leader-stop':
          this.note('leader', `n${n.id}/${n.incarnation} leader-stop epoch ${e.epoch} (${e.reason})`);
          this.observe({ type: 'leader-stop', ...base, epoch: e.epoch, reason: e.reason });
          break;
      }
    }
    const term = ctl.currentTerm;
    const termKey = term === undefined ? '' : `${term.epoch}/${term.coordinator}`;
    if (termKey !== n.lastTermKey) {
      n.lastTermKey = termKey;
      if (term !== undefined && !this.stopped) this.observe({ type: 'term', ...base, epoch: term.epoch, coordinator: term.coordinator });
    }
    // The simulated leader callback settles at once, so a release goes out in the same turn.
    for (const r of out.releases) n.pendingControls.push({ t: 'release', epoch: r.epoch });
    for (const c of out.controls) n.pendingControls.push(c);
    if (out.tieBreakerFor !== undefined) {
      // The tie-breaker check (a ping of the gateway): non-exclusive, so it may only veto.
      const granted = this.faultPrng.chance(this.lplan.tieBreakerGrantRate);
      const delayMs = this.faultPrng.range(1, this.lplan.tieBreakerDelayMsMax);
      this.queue.push(this.nowUs + this.msToUs(delayMs), { type: 'tiebreak', node: n.id, lifeGen: n.lifeGen, view: out.tieBreakerFor, granted });
    }
  }

  private broadcastControl(n: SimNode, core: TotemCore, c: ControlMessage, nowMs: number): void {
    const body = this.packr.pack(c) as Uint8Array;
    const payload = new Uint8Array(body.length + 1);
    payload[0] = CONTROL_MAGIC;
    payload.set(body, 1);
    const result = core.broadcast(payload, nowMs);
    const what = describeControl(c);
    if (result.ok) {
      this.stats.controls++;
      this.trace.add({ k: 'broadcast', t: this.nowUs, node: n.id, inc: n.incarnation, result: `ok ${msgKey({ sender: n.id, senderIncarnation: n.incarnation, msgId: result.msgId })} control: ${what}` });
      this.observe({ type: 'broadcast', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation, msgId: result.msgId, payload });
    } else {
      this.trace.add({ k: 'broadcast', t: this.nowUs, node: n.id, inc: n.incarnation, result: `control ${what} refused: ${result.reason}` });
    }
  }

  private decodeControl(payload: Uint8Array): ControlMessage | undefined {
    if (payload.length < 2 || payload[0] !== CONTROL_MAGIC) return undefined;
    try {
      return parseControlMessage(this.packr.unpack(payload.subarray(1)));
    } catch {
      return undefined;
    }
  }

  private observeEvent(n: SimNode, ev: TotemEvent): void {
    if (ev.type === 'view') {
      this.stats.views++;
      this.stormWindowViews++;
      this.trace.add({ k: 'view', t: this.nowUs, node: n.id, inc: n.incarnation, view: ev.view });
      this.observe({ type: 'view', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation, view: ev.view });
    } else {
      this.stats.deliveries++;
      this.trace.add({ k: 'deliver', t: this.nowUs, node: n.id, inc: n.incarnation, key: msgKey(ev.delivery), view: viewKey(ev.delivery.viewId) });
      this.observe({ type: 'deliver', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation, delivery: ev.delivery });
    }
  }

  /** The earliest of the core's and the controller's deadlines (local ms). */
  private nodeDeadlineMs(n: SimNode): number | undefined {
    const a = n.core?.nextDeadlineMs();
    const b = n.ctl?.nextDeadlineMs();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  private scheduleTick(n: SimNode): void {
    if (!n.up || n.core === undefined) return;
    let deadline: number | undefined;
    try {
      deadline = this.nodeDeadlineMs(n);
    } catch (err) {
      this.violate('core-exception', `n${n.id}/${n.incarnation} nextDeadlineMs threw: ${describeError(err)}`);
      return;
    }
    if (deadline === n.tickDeadlineMs) return;
    n.tickGen++;
    n.tickDeadlineMs = deadline;
    if (deadline === undefined) return;
    // Local clocks read integer ms; a fractional deadline (a lease) is due at the next whole ms.
    let atUs = Math.max(this.nowUs, this.globalUsFor(n, Math.ceil(deadline)));
    // Event-loop lag: timers fire late, never early.
    if (this.tickLateMsMax > 0 && this.phase === 'safety') atUs += this.msToUs(this.faultPrng.float() ** 3 * this.tickLateMsMax);
    this.queue.push(atUs, { type: 'tick', node: n.id, gen: n.tickGen });
  }

  private send(n: SimNode, s: Send): void {
    const bytes = this.packr.pack(s.msg) as Uint8Array;
    this.stormWindowKinds.set(s.msg.kind, (this.stormWindowKinds.get(s.msg.kind) ?? 0) + 1);
    const targets = s.to === 'all' ? this.ids.filter((id) => id !== n.id) : [s.to];
    for (const to of targets) {
      const target = this.nodes.get(to);
      if (target === undefined) {
        this.note('fault', `n${n.id} sent to unknown node ${to}; dropped`);
        continue;
      }
      this.stats.packetsSent++;
      if (this.bug !== undefined && this.bug.dropsSend(n.id, this.bugContext())) {
        this.stats.packetsLost++;
        this.trace.add({ k: 'net', t: this.nowUs, from: n.id, to, bytes, fate: 'stalled' });
        continue;
      }
      const fate = this.network.fate(n.id, to);
      if (!fate.delivered) {
        this.stats.packetsLost++;
        this.trace.add({ k: 'net', t: this.nowUs, from: n.id, to, bytes, fate: fate.reason });
        continue;
      }
      const toIncarnation = target.up ? target.incarnation : -1;
      fate.latenciesUs.forEach((latencyUs, i) => {
        this.trace.add({ k: 'net', t: this.nowUs, from: n.id, to, bytes, fate: i === 0 ? 'sent' : 'duplicated' });
        this.queue.push(this.nowUs + latencyUs, { type: 'packet', to, toIncarnation, from: n.id, bytes });
      });
    }
  }

  // ---------------------------------------------------------------------------------- faults

  private discreteFaults(): FaultKind[] {
    return (['partition', 'asymmetric', 'crash', 'pause'] as const).filter((f) => this.faults.has(f));
  }

  private injectFault(): void {
    const p = this.faultPrng;
    const T = this.o.timers.tokenTimeoutMs;
    const kind = p.pick(this.discreteFaults());
    const up = [...this.nodes.values()].filter((n) => n.up);
    const durationMs = p.chance(0.3) ? p.range(T / 4, T) : p.range(T, 10 * T);
    switch (kind) {
      case 'partition': {
        const shuffled = p.shuffle(this.ids);
        let groups: NodeId[][];
        const shape = p.int(0, 2);
        if (shape === 0 || this.ids.length < 3) {
          groups = [[shuffled[0]!]];
        } else if (shape === 1) {
          const cut = p.int(1, shuffled.length - 1);
          groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
        } else {
          const a = p.int(1, shuffled.length - 2);
          const b = p.int(a + 1, shuffled.length - 1);
          groups = [shuffled.slice(0, a), shuffled.slice(a, b), shuffled.slice(b)];
        }
        this.network.partition(groups);
        this.partitionGen++;
        this.stats.partitions++;
        this.note('fault', `${this.network.describe()} for ${durationMs.toFixed(0)}ms`);
        this.queue.push(this.nowUs + this.msToUs(durationMs), { type: 'heal-partition', gen: this.partitionGen });
        return;
      }
      case 'asymmetric': {
        const x = p.pick(this.ids);
        const others = this.ids.filter((id) => id !== x);
        const shape = p.int(0, 2);
        const links: [NodeId, NodeId][] =
          shape === 0 ? [[x, p.pick(others)]] : shape === 1 ? others.map((o): [NodeId, NodeId] => [o, x]) : others.map((o): [NodeId, NodeId] => [x, o]);
        for (const [from, to] of links) this.network.cut(from, to);
        this.stats.cuts++;
        const what = shape === 0 ? `one-way cut n${links[0]![0]}->n${links[0]![1]}` : shape === 1 ? `n${x} can send but not receive` : `n${x} can receive but not send`;
        this.note('fault', `${what} for ${durationMs.toFixed(0)}ms`);
        this.queue.push(this.nowUs + this.msToUs(durationMs), { type: 'uncut', links });
        return;
      }
      case 'crash': {
        const candidates = up.filter((n) => !n.leaving);
        if (candidates.length <= 1) return;
        const n = p.pick(candidates);
        const graceful = p.chance(0.3);
        if (graceful) {
          this.note('fault', `n${n.id}/${n.incarnation} leaves gracefully`);
          n.leaving = true;
          // As Cluster.leave(): stop leading and release the term first, then leave the ring.
          this.step(n, () => undefined, (ctl) => ctl.leave());
          this.step(n, (core, nowMs) => core.leave(nowMs));
          this.queue.push(this.nowUs + this.msToUs(p.range(1, 20)), { type: 'stop', node: n.id, lifeGen: n.lifeGen });
        } else {
          this.crashNode(n, 'crashes');
        }
        if (p.chance(0.75)) {
          // The stop of a graceful leave bumps lifeGen once more; restart targets that life.
          const lifeGen = graceful ? n.lifeGen + 1 : n.lifeGen;
          this.queue.push(this.nowUs + this.msToUs(durationMs + 25), { type: 'restart', node: n.id, lifeGen });
        }
        return;
      }
      case 'pause': {
        const candidates = up.filter((n) => !n.paused);
        if (candidates.length === 0) return;
        const n = p.pick(candidates);
        // Runs that check leader overlap keep pauses below the bound (the lease; see leadership-plan.ts).
        const longMs = Math.min(6 * T, this.lplan.pauseBoundMs ?? Number.POSITIVE_INFINITY);
        this.pauseNode(n, p.chance(0.5) ? p.range(T / 20, T / 2) : p.range(T / 2, longMs));
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------- checkers

  private observe(obs: Observation): void {
    for (const c of this.checkers) {
      const problem = c.observe(obs);
      if (problem !== undefined) {
        this.violate(c.name, problem);
        if (this.stopped) return;
      }
    }
  }

  private violate(checker: CheckerName | HarnessCheck, message: string): void {
    if (this.firedCheckers.has(checker)) return;
    this.firedCheckers.add(checker);
    const kind = checker === 'liveness' || checker === 'self-delivery' ? 'liveness' : checker === 'core-exception' || checker === 'progress' ? 'crash' : 'correctness';
    this.violations.push({
      checker, kind, seed: this.o.seed, step: this.stats.steps, timeUs: this.nowUs, message,
      trace: this.trace.report(),
      reproduce: reproduceCommand({ ...this.o }),
    });
    if (this.o.stopOnViolation !== false || kind === 'crash') this.stopped = true;
  }

  // ---------------------------------------------------------------------------------- helpers

  private bugContext(): BugContext {
    return {
      timeUs: this.nowUs,
      phase: this.phase,
      note: (text) => this.note('bug', text),
    };
  }

  private note(k: 'fault' | 'phase' | 'bug' | 'leader', text: string): void {
    this.trace.add({ k, t: this.nowUs, text });
  }

  private node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no simulated node ${id}`);
    return n;
  }

  private localUs(n: SimNode, globalUs: number): number {
    return Math.floor(globalUs * n.rate) + n.offsetUs;
  }

  private localMs(n: SimNode): number {
    return Math.floor(this.localUs(n, this.nowUs) / 1000);
  }

  /** The first global instant at which the node's local clock reads at least `deadlineMs`. */
  private globalUsFor(n: SimNode, deadlineMs: number): number {
    const targetUs = Math.ceil(deadlineMs * 1000);
    let g = Math.max(0, Math.ceil((targetUs - n.offsetUs) / n.rate));
    while (this.localUs(n, g) < targetUs) g++;
    while (g > 0 && this.localUs(n, g - 1) >= targetUs) g--;
    return g;
  }

  private msToUs(ms: number): number {
    return Math.round(ms * 1000);
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
  return String(err);
}

function describeControl(c: ControlMessage): string {
  switch (c.t) {
    case 'release':
      return `release epoch ${c.epoch}`;
    case 'tiebreak':
      return `tiebreak ${c.seq}.${c.rep} ${c.granted ? 'granted' : 'refused'}`;
    case 'quorate':
      return 'quorate';
    case 'lms': {
      const cfg = c.kn.config;
      return `lms ${c.k === 'p' ? 'propose' : 'report'} v${cfg.version}@${cfg.seq}.${cfg.rep} {${cfg.members.join(',')}} acked {${c.kn.acked.join(',')}}`;
    }
  }
}
