/**
 * The deterministic simulator: N nodes in one process — each the shipped node driver
 * (lib/node: totem, quorum, leadership, CIB, transition engine, resource controller) — one
 * global fake clock, one event queue, one seeded PRNG, a hostile network, simulated resource
 * agents with a world model of where each resource really runs (resources.ts), and the
 * guarantee checkers watching every step.
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
import { emptyCib, listPrimitives, INFINITY, type Cib, type PrimitiveConfig } from '../cib/model.js';
import { digestOf, formatVersion, type CibChange } from '../cib/replica.js';
import type { AgentOperation, AgentOutcome } from '../controller/local-resources.js';
import type { LeadershipTimers } from '../controller/leadership.js';
import { NodeController } from '../controller/node-controller.js';
import { isSanodeError } from '../errors/index.js';
import { NodeDriver, type NodeOutput } from '../node/driver.js';
import { QuorumTracker, resolveQuorumConfig, type LmsKnowledge, type ResolvedQuorumConfig } from '../quorum/index.js';
import type { NodeId, Send, TotemConfig, TotemCore, TotemEvent, TotemTimers, View } from '../totem/types.js';
import { createBugInjector, type BugContext, type BugInjector, type BugName } from './bugs.js';
import { createCheckers } from './checkers/index.js';
import { parseFaultMix, type FaultKind, type FaultSet } from './faults.js';
import { EventHeap } from './heap.js';
import { describeQuorum, planLeadership, type LeadershipPlan, type QuorumFlavour, type QuorumOverride } from './leadership-plan.js';
import { SimNetwork, type NetworkModel } from './network.js';
import { Prng } from './prng.js';
import { planResources, simHoldoverMs, SimWorld, type ResourcePlan, type WorldChange } from './resources.js';
import { broadcastChannel, TraceLog } from './trace.js';
import type { Checker, CheckerName, EndState, HarnessCheck, LiveNode, Observation, RunBounds, Violation } from './types.js';
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
  /**
   * Node faults at fixed global times (ms), in addition to the fault mix: a regression test
   * replays a sequence found outside. `node` is an id, or the node that is coordinator (leading)
   * or holds `rsc` in the world model at that moment (no fault if there is none).
   */
  readonly scriptedNodeFaults?: readonly ScriptedNodeFault[] | undefined;
  /** Record every node's quorum and leadership state at these global times (ms): RunResult.probes. */
  readonly probeAtMs?: readonly number[] | undefined;
  /** false: configure no resources and write no CIB changes (cores without retransmission, like the toy). */
  readonly resources?: boolean | undefined;
}

export interface ScriptedNodeFault {
  readonly atMs: number;
  readonly kind: 'pause' | 'crash' | 'restart';
  readonly node: NodeId | 'coordinator' | { readonly holding: string };
  /** pause only: how long the node is frozen. */
  readonly durationMs?: number;
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
  /** Frozen (the pause fault): its state is what it was when it froze. */
  readonly paused: boolean;
  /** Resources active on this node in the world model (sorted). */
  readonly active: readonly string[];
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
  /** Agent operations the nodes ran, and CIB writes the simulated operator made / saw acknowledged. */
  resourceOps: number;
  cibWrites: number;
  cibAcks: number;
  /** Coded 'error' events the nodes reported (self-stops, resources that cannot run, ...). */
  nodeErrors: number;
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
  /** What the run configured: its lease timers and resources (undefined with resources off). */
  readonly plan: { readonly lease: LeadershipTimers; readonly resources: ResourcePlan | undefined };
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
  | { readonly type: 'packet'; readonly to: NodeId; readonly toIncarnation: number; readonly from: NodeId; readonly packet: Packet }
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
  | { readonly type: 'probe'; readonly atMs: number }
  | { readonly type: 'script-node'; readonly fault: ScriptedNodeFault }
  | { readonly type: 'op-done'; readonly node: NodeId; readonly lifeGen: number; readonly op: AgentOperation; readonly hung: boolean }
  | { readonly type: 'world-expire' }
  | { readonly type: 'cib-write' }
  | { readonly type: 'die'; readonly node: NodeId; readonly rsc: string };

/**
 * One datagram as sent: its bytes and, once the first receiver has decoded them, the decoded
 * message, deep-frozen and shared by every receiver of the same bytes (all targets of a
 * multicast, duplicates). Sharing is safe because no receiver can change it: plain objects and
 * arrays are frozen (a write throws in these strict-mode modules and the run reports a
 * core-exception), and the only unfrozen parts, binary payloads, are views into `bytes` itself
 * (msgpackr without copyBuffers returns subarrays), which every receiver shared before too.
 */
interface Packet {
  readonly bytes: Uint8Array;
  decoded: unknown;
}

type Backlog = { readonly k: 'packet'; readonly from: NodeId; readonly packet: Packet } | { readonly k: 'op'; readonly op: AgentOperation; readonly outcome: AgentOutcome };

interface SimNode {
  readonly id: NodeId;
  /** Local clock = global × rate + offset. */
  readonly rate: number;
  readonly offsetUs: number;
  incarnation: number;
  up: boolean;
  leaving: boolean;
  /** Its graceful leave has finished ('left'): the stop that follows ends a completed leave. */
  left: boolean;
  /** The shipped node (lib/node/driver.ts) of this incarnation. */
  driver: NodeDriver | undefined;
  /** What survives a crash: the persisted ring seq, last man standing knowledge and CIB. */
  readonly store: { ringSeq: number; lms: LmsKnowledge | undefined; cib: Cib | undefined };
  paused: boolean;
  pauseGen: number;
  /** Packets (bounded, like a socket buffer) and agent results that arrived while paused, processed on resume. */
  backlog: Backlog[];
  /** Invalidates scheduled restart/stop events when the node's life changes. */
  lifeGen: number;
  tickGen: number;
  tickDeadlineMs: number | undefined;
  lastTickUs: number;
  sameInstantTicks: number;
  /** The term last reported to the checkers (-1/-1: none). */
  lastTermEpoch: number;
  lastTermCoordinator: NodeId;
  /** This incarnation's CIB writes of the simulated operator, by request id: the attribute it sets. */
  readonly writes: Map<string, string>;
}

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
    resourceOps: 0, cibWrites: 0, cibAcks: 0, nodeErrors: 0,
  };
  private readonly rplan: ResourcePlan | undefined;
  private readonly resourcePrng: Prng;
  private readonly world = new SimWorld();
  private writeCounter = 0;
  /** A partition that isolates a resource holder is not replaced by another before this. */
  private isolationUntilUs = 0;
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
        incarnation: 0, up: false, leaving: false, left: false, driver: undefined, store: { ringSeq: 0, lms: undefined, cib: undefined },
        paused: false, pauseGen: 0, backlog: [], lifeGen: 0, tickGen: 0, tickDeadlineMs: undefined,
        lastTickUs: -1, sameInstantTicks: 0, lastTermEpoch: -1, lastTermCoordinator: -1, writes: new Map(),
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
    const planned = planLeadership(p.fork(), this.ids, o.timers, this.faults, drift, o.quorum, o.quorumFlavour);
    // A scripted pause beyond the bound is a long-pause run: the same checkers as one drawn so.
    const longScripted = planned.pauseBoundMs !== undefined &&
      (o.scriptedNodeFaults ?? []).some((f) => f.kind === 'pause' && (f.durationMs ?? 0) >= planned.pauseBoundMs!);
    this.lplan = longScripted ? { ...planned, pauseBoundMs: undefined, longPauses: true } : planned;
    this.quorumConfig = resolveQuorumConfig(this.lplan.quorum);
    // Drawn last, so the network, fault and leadership plans of a seed are those it always had.
    this.resourcePrng = p.fork();
    this.rplan = o.resources === false ? undefined : planResources(this.resourcePrng, this.ids, effectiveTokenTimeoutMs(o.timers, o.nodes));
    const bounds: RunBounds = {
      tokenTimeoutMs: effectiveTokenTimeoutMs(o.timers, o.nodes),
      backoffBaseMs: this.rplan?.backoffBaseMs ?? 0,
      handOffMs: 4 * effectiveTokenTimeoutMs(o.timers, o.nodes),
    };
    this.checkers = createCheckers({ twoNode: this.lplan.twoNode, longPauses: this.lplan.longPauses, resources: this.rplan !== undefined, bounds });
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
    if (this.rplan !== undefined) this.queue.push(this.msToUs(this.resourcePrng.exponential(5 * o.timers.tokenTimeoutMs)), { type: 'cib-write' });
    if (this.discreteFaults().length > 0) this.queue.push(this.msToUs(this.faultPrng.exponential(this.faultMeanMs)), { type: 'fault' });
    this.livenessStartUs = this.safetyMs * 1000;
    this.queue.push(this.livenessStartUs, { type: 'liveness' });
    const endUs = this.livenessStartUs + (this.boundMs + this.stableMs) * 1000;
    this.queue.push(endUs, { type: 'end' });
    for (const sp of o.scriptedPartitions ?? []) this.queue.push(this.msToUs(sp.atMs), { type: 'script-partition', groups: sp.groups });
    for (const atMs of o.probeAtMs ?? []) this.queue.push(this.msToUs(atMs), { type: 'probe', atMs });
    for (const fault of o.scriptedNodeFaults ?? []) this.queue.push(this.msToUs(fault.atMs), { type: 'script-node', fault });

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
      plan: { lease: this.lplan.leadership, resources: this.rplan },
    };
  }

  // ---------------------------------------------------------------------------------- events

  private handle(e: SimEvent): boolean {
    switch (e.type) {
      case 'start':
        this.startNode(this.node(e.node));
        return false;
      case 'packet':
        this.onPacket(e.to, e.toIncarnation, e.from, e.packet);
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
        if (e.lifeGen !== n.lifeGen || !n.up || n.paused || n.driver?.currentView !== e.view) return false;
        this.step(n, (d, nowMs) => d.tieBreakerResult(e.view, e.granted, nowMs));
        return false;
      }
      case 'op-done':
        this.onOpDone(e.node, e.lifeGen, e.op, e.hung);
        return false;
      case 'world-expire':
        this.worldChanged(this.world.expire(this.nowUs, (id) => this.node(id).up));
        return false;
      case 'cib-write':
        this.onCibWrite();
        return false;
      case 'die': {
        // A running in-process resource dies by itself (its monitor will find it).
        const n = this.node(e.node);
        if (this.phase === 'safety' && n.up) this.worldChanged(this.world.stop(e.node, e.rsc, 'it died by itself'));
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
      case 'script-node':
        this.scriptedNodeFault(e.fault);
        return false;
    }
  }

  private probe(n: SimNode): NodeProbe {
    const ctl = n.up ? n.driver?.controller : undefined;
    const d = ctl?.decision;
    const active = this.world.active().filter((a) => a.node === n.id).map((a) => a.rsc).sort();
    return {
      node: n.id, up: n.up, paused: n.paused, view: ctl?.currentView?.members, quorate: d?.quorate ?? false,
      reason: ctl?.currentView === undefined ? undefined : d?.reason, coordinator: ctl?.currentTerm?.coordinator, leading: ctl?.isLeader ?? false,
      active,
    };
  }

  private scriptedNodeFault(fault: ScriptedNodeFault): void {
    const target = fault.node;
    const n = typeof target === 'number'
      ? this.node(target)
      : target === 'coordinator'
        ? [...this.nodes.values()].find((x) => x.up && !x.paused && x.driver?.controller.isLeader === true)
        : [...this.nodes.values()].find((x) => x.up && this.world.running(x.id, target.holding));
    if (n === undefined) {
      this.note('fault', `scripted ${fault.kind} of ${JSON.stringify(target)}: no such node now`);
      return;
    }
    if (fault.kind === 'pause' && n.up && !n.paused) this.pauseNode(n, fault.durationMs ?? 0);
    else if (fault.kind === 'crash' && n.up) {
      this.crashNode(n, 'is killed (scripted)');
      this.observe({ type: 'fault', timeUs: this.nowUs, what: `n${n.id} crashes` });
    } else if (fault.kind === 'restart' && !n.up) this.startNode(n);
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
      const d = n.driver;
      if (!n.up || d === undefined) continue;
      const c = d.cib;
      live.push({
        node: n.id, incarnation: n.incarnation, status: d.totem.status(), quorate: d.controller.decision.quorate,
        cib: { version: formatVersion(c.version), digest: digestOf(c.cib), cib: c.cib }, name: d.name,
        probed: d.hasProbed,
      });
    }
    const end: EndState = {
      timeUs: endUs, stableFromUs: endUs - this.stableMs * 1000, live,
      world: this.world.active(),
      primitives: this.rplan === undefined ? [] : listPrimitives(this.rplan.config).map((i) => ({ id: i.primitive.id, group: i.group?.members.map((m) => m.id) })),
    };
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
    n.left = false;
    n.paused = false;
    n.backlog = [];
    n.lifeGen++;
    n.tickGen++;
    n.tickDeadlineMs = undefined;
    if (n.incarnation > 1) this.stats.restarts++;
    this.note('fault', `n${n.id} ${n.incarnation === 1 ? 'starts' : 'restarts'} as incarnation ${n.incarnation} with ringSeq ${n.store.ringSeq}`);
    this.observe({ type: 'start', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation });
    const bug = this.bug;
    const config: TotemConfig = {
      nodeId: n.id, incarnation: n.incarnation, nodes: this.ids, ringSeq: n.store.ringSeq, timers: this.o.timers,
      maxSendQueue: this.maxSendQueue, maxMessagesPerToken: this.maxMessagesPerToken,
      ...(bug?.coreBugs === undefined ? {} : { injectedBugs: bug.coreBugs }),
    };
    n.lastTermEpoch = -1;
    n.lastTermCoordinator = -1;
    n.writes.clear();
    this.world.adopt(n.id);
    const leadership = bug === undefined ? this.lplan.leadership : bug.leadershipTimers(this.lplan.leadership);
    const controller = new NodeController({
      nodeId: n.id,
      quorum: this.quorumConfig,
      leadership,
      persistedLms: n.store.lms,
      createQuorum: (c, o) => (bug === undefined ? new QuorumTracker(c, o) : bug.wrapQuorum(new QuorumTracker(c, o))),
    });
    const rplan = this.rplan;
    const name = rplan?.names.get(n.id) ?? `node-${n.id}`;
    try {
      const nowMs = this.localMs(n);
      const core: TotemCore = this.o.createCore(config, nowMs);
      n.driver = new NodeDriver({
        nodeId: n.id,
        nodeName: name,
        nodeNameExplicit: rplan !== undefined,
        incarnation: n.incarnation,
        core,
        controller,
        cib: n.store.cib ?? emptyCib(rplan?.config ?? { nodes: this.ids.map((id) => ({ id: String(id), name: `node-${id}` })), resources: [] }),
        // The resources' lease is not the bug's target: no-takeover-wait bends only Leadership's.
        lease: this.lplan.leadership,
        resources: {
          manage: rplan !== undefined,
          selfStopMs: rplan?.selfStopMs ?? 1000,
          holdoverMs: simHoldoverMs,
          moveAwayMs: 10 * this.o.timers.tokenTimeoutMs,
          ...(rplan === undefined ? {} : { backoffBaseMs: rplan.backoffBaseMs, backoffMaxMs: rplan.backoffMaxMs }),
        },
        // A simulated wall clock: the same on every node but for its offset (drift shows in failure records).
        wallClockOffsetMs: 1_700_000_000_000 - Math.floor(n.offsetUs / 1000),
        maxSendQueue: this.maxSendQueue,
        nowMs,
        trace: true,
        protocolOnly: rplan === undefined,
        ...(bug?.coreBugs === undefined ? {} : { injectedBugs: bug.coreBugs }),
      });
    } catch (err) {
      this.violate('core-exception', `creating node n${n.id} threw: ${describeError(err)}`);
      return;
    }
    this.step(n, () => undefined);
  }

  private crashNode(n: SimNode, how: string): void {
    this.note('fault', `n${n.id}/${n.incarnation} ${how}`);
    this.observe({ type: 'crash', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation, ...(n.leaving && !n.left ? { leaveCutShort: true } : {}) });
    n.up = false;
    n.leaving = false;
    n.left = false;
    n.driver?.close();
    n.driver = undefined;
    n.paused = false;
    n.backlog = [];
    n.lifeGen++;
    n.tickGen++;
    n.tickDeadlineMs = undefined;
    this.stats.crashes++;
    this.bug?.crashed(n.id);
    const rplan = this.rplan;
    if (rplan !== undefined) {
      const { changes, expiries } = this.world.crash(
        n.id,
        this.nowUs,
        (rsc) => this.primitiveOf(rsc),
        (primitive) => this.msToUs(this.resourcePrng.range(0, simHoldoverMs(primitive) ?? 0)),
      );
      this.worldChanged(changes);
      for (const at of expiries) this.queue.push(Math.max(this.nowUs, at), { type: 'world-expire' });
    }
  }

  private pauseNode(n: SimNode, durationMs: number): void {
    n.paused = true;
    n.pauseGen++;
    this.stats.pauses++;
    this.note('fault', `n${n.id} pauses for ${durationMs.toFixed(1)}ms`);
    this.observe({ type: 'fault', timeUs: this.nowUs, what: `n${n.id} pauses` });
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
    // Like the runtime after a stall: check the leases before processing anything else.
    this.step(n, (d, nowMs) => d.stalled(nowMs));
    if (this.stopped || !n.up || n.lifeGen !== life) return;
    if (timersFirst) this.tickIfDue(n);
    for (const p of backlog) {
      if (this.stopped || !n.up || n.lifeGen !== life || n.paused) return;
      if (p.k === 'packet') this.receiveNow(n, p.from, p.packet);
      else this.step(n, (d, nowMs) => d.operationResult(p.op.opId, p.outcome, nowMs));
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
    this.step(n, (d, nowMs) => d.tick(nowMs));
  }

  private onPacket(to: NodeId, toIncarnation: number, from: NodeId, packet: Packet): void {
    const bytes = packet.bytes;
    const n = this.node(to);
    if (!n.up || n.incarnation !== toIncarnation) {
      this.trace.add({ k: 'recv', t: this.nowUs, node: to, from, bytes, note: 'dropped' });
      return;
    }
    if (n.paused) {
      const overflow = n.backlog.length >= BACKLOG_PACKETS_MAX;
      if (!overflow) n.backlog.push({ k: 'packet', from, packet });
      this.trace.add({ k: 'recv', t: this.nowUs, node: to, from, bytes, note: overflow ? 'overflow' : 'queued' });
      return;
    }
    this.receiveNow(n, from, packet);
  }

  private receiveNow(n: SimNode, from: NodeId, packet: Packet): void {
    this.trace.add({ k: 'recv', t: this.nowUs, node: n.id, from, bytes: packet.bytes, note: 'ok' });
    // Every receiver gets the real decoding of the real bytes, decoded once (see Packet).
    if (packet.decoded === undefined) packet.decoded = deepFreeze(this.packr.unpack(packet.bytes));
    const msg = packet.decoded as Parameters<TotemCore['receive']>[1];
    this.step(n, (d, nowMs) => d.receive(from, msg, nowMs));
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
    this.step(n, (d, nowMs) => {
      const result = d.broadcast(payload, nowMs);
      if (result.ok) {
        this.stats.broadcastsOk++;
      } else {
        this.stats.broadcastsRefused++;
        this.trace.add({ k: 'refused', t: this.nowUs, node: n.id, inc: n.incarnation, reason: result.reason });
      }
    });
  }

  /**
   * One turn of a node's loop, per the driver contract in lib/node/driver.ts: feed the input, then
   * take the output and persist it BEFORE sending, then hand over agent operations and events (to
   * the checkers, through the bug filter for reporting bugs). A leader callback settles at once
   * in the simulator, so a leader-stop is answered in a turn of its own right after.
   */
  private step(n: SimNode, input: (driver: NodeDriver, nowMs: number) => void): void {
    const d = n.driver;
    if (d === undefined || this.stopped) return;
    const nowMs = this.localMs(n);
    const life = n.lifeGen;
    let out: NodeOutput;
    try {
      input(d, nowMs);
      out = d.takeOutput();
    } catch (err) {
      if (isSanodeError(err)) throw err; // a refusal for the simulated caller (no quorum, ...)
      this.violate('core-exception', `n${n.id}/${n.incarnation} threw: ${describeError(err)}`);
      return;
    }
    const settled = this.applyOutput(n, out);
    if (this.stopped || n.lifeGen !== life) return;
    for (const epoch of settled) {
      this.step(n, (dd, t) => dd.leaderSettled(epoch, t));
      if (this.stopped || n.lifeGen !== life) return;
    }
    this.scheduleTick(n);
  }

  /** Returns the epochs whose leader callbacks ended (to settle in the next turn). */
  private applyOutput(n: SimNode, out: NodeOutput): number[] {
    const d = n.driver!;
    if (out.persist.ringSeq !== undefined) {
      n.store.ringSeq = out.persist.ringSeq;
      this.trace.add({ k: 'persist', t: this.nowUs, node: n.id, ringSeq: out.persist.ringSeq });
    }
    if (out.persist.lms !== undefined) n.store.lms = out.persist.lms;
    if (out.persist.cib !== undefined) n.store.cib = out.persist.cib;
    for (const s of out.sends) this.send(n, s);
    if (out.trace.length > 0) this.traceOutput(n, out.trace);
    if (this.stopped) return [];
    return this.applyNodeEvents(n, d, out);
  }

  /** Totem-level facts for the checkers, in the order they happened; reporting bugs filter the events. */
  private traceOutput(n: SimNode, trace: NodeOutput['trace']): void {
    let events: TotemEvent[] = [];
    const flushEvents = (): void => {
      if (events.length === 0) return;
      const reported = this.bug === undefined ? events : this.bug.events(n.id, events, this.bugContext());
      events = [];
      for (const ev of reported) {
        if (this.stopped) return;
        this.observeEvent(n, ev);
      }
    };
    for (const item of trace) {
      if (this.stopped) return;
      if (item.k === 'event') {
        events.push(item.event);
        continue;
      }
      flushEvents();
      if (broadcastChannel(item.payload) === 0) this.stats.controls++;
      // The payload, not its description: the line is built only if the record is ever printed or hashed.
      this.trace.add({ k: 'broadcast', t: this.nowUs, node: n.id, inc: n.incarnation, msgId: item.msgId, payload: item.payload });
      this.observe({ type: 'broadcast', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation, msgId: item.msgId, payload: item.payload });
    }
    flushEvents();
  }

  private applyNodeEvents(n: SimNode, d: NodeDriver, out: NodeOutput): number[] {
    const base = { timeUs: this.nowUs, node: n.id, incarnation: n.incarnation };
    const settled: number[] = [];
    for (const e of out.events) {
      if (this.stopped) return [];
      switch (e.type) {
        case 'quorum': {
          const view = d.currentView!;
          const q = e.decision;
          this.note('leader', `n${n.id}/${n.incarnation} ${q.quorate ? 'quorate' : 'NOT quorate'} in ${formatView(view)} (${q.reason}, ${q.totalVotes}/${q.expectedVotes} votes)`);
          this.observe({ type: 'quorum', ...base, view, quorate: q.quorate, reason: q.reason });
          break;
        }
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
          settled.push(e.epoch);
          break;
        case 'cib-outcome': {
          const name = n.writes.get(e.requestId);
          if (name === undefined) break;
          n.writes.delete(e.requestId);
          if (e.ok) {
            this.stats.cibAcks++;
            this.note('leader', `n${n.id}/${n.incarnation} CIB write ${name} acknowledged at ${formatVersion(e.version)}`);
            this.observe({ type: 'cib-ack', ...base, attribute: name });
          }
          break;
        }
        case 'cib':
          this.trace.add({ k: 'fault', t: this.nowUs, text: `n${n.id}/${n.incarnation} CIB ${formatVersion(e.event.version)} ${e.event.cause === 'sync' ? `adopted from n${e.event.from}` : `${describeChange(e.event.change)} from n${e.event.from}`}` });
          break;
        case 'resource':
          this.observe({ type: 'resource-op', ...base, rsc: e.event.rsc, op: e.event.op, intervalMs: e.event.intervalMs, rc: e.event.rc });
          break;
        case 'error':
          this.stats.nodeErrors++;
          this.note('leader', `n${n.id}/${n.incarnation} error ${e.error.code}: ${e.error.message}`);
          if (e.error.code === 'SANODE_SELF_STOP') this.observe({ type: 'self-stop', timeUs: this.nowUs, node: n.id, reason: e.error.message });
          break;
        case 'left':
          // As Cluster.leave(): the ring has been told; the process exits a moment later.
          n.left = true;
          this.queue.push(this.nowUs + this.msToUs(this.faultPrng.range(1, 20)), { type: 'stop', node: n.id, lifeGen: n.lifeGen });
          break;
        default:
          break;
      }
    }
    const term = d.controller.currentTerm;
    // Compared by number: this runs after every turn of every node.
    const epoch = term?.epoch ?? -1;
    const coordinator = term?.coordinator ?? -1;
    if (epoch !== n.lastTermEpoch || coordinator !== n.lastTermCoordinator) {
      n.lastTermEpoch = epoch;
      n.lastTermCoordinator = coordinator;
      if (term !== undefined && !this.stopped) this.observe({ type: 'term', ...base, epoch: term.epoch, coordinator: term.coordinator });
    }
    for (const op of out.operations) this.beginOperation(n, op);
    if (out.tieBreakerFor !== undefined) {
      // The tie-breaker check (a ping of the gateway): non-exclusive, so it may only veto.
      const granted = this.faultPrng.chance(this.lplan.tieBreakerGrantRate);
      const delayMs = this.faultPrng.range(1, this.lplan.tieBreakerDelayMsMax);
      this.queue.push(this.nowUs + this.msToUs(delayMs), { type: 'tiebreak', node: n.id, lifeGen: n.lifeGen, view: out.tieBreakerFor, granted });
    }
    return settled;
  }

  // ---------------------------------------------------------------------------------- resources

  private primitiveOf(rsc: string): PrimitiveConfig | undefined {
    if (this.rplan === undefined) return undefined;
    return listPrimitives(this.rplan.config).find((i) => i.primitive.id === rsc)?.primitive;
  }

  /** An agent operation begins on node n: the world may change at once (a start), the result comes later. */
  private beginOperation(n: SimNode, op: AgentOperation): void {
    const rplan = this.rplan;
    if (rplan === undefined) return;
    this.stats.resourceOps++;
    this.trace.add({ k: 'fault', t: this.nowUs, text: `n${n.id}/${n.incarnation} runs ${op.op} ${op.rsc}${op.intervalMs > 0 ? ` (every ${op.intervalMs}ms)` : ''}` });
    if (op.op === 'start' || op.op === 'promote') this.worldChanged(this.world.startBegins(n.id, op.rsc, this.nowUs, op.primitive));
    const hung = op.op === 'monitor' && this.phase === 'safety' && this.resourcePrng.chance(rplan.hangRate);
    const latencyMs = hung ? op.timeoutMs : this.resourcePrng.range(0.1, rplan.opLatencyMsMax);
    this.queue.push(this.nowUs + this.msToUs(latencyMs), { type: 'op-done', node: n.id, lifeGen: n.lifeGen, op, hung });
  }

  private onOpDone(id: NodeId, lifeGen: number, op: AgentOperation, hung: boolean): void {
    const n = this.node(id);
    if (!n.up || n.lifeGen !== lifeGen || n.driver === undefined || this.rplan === undefined) return;
    const rplan = this.rplan;
    const primitive = op.primitive;
    const safety = this.phase === 'safety';
    let rc = 0;
    let message: string | undefined;
    switch (op.op) {
      case 'start':
      case 'promote':
        if (safety && this.resourcePrng.chance(rplan.failStartRate)) {
          // A failed start may leave something behind: it stays active in the world until stopped.
          rc = 1;
          message = 'simulated start failure';
        } else {
          this.world.renew(id, op.rsc, this.nowUs, primitive);
          this.scheduleLeaseCheck(id, op.rsc, primitive);
          if (safety && primitive.params?.['flaky'] === 'yes') this.queue.push(this.nowUs + this.msToUs(this.resourcePrng.range(1, 20)), { type: 'die', node: id, rsc: op.rsc });
          else if (safety && primitive.agent.type === 'sim-inproc' && this.resourcePrng.chance(rplan.dieRate)) {
            this.queue.push(this.nowUs + this.msToUs(this.resourcePrng.range(1, 10 * this.o.timers.tokenTimeoutMs)), { type: 'die', node: id, rsc: op.rsc });
          }
        }
        break;
      case 'stop':
      case 'demote':
        if (op.op === 'stop') this.worldChanged(this.world.stop(id, op.rsc, 'stopped'));
        break;
      case 'monitor':
      case 'probe':
        if (hung) {
          rc = 1;
          message = 'timed out';
        } else if (primitive.agent.type === 'sim-vip' && this.world.inherited(id, op.rsc)) {
          // Not renewed: only a start of this run renews (a stop removes it).
          rc = 1;
          message = 'present without its lease renewer (left by an earlier run)';
        } else if (this.world.running(id, op.rsc)) {
          this.world.renew(id, op.rsc, this.nowUs, primitive);
          this.scheduleLeaseCheck(id, op.rsc, primitive);
        } else {
          rc = 7;
        }
        break;
    }
    const outcome: AgentOutcome = { rc, message, wallMs: 1_700_000_000_000 + Math.floor(this.nowUs / 1000) };
    if (n.paused) {
      n.backlog.push({ k: 'op', op, outcome });
      return;
    }
    this.step(n, (d, nowMs) => d.operationResult(op.opId, outcome, nowMs));
  }

  private scheduleLeaseCheck(node: NodeId, rsc: string, primitive: PrimitiveConfig): void {
    if (primitive.agent.type !== 'sim-vip') return;
    this.queue.push(this.nowUs + Number(primitive.params?.['leaseMs'] ?? 0) * 1000, { type: 'world-expire' });
    void node;
    void rsc;
  }

  private worldChanged(changes: readonly WorldChange[]): void {
    for (const c of changes) {
      if (this.stopped) return;
      this.trace.add({ k: 'fault', t: this.nowUs, text: `world: ${c.rsc} ${c.active ? 'ACTIVE' : 'inactive'} on n${c.node} (${c.why})` });
      this.observe({ type: 'rsc-active', timeUs: this.nowUs, node: c.node, rsc: c.rsc, active: c.active, why: c.why });
    }
  }

  /** The simulated operator writes a fresh node attribute through a random quorate node. */
  private onCibWrite(): void {
    const endOfWritesUs = this.livenessStartUs + this.boundMs * 1000;
    if (this.nowUs >= endOfWritesUs || this.rplan === undefined) return;
    this.queue.push(this.nowUs + Math.max(1, this.msToUs(this.resourcePrng.exponential(5 * this.o.timers.tokenTimeoutMs))), { type: 'cib-write' });
    const candidates = [...this.nodes.values()].filter((n) => n.up && !n.paused && !n.leaving && n.driver?.controller.decision.quorate === true);
    if (candidates.length === 0) return;
    const n = this.resourcePrng.pick(candidates);
    const name = `w${++this.writeCounter}`;
    const nodeName = this.rplan.names.get(n.id)!;
    this.stats.cibWrites++;
    try {
      this.step(n, (d, nowMs) => {
        const id = d.updateCib({ op: 'set-node-attribute', node: nodeName, name, value: `s${this.o.seed}` }, nowMs);
        n.writes.set(id, name);
      });
    } catch (err) {
      if (!isSanodeError(err)) throw err;
      this.trace.add({ k: 'fault', t: this.nowUs, text: `n${n.id} CIB write ${name} refused: ${err.code}` });
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

  /** The node driver's earliest deadline (local ms). */
  private nodeDeadlineMs(n: SimNode): number | undefined {
    return n.driver?.nextDeadlineMs();
  }

  private scheduleTick(n: SimNode): void {
    if (!n.up || n.driver === undefined) return;
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
    const packet: Packet = { bytes, decoded: undefined };
    this.stormWindowKinds.set(s.msg.kind, (this.stormWindowKinds.get(s.msg.kind) ?? 0) + 1);
    if (s.to !== 'all') {
      this.sendTo(n, s.to, packet);
      return;
    }
    for (const to of this.ids) if (to !== n.id) this.sendTo(n, to, packet);
  }

  private sendTo(n: SimNode, to: NodeId, packet: Packet): void {
    const bytes = packet.bytes;
    const target = this.nodes.get(to);
    if (target === undefined) {
      this.note('fault', `n${n.id} sent to unknown node ${to}; dropped`);
      return;
    }
    this.stats.packetsSent++;
    if (this.bug !== undefined && this.bug.dropsSend(n.id, this.bugContext())) {
      this.stats.packetsLost++;
      this.trace.add({ k: 'net', t: this.nowUs, from: n.id, to, bytes, fate: 'stalled' });
      return;
    }
    const fate = this.network.fate(n.id, to);
    if (!fate.delivered) {
      this.stats.packetsLost++;
      this.trace.add({ k: 'net', t: this.nowUs, from: n.id, to, bytes, fate: fate.reason });
      return;
    }
    const toIncarnation = target.up ? target.incarnation : -1;
    const latencies = fate.latenciesUs;
    for (let i = 0; i < latencies.length; i++) {
      this.trace.add({ k: 'net', t: this.nowUs, from: n.id, to, bytes, fate: i === 0 ? 'sent' : 'duplicated' });
      this.queue.push(this.nowUs + latencies[i]!, { type: 'packet', to, toIncarnation, from: n.id, packet });
    }
  }

  // ---------------------------------------------------------------------------------- faults

  /** Half the time (when resources run somewhere) a node that holds one; undefined otherwise. */
  private pickVictim(p: Prng, candidates: readonly SimNode[]): NodeId | undefined {
    const pickHolder = p.chance(0.5);
    if (!pickHolder || this.rplan === undefined) return undefined;
    const holders = new Set(this.world.active().map((a) => a.node));
    const eligible = candidates.filter((n) => holders.has(n.id));
    return eligible.length === 0 ? undefined : p.pick(eligible).id;
  }

  private nodeOrVictim(p: Prng, candidates: readonly SimNode[]): SimNode {
    const victim = this.pickVictim(p, candidates);
    return victim === undefined ? p.pick(candidates) : this.node(victim);
  }

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
        // A holder cut off on purpose stays cut off until well past the lost-node deadline.
        if (this.nowUs < this.isolationUntilUs) return;
        let isolatedMs = durationMs;
        if (shape === 0 || this.ids.length < 3) {
          // Half the time the node cut off is one that runs resources: the case failover exists for.
          const victim = this.pickVictim(p, this.ids.map((id) => this.node(id)).filter((m) => m.up));
          if (victim !== undefined) {
            isolatedMs = Math.max(durationMs, 16 * T);
            this.isolationUntilUs = this.nowUs + this.msToUs(isolatedMs);
          }
          groups = [[victim ?? shuffled[0]!]];
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
        this.note('fault', `${this.network.describe()} for ${isolatedMs.toFixed(0)}ms`);
        this.observe({ type: 'fault', timeUs: this.nowUs, what: this.network.describe() });
        this.queue.push(this.nowUs + this.msToUs(isolatedMs), { type: 'heal-partition', gen: this.partitionGen });
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
        this.observe({ type: 'fault', timeUs: this.nowUs, what });
        this.queue.push(this.nowUs + this.msToUs(durationMs), { type: 'uncut', links });
        return;
      }
      case 'crash': {
        const candidates = up.filter((n) => !n.leaving);
        if (candidates.length <= 1) return;
        const n = this.nodeOrVictim(p, candidates);
        const graceful = p.chance(0.3);
        if (graceful) {
          this.note('fault', `n${n.id}/${n.incarnation} leaves gracefully`);
          n.leaving = true;
          const disturbed = !this.network.whole || up.some((m) => m.paused);
          this.observe({ type: 'leave', timeUs: this.nowUs, node: n.id, incarnation: n.incarnation, resources: n.driver?.activeResources ?? [], disturbed });
          // As Cluster.leave(): resources move away, the term is released, then the ring is told
          // (the 'left' event); the process stops a moment after that.
          this.step(n, (d, nowMs) => d.leave(nowMs));
        } else if (p.chance(0.1) && up.length > 1) {
          // Power loss: every node at once; only what each persisted survives.
          this.observe({ type: 'fault', timeUs: this.nowUs, what: 'every node crashes' });
          for (const m of up) this.crashNode(m, 'crashes with every other node');
          if (p.chance(0.75)) for (const m of up) this.queue.push(this.nowUs + this.msToUs(durationMs + 25), { type: 'restart', node: m.id, lifeGen: m.lifeGen });
          return;
        } else {
          this.crashNode(n, 'crashes');
        }
        if (p.chance(0.75)) {
          // The stop of a graceful leave bumps lifeGen once more; restart targets that life.
          const lifeGen = graceful ? n.lifeGen + 1 : n.lifeGen;
          this.queue.push(this.nowUs + this.msToUs(durationMs + 25), { type: 'restart', node: n.id, lifeGen });
        }
        if (!graceful) this.observe({ type: 'fault', timeUs: this.nowUs, what: `n${n.id} crashes` });
        return;
      }
      case 'pause': {
        const candidates = up.filter((n) => !n.paused);
        if (candidates.length === 0) return;
        const n = this.nodeOrVictim(p, candidates);
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

/** Freezes every plain object and array reachable from `value`; binary views cannot be frozen and are left as they are. */
function deepFreeze(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    for (const v of value) deepFreeze(v);
  } else {
    for (const k in value) deepFreeze((value as Record<string, unknown>)[k]);
  }
  return Object.freeze(value);
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

function describeChange(change: CibChange | undefined): string {
  if (change === undefined) return '?';
  switch (change.op) {
    case 'record-op':
      return `record ${change.resource} ${change.record.op}${change.record.intervalMs > 0 ? `/${change.record.intervalMs}` : ''} rc ${change.record.rc} on ${change.node}`;
    case 'set-node-state':
      return `${change.node} ${change.state}`;
    case 'set-fail-count':
      return `fail count ${change.resource} on ${change.node} = ${change.failCount}`;
    case 'set-node-attribute':
      return `attribute ${change.name} of ${change.node}`;
    default:
      return change.op;
  }
}
