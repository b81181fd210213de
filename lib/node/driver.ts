/**
 * The node: one sans-IO driver that composes everything a sanode node decides — the totem core,
 * quorum and leadership (NodeController), the CIB replica, and the resource controller with its
 * transition engine (LocalResources) — and the one channel codec between them. The runtime
 * (lib/runtime/cluster.ts) binds it to real time, UDP and the resource agents; the simulator
 * (lib/sim) binds it to simulated ones. Nothing here knows which.
 *
 * Takes, each call one turn with the current monotonic time: protocol packets, timer ticks, the
 * first turn after a stall, application broadcasts and CIB changes, agent operation results,
 * "the leader callbacks of epoch E have settled", tie-breaker answers, and a graceful leave.
 * Emits (takeOutput): what to persist, packets to send, agent operations to run, a tie-breaker
 * check to run, and events (views, quorum, leadership, CIB changes and request outcomes,
 * application messages, resource results, coded errors, the end of a leave).
 * Must never: read a clock, set a timer, open a socket or a file, run an agent, or draw a random
 * number (test/node/purity.test.ts enforces it for every sans-IO core).
 *
 * Driver contract, every turn: call one input, then takeOutput() and, IN THIS ORDER, persist
 * every part of `persist` durably, THEN send `sends`, THEN hand over `operations` and `events`;
 * then arm one timer for nextDeadlineMs(). Persisting first is what keeps ring ids unique across
 * restarts (totem), keeps last man standing's acknowledgements honest (quorum), and lets
 * "updateCib resolved" mean "this node's disk has it" (CIB).
 */
import { emptyCib, type Cib, type PrimitiveConfig } from '../cib/model.js';
import { CibReplica, type CibChange, type CibChangedEvent, type CibMessage, type CibVersion } from '../cib/replica.js';
import { CibError } from '../cib/validate.js';
import { listPrimitives } from '../cib/model.js';
import { SanodeError, type ErrorCode } from '../errors/index.js';
import type { LeaderStopReason } from '../controller/leadership.js';
import {
  LocalResources,
  parseResourceMessage,
  type AgentOperation,
  type AgentOutcome,
  type ProposalTag,
  type ResourceEvent,
  type ResourceMessage,
} from '../controller/local-resources.js';
import { NodeController, parseControlMessage, type ControlMessage } from '../controller/node-controller.js';
import type { FailoverReport } from '../controller/transition.js';
import { holdoverAfterLeaseMs, leaseWindowMs, lostNodeDeadlineMs, unprovenLastProofMs, type LeaseTimers } from '../controller/timing.js';
import type { LmsKnowledge, QuorumDecision } from '../quorum/index.js';
import type { BroadcastResult, Delivery, NodeId, SafeMark, Send, TotemCore, TotemEvent, View, ViewId } from '../totem/types.js';
import { CHANNEL, decodeChannel, encodeChannel, type Channel } from './channels.js';
import { DEFAULT_MAX_LARGE_MESSAGE_BYTES, Defragmenter, fragmentCount, needsFragments, splitPayload } from './fragments.js';

export interface NodeDriverOptions {
  readonly nodeId: NodeId;
  /** The name this node gives itself; `nodeNameExplicit`: the operator chose it (not `node-<id>`). */
  readonly nodeName: string;
  readonly nodeNameExplicit: boolean;
  /** This run's incarnation: request ids of the CIB replica carry it. */
  readonly incarnation: number;
  readonly core: TotemCore;
  /** Quorum + leadership, built by the binding (the simulator may wrap the machines). */
  readonly controller: NodeController;
  /** The CIB this node starts from (its saved copy, or its configured one at 0.0.0). */
  readonly cib: Cib;
  /** The lease timers leadership uses: resources hold the same lease. */
  readonly lease: LeaseTimers;
  readonly resources: {
    /** false: run no agents and coordinate nothing (the node only keeps the CIB). */
    readonly manage: boolean;
    readonly selfStopMs: number;
    /**
     * The agent's holdover bound for one configured primitive (ResourceAgent.holdoverMs): how
     * long after its node's lease ended it may still be active by itself; undefined when only its
     * node's stop ends it (timing.ts holdoverAfterLeaseMs).
     */
    readonly holdoverMs: (primitive: PrimitiveConfig) => number | undefined;
    readonly moveAwayMs?: number;
    readonly backoffBaseMs?: number;
    readonly backoffMaxMs?: number;
  };
  /** Wall-clock minus monotonic ms: failure records carry wall-clock stamps other nodes compare. */
  readonly wallClockOffsetMs: number;
  /** The core's send queue bound (TotemConfig.maxSendQueue): a large message's fragments go in whole or not at all. */
  readonly maxSendQueue: number;
  /** The largest payload sent as fragments under the ring's order (default 64 MiB; lib/node/fragments.ts). */
  readonly maxLargeMessageBytes?: number;
  readonly nowMs: number;
  /** Record every totem-level broadcast and event for the simulator's checkers (TakeOutput.trace). */
  readonly trace?: boolean;
  /** Simulator only: core bugs the checkers must catch (lib/sim/bugs.ts). */
  readonly injectedBugs?: ReadonlySet<string>;
  /**
   * Simulator only: run membership, quorum and leadership alone — no CIB exchange, no resources —
   * for the toy cores of the simulator's own tests, which order only what they are given.
   */
  readonly protocolOnly?: boolean;
}

export type NodeEvent =
  | { readonly type: 'view'; readonly view: View; readonly transitional: readonly NodeId[] | undefined }
  | { readonly type: 'quorum'; readonly viewId: ViewId; readonly decision: QuorumDecision }
  | { readonly type: 'coordinator'; readonly node: NodeId | undefined; readonly viewId: ViewId }
  | { readonly type: 'leader-start'; readonly epoch: number }
  /** Abort the leader callbacks of `epoch`; call leaderSettled(epoch) once they have settled. */
  | { readonly type: 'leader-stop'; readonly epoch: number; readonly reason: LeaderStopReason }
  | { readonly type: 'message'; readonly from: NodeId; readonly data: unknown }
  | { readonly type: 'cib'; readonly event: CibChangedEvent }
  | { readonly type: 'cib-outcome'; readonly requestId: string; readonly ok: true; readonly version: CibVersion }
  | { readonly type: 'cib-outcome'; readonly requestId: string; readonly ok: false; readonly error: SanodeError }
  | { readonly type: 'cib-synced' }
  | { readonly type: 'resource'; readonly event: ResourceEvent }
  | { readonly type: 'failover'; readonly report: FailoverReport }
  | { readonly type: 'error'; readonly error: SanodeError }
  /** The graceful leave is complete: the ring has been told; close the transport after a moment. */
  | { readonly type: 'left' };

export type TraceItem =
  | { readonly k: 'broadcast'; readonly msgId: number; readonly payload: Uint8Array }
  | { readonly k: 'event'; readonly event: TotemEvent };

export interface NodeOutput {
  /** Store each that is set durably BEFORE sending anything. */
  readonly persist: { readonly ringSeq?: number; readonly lms?: LmsKnowledge; readonly cib?: Cib };
  readonly sends: readonly Send[];
  readonly operations: readonly AgentOperation[];
  readonly events: readonly NodeEvent[];
  /** Run the tie-breaker check for this view and answer with tieBreakerResult(). */
  readonly tieBreakerFor: View | undefined;
  /** With options.trace: every totem-level broadcast and event of the turn, in order. */
  readonly trace: readonly TraceItem[];
}

/** Settling a turn takes a handful of rounds; this many means two machines feed each other forever. */
const SETTLE_ROUNDS_MAX = 200;
/** sanode's own messages that may wait for room in a full send queue (each a few hundred bytes). */
const OUTBOX_MAX = 100_000;
/** A leaving leader waits this long for its own release to be delivered before leaving the ring. */
const RELEASE_WAIT_MS = 1000;

type Request = { readonly owner: 'api' } | { readonly owner: 'resources'; readonly tag: ProposalTag };

export class NodeDriver {
  readonly nodeId: NodeId;
  private readonly o: NodeDriverOptions;
  private readonly core: TotemCore;
  private readonly ctl: NodeController;
  private readonly replica: CibReplica;
  private readonly res: LocalResources;
  private readonly bugs: ReadonlySet<string>;
  private view: View | undefined;
  /**
   * This node's last token (or install: its first token) of the current ring. Every renewal a
   * member of this ring made is older (timing.ts lostNodeDeadlineMs), so when a member is lost
   * this dates its last possible renewal.
   */
  private ringProofMs: number | undefined;
  /** For each node that shared a ring with this one: ringProofMs when that ring ended. */
  private readonly lastRingProofMs = new Map<NodeId, number>();
  private nowMs: number;
  /** The name the CIB gives this node's id (the one resources are recorded under). */
  private cibName: string | undefined;
  private readonly reported = new Set<string>();
  private renameProposed = false;
  private readonly requests = new Map<string, Request>();
  /** What each request proposed, so a change the view change overtook can be proposed again. */
  private readonly proposedChanges = new Map<string, { change: CibChange; force: boolean }>();
  /** Replica request id → the id given to an API caller whose change waited for the state exchange. */
  private readonly aliases = new Map<string, string>();
  /** CIB changes asked for while the state exchange runs: proposed once it has finished. */
  private waitingForSync: { change: CibChange; request: Request; force: boolean; id: string }[] = [];
  private nextLocalId = 1;
  private readonly releasesPending = new Set<number>();
  private readonly settledEpochs = new Set<number>();
  private leaving: { phase: 'resources' | 'release' | 'done'; releaseSinceMs?: number; releaseSentMs?: number; releaseEpoch?: number; releaseDelivered?: boolean } | undefined;
  /** Where the latest message this node sent was delivered (a leaver waits until it is safe). */
  private ownLatest: SafeMark | undefined;
  private closed = false;
  private readonly outbox: Uint8Array[] = [];
  private readonly defragmenter: Defragmenter;
  private nextLargeKey = 0;
  /** What the resource controller was last told about the replica being the group's copy. */
  private lastSynced = false;
  /** Inside onView: quorum for the new view is not decided yet. */
  private installing = false;
  /**
   * API writes applied here but not yet held by every member of the ring that delivered them
   * (agreed delivery can reach this node alone, just before it is cut off; see docs/cib.md).
   */
  private unsafeAcks: { at: SafeMark; event: NodeEvent }[] = [];
  /**
   * A start's pending record applied here but not yet safe: the start waits until every member
   * has it, so the coordinator has it too before it can plan that resource elsewhere (simulator
   * seed 50055: a node resumed from a freeze delivered its own pending record at once, in a ring
   * the others had already left, and started what the coordinator then started on itself).
   * Released when safe, or at the next view, where LocalResources abandons the start.
   */
  private unsafePending: { at: SafeMark; tag: ProposalTag }[] = [];
  /** The newest safe mark of the current ring. */
  private safe: SafeMark | undefined;
  /**
   * Writes whose ring ended before they were safe, judged by the view that followed it: known to
   * last only if that view is quorate and all its members come straight from that ring (they
   * delivered what this node delivered there, and a quorate partition is the only one that writes).
   */
  private inDoubt: { from: ViewId; lasting: boolean; view: View; transitional: readonly NodeId[] | undefined; acks: NodeEvent[] } | undefined;

  private persistRingSeq: number | undefined;
  private persistLms: LmsKnowledge | undefined;
  private persistCib: Cib | undefined;
  private sends: Send[] = [];
  private operations: AgentOperation[] = [];
  private events: NodeEvent[] = [];
  private trace: TraceItem[] = [];
  private tieBreakerFor: View | undefined;

  constructor(options: NodeDriverOptions) {
    this.o = options;
    this.nodeId = options.nodeId;
    this.core = options.core;
    this.ctl = options.controller;
    this.nowMs = options.nowMs;
    this.bugs = options.injectedBugs ?? new Set();
    this.replica = new CibReplica({ nodeId: options.nodeId, session: options.incarnation, initial: options.cib });
    this.defragmenter = new Defragmenter(options.maxLargeMessageBytes ?? DEFAULT_MAX_LARGE_MESSAGE_BYTES);
    const selfStopMs = options.resources.selfStopMs;
    this.res = new LocalResources({
      manage: options.resources.manage,
      selfStopMs,
      leaseWindowMs: leaseWindowMs(options.lease),
      lostNodeDeadlineMs: (cib) => lostNodeDeadlineMs(options.lease, longestHoldoverMs(cib, options.lease, selfStopMs, options.resources.holdoverMs)),
      unprovenMarginMs: unprovenLastProofMs(options.lease, 0),
      moveAwayMs: options.resources.moveAwayMs ?? 10_000,
      backoffBaseMs: options.resources.backoffBaseMs ?? 500,
      backoffMaxMs: options.resources.backoffMaxMs ?? 60_000,
      wallClockOffsetMs: options.wallClockOffsetMs,
      nowMs: options.nowMs,
      injectedBugs: this.bugs,
    });
    this.turn(options.nowMs, () => {
      this.res.onCib(this.replica.current, false, options.nowMs);
      this.noteCib();
    });
  }

  // ---------------------------------------------------------------------------------- reading

  get currentView(): View | undefined {
    return this.view;
  }

  get controller(): NodeController {
    return this.ctl;
  }

  get cib(): { readonly cib: Cib; readonly version: CibVersion; readonly synced: boolean } {
    return { cib: this.replica.current, version: this.replica.version, synced: this.replica.synced };
  }

  /** The CIB's name for this node, or undefined while the CIB does not list it. */
  get name(): string | undefined {
    return this.cibName;
  }

  get activeResources(): string[] {
    return this.res.activeHere;
  }

  /** This run has probed its resources and been recorded online since it last gained quorum. */
  get hasProbed(): boolean {
    return this.res.hasProbed;
  }

  /** Until when (this driver's ms) this node's resources may act: LocalResources.leaseUntilMs. */
  get resourceLeaseUntilMs(): number {
    return this.closed ? -Infinity : this.res.leaseUntilMs;
  }

  get totem(): TotemCore {
    return this.core;
  }

  /** The name the CIB gives member `id` (falls back to `node-<id>`). */
  nameOf(id: NodeId): string {
    return this.replica.current.config.nodes.find((n) => n.id === String(id))?.name ?? `node-${id}`;
  }

  /** The member id the CIB gives node `name` (the inverse of nameOf). */
  private idOf(name: string): NodeId | undefined {
    const configured = this.replica.current.config.nodes.find((n) => n.name === name);
    if (configured !== undefined) return Number(configured.id) as NodeId;
    const placeholder = /^node-(\d+)$/.exec(name);
    return placeholder === null ? undefined : (Number(placeholder[1]) as NodeId);
  }

  // ---------------------------------------------------------------------------------- inputs

  receive(from: NodeId, msg: Parameters<TotemCore['receive']>[1], nowMs: number): void {
    this.turn(nowMs, () => this.core.receive(from, msg, nowMs));
  }

  tick(nowMs: number): void {
    this.turn(nowMs, () => {
      this.core.tick(nowMs);
      this.ctl.tick(nowMs);
      this.res.tick(nowMs);
      this.checkLeave(nowMs);
    });
  }

  /**
   * The first turn after this process was stalled: leases are judged before anything else is
   * processed, because the others may already have taken over.
   */
  stalled(nowMs: number): void {
    this.turn(nowMs, () => {
      this.ctl.tick(nowMs);
      this.res.tick(nowMs);
    });
  }

  /** Ordered broadcast on the application channel. */
  broadcast(data: unknown, nowMs: number): BroadcastResult {
    let result: BroadcastResult = { ok: false, reason: 'left' };
    this.turn(nowMs, () => {
      result = this.closed ? { ok: false, reason: 'left' } : this.send(CHANNEL.app, data);
    });
    return result;
  }

  /**
   * Proposes a CIB change; its outcome comes as a 'cib-outcome' event with the returned id.
   * Throws a CibError at once when the change is invalid against this copy (nothing is sent),
   * SANODE_NO_QUORUM in a partition without quorum (unless forced), SANODE_NOT_JOINED after leave.
   * While a state exchange runs the change waits for it, to be judged against the group's copy.
   */
  updateCib(change: CibChange, nowMs: number, options: { force?: boolean } = {}): string {
    if (this.closed || this.leaving?.phase === 'done') throw new SanodeError('SANODE_NOT_JOINED', 'this node has left the cluster; join again to change the CIB');
    const force = options.force === true;
    if (!this.ctl.decision.quorate && !force) {
      throw new SanodeError('SANODE_NO_QUORUM', `this partition is not quorate (${this.ctl.decision.reason}); CIB changes need quorum, or { force: true }`);
    }
    let id = '';
    this.turn(nowMs, () => {
      id = this.propose(change, { owner: 'api' }, force, true);
    });
    return id;
  }

  /** A resource-channel message from the API (cleanup's reprobe). */
  sendResourceMessage(message: ResourceMessage, nowMs: number): BroadcastResult {
    let result: BroadcastResult = { ok: false, reason: 'left' };
    this.turn(nowMs, () => {
      if (!this.closed) result = this.send(CHANNEL.resources, message);
    });
    return result;
  }

  operationResult(opId: number, outcome: AgentOutcome, nowMs: number): void {
    this.turn(nowMs, () => this.res.onOperationResult(opId, outcome, nowMs));
  }

  /** The leader callbacks of `epoch` have settled: its release may now be broadcast. */
  leaderSettled(epoch: number, nowMs: number): void {
    this.turn(nowMs, () => {
      this.settledEpochs.add(epoch);
      this.flushReleases(nowMs);
    });
  }

  tieBreakerResult(view: View, granted: boolean, nowMs: number): void {
    this.turn(nowMs, () => {
      if (this.view === view) this.sendControl({ t: 'tiebreak', seq: view.id.seq, rep: view.id.rep, granted });
    });
  }

  /**
   * Graceful leave: resources move away while this node is still a member (a run-time standby),
   * then leadership is released in agreed order, then the ring is told. 'left' says when done.
   */
  leave(nowMs: number): void {
    if (this.leaving !== undefined || this.closed) return;
    this.turn(nowMs, () => {
      this.leaving = { phase: 'resources' };
      this.res.requestLeave(nowMs);
    });
  }

  /** The binding is gone (process exit, crash in the simulator): nothing more comes out. */
  close(): void {
    this.closed = true;
  }

  nextDeadlineMs(): number | undefined {
    if (this.closed) return undefined;
    return earliest(earliest(earliest(this.core.nextDeadlineMs(), this.ctl.nextDeadlineMs()), this.res.nextDeadlineMs()), this.releaseDeadlineMs());
  }

  takeOutput(): NodeOutput {
    const persist: { ringSeq?: number; lms?: LmsKnowledge; cib?: Cib } = {};
    if (this.persistRingSeq !== undefined) persist.ringSeq = this.persistRingSeq;
    if (this.persistLms !== undefined) persist.lms = this.persistLms;
    if (this.persistCib !== undefined) persist.cib = this.persistCib;
    const out: NodeOutput = { persist, sends: this.sends, operations: this.operations, events: this.events, tieBreakerFor: this.tieBreakerFor, trace: this.trace };
    this.persistRingSeq = undefined;
    this.persistLms = undefined;
    this.persistCib = undefined;
    this.sends = [];
    this.operations = [];
    this.events = [];
    this.trace = [];
    this.tieBreakerFor = undefined;
    return out;
  }

  // ---------------------------------------------------------------------------------- one turn

  /** Runs an input, then lets the machines answer each other until none has anything left. */
  private turn(nowMs: number, input: () => void): void {
    if (this.closed) return;
    this.nowMs = Math.max(this.nowMs, nowMs);
    input();
    for (let round = 0; ; round++) {
      if (round >= SETTLE_ROUNDS_MAX) throw new Error(`node ${this.nodeId}: the machines kept feeding each other for ${SETTLE_ROUNDS_MAX} rounds in one turn`);
      if (!this.flushOutbox() && !this.drainCore() && !this.drainController() && !this.drainReplica() && !this.drainResources()) break;
    }
  }

  private drainCore(): boolean {
    const out = this.core.takeOutput();
    let any = false;
    if (out.persist !== undefined) {
      this.persistRingSeq = out.persist.ringSeq;
      any = true;
    }
    for (const s of out.sends) this.sends.push(s);
    const now = this.nowMs;
    for (const event of out.events) {
      any = true;
      if (this.o.trace === true) this.trace.push({ k: 'event', event });
      if (event.type === 'view') {
        this.defragmenter.onView(event.view.members);
        this.onView(event.view, event.transitional, now);
      } else {
        // A large message is handed on at the place in the order of its last fragment.
        const d = event.delivery;
        if (d.sender === this.nodeId && d.seq !== undefined) this.ownLatest = { viewId: d.viewId, seq: d.seq };
        const payload = this.defragmenter.accept(d.sender, d.payload, d.senderIncarnation);
        if (payload !== undefined) this.onDelivery(payload === d.payload ? d : { ...d, payload }, now);
      }
    }
    if (out.safe !== undefined) {
      this.safe = out.safe;
      if (this.releaseSafeAcks()) any = true;
      if (this.releaseSafePending(false)) any = true;
      if (this.leaving?.phase === 'release') this.checkLeave(now);
    }
    if (out.tokenAcceptedMs !== undefined) {
      any = true;
      this.ringProofMs = now;
      this.ctl.onToken(out.tokenAcceptedMs, now);
      this.res.onToken(out.tokenAcceptedMs, now);
    }
    return any;
  }

  private onView(view: View, transitional: readonly NodeId[] | undefined, nowMs: number): void {
    if (this.view !== undefined && this.ringProofMs !== undefined) {
      for (const member of this.view.members) this.lastRingProofMs.set(member, Math.max(this.lastRingProofMs.get(member) ?? -Infinity, this.ringProofMs));
    }
    // Installing is handling the new ring's first token here (the representative starts it as it
    // installs; the others install when it reaches them).
    this.ringProofMs = nowMs;
    this.judgeInDoubt(false);
    if (this.view !== undefined) {
      // Every member of the old ring came straight from it (a merge: nobody was lost): they all
      // delivered what this node delivered there, which is what the safe mark would have said.
      const lasting = this.view.members.every((m) => transitional?.includes(m) === true);
      this.inDoubt = { from: this.view.id, lasting, view, transitional, acks: [] };
      for (const a of this.unsafeAcks) this.ackInDoubt(a.event);
      this.unsafeAcks = [];
    }
    this.view = view;
    this.events.push({ type: 'view', view, transitional });
    // The replica first: until its exchange finishes, resources must not trust this copy. Changes
    // waiting for the exchange wait until quorum has been decided for the new view too.
    this.installing = true;
    if (this.o.protocolOnly !== true) this.replica.onView(view);
    this.drainReplica();
    this.ctl.onView(view, nowMs, transitional);
    this.drainController();
    const alone = view.members.length === 1 && view.members[0] === this.nodeId;
    this.res.onView(view.members.map((id) => this.nameOf(id)), alone, nowMs, view.id, (name) => {
      const id = this.idOf(name);
      return id === undefined ? undefined : this.lastRingProofMs.get(id);
    });
    // After the view: a pending record that never became safe in its ring is answered now, in the
    // new view, so the start it stood for is abandoned (local-resources.ts, onPendingRecorded).
    this.releaseSafePending(true);
    this.installing = false;
  }

  private onDelivery(delivery: Delivery, nowMs: number): void {
    const decoded = decodeChannel(delivery.payload);
    if (decoded === undefined) return; // bytes no version of sanode sends; nothing to act on
    switch (decoded.channel) {
      case CHANNEL.app:
        this.events.push({ type: 'message', from: delivery.sender, data: decoded.body });
        return;
      case CHANNEL.control: {
        const message = parseControlMessage(decoded.body);
        if (message === undefined) return; // a member running another version
        this.ctl.onControl(delivery.sender, message, nowMs);
        if (message.t === 'release' && delivery.sender === this.nodeId && this.leaving?.releaseEpoch === message.epoch) {
          this.leaving.releaseDelivered = true;
          this.checkLeave(nowMs);
        }
        return;
      }
      case CHANNEL.cib:
        this.replica.onDeliver(delivery.sender, decoded.body, delivery.seq === undefined ? undefined : { viewId: delivery.viewId, seq: delivery.seq });
        return;
      case CHANNEL.resources: {
        const message = parseResourceMessage(decoded.body);
        if (message !== undefined) this.res.onMessage(message, delivery.sender, nowMs);
        return;
      }
      default:
        return;
    }
  }

  private drainController(): boolean {
    const out = this.ctl.takeOutput();
    let any = false;
    const now = this.nowMs;
    if (out.persist !== undefined) {
      // On disk before any note saying we stored it goes out (they follow in this output).
      this.persistLms = out.persist;
      any = true;
    }
    for (const event of out.events) {
      any = true;
      switch (event.type) {
        case 'quorum':
          this.events.push({ type: 'quorum', viewId: event.viewId, decision: event.decision });
          if (this.inDoubt !== undefined && sameView(this.inDoubt.view.id, event.viewId)) {
            const { view, transitional, lasting } = this.inDoubt;
            this.judgeInDoubt(lasting || (event.decision.quorate && view.members.every((m) => transitional?.includes(m) === true)));
          }
          // The next commit tells every member that this node comes from this primary component.
          if (event.decision.quorate) this.core.notePrimary?.(event.viewId.seq);
          this.res.onQuorum(event.decision.quorate, now);
          break;
        case 'coordinator':
          this.events.push({ type: 'coordinator', node: event.node, viewId: event.viewId });
          break;
        case 'leader-start':
          this.events.push({ type: 'leader-start', epoch: event.epoch });
          this.res.onCoordinator(event.epoch, now);
          break;
        case 'leader-stop':
          this.events.push({ type: 'leader-stop', epoch: event.epoch, reason: event.reason });
          this.res.onCoordinator(undefined, now);
          break;
      }
    }
    for (const control of out.controls) {
      any = true;
      this.sendControl(control);
    }
    for (const release of out.releases) {
      any = true;
      this.releasesPending.add(release.epoch);
    }
    if (out.releases.length > 0) this.flushReleases(now);
    if (out.tieBreakerFor !== undefined) {
      any = true;
      this.tieBreakerFor = out.tieBreakerFor;
    }
    this.res.onTerm(this.ctl.currentTerm?.coordinator, now);
    return any;
  }

  private drainReplica(): boolean {
    const out = this.replica.takeOutput();
    let any = !this.installing && this.replica.synced && this.waitingForSync.length > 0;
    if (out.persist !== undefined) {
      // Bug 'skip-cib-persist' (simulator): changes are reported applied but never stored.
      if (!this.bugs.has('skip-cib-persist')) this.persistCib = out.persist;
      any = true;
    }
    for (const message of out.sends) {
      any = true;
      const result = this.send(CHANNEL.cib, message);
      // A lost announcement stalls this view's exchange until the next view; say so.
      if (!result.ok && message.t !== 'change') this.error('SANODE_SEND_QUEUE_FULL', `could not send the CIB ${message.t} message: ${result.reason}`);
    }
    for (const event of out.changed) {
      any = true;
      this.events.push({ type: 'cib', event });
    }
    for (const outcome of out.outcomes) {
      any = true;
      const request = this.requests.get(outcome.requestId);
      this.requests.delete(outcome.requestId);
      if (request === undefined) continue;
      // A start's pending record must land in the view its order came in, and a coordinator's
      // decision holds only in the view it was made in; in a later view either is void
      // (local-resources.ts), so neither is proposed again: the next plan decides.
      const viewBound = request.owner === 'resources' && (request.tag.k === 'pending' || request.tag.k === 'decision');
      const retryable = !viewBound;
      if (!outcome.ok && outcome.retry === true && retryable) {
        // Not judged: the view changed first. Proposed again, against this view's copy, if this
        // view is quorate (the request keeps the id its caller was given).
        const original = this.proposedChanges.get(outcome.requestId);
        this.proposedChanges.delete(outcome.requestId);
        const alias = this.aliases.get(outcome.requestId) ?? outcome.requestId;
        this.aliases.delete(outcome.requestId);
        if (original !== undefined) {
          this.waitingForSync.push({ change: original.change, request, force: original.force, id: alias });
          continue;
        }
      }
      this.proposedChanges.delete(outcome.requestId);
      if (request.owner === 'api') {
        const requestId = this.aliases.get(outcome.requestId) ?? outcome.requestId;
        this.aliases.delete(outcome.requestId);
        if (outcome.ok) this.ackWhenSafe(outcome.at, { type: 'cib-outcome', requestId, ok: true, version: outcome.version });
        else this.events.push({ type: 'cib-outcome', requestId, ok: false, error: outcome.error });
      } else {
        // A decision cut off by a view change is not a failure: the engine decides again.
        const superseded = !outcome.ok && outcome.retry === true && request.tag.k === 'decision';
        if (!outcome.ok && !superseded) this.error('SANODE_CIB_WRITE_FAILED', `recording on ${this.cibName ?? this.o.nodeName} failed: ${outcome.error.message}`);
        if (outcome.ok && request.tag.k === 'pending' && outcome.at !== undefined && !this.isSafe(outcome.at) && this.view !== undefined && sameView(this.view.id, outcome.at.viewId)) {
          this.unsafePending.push({ at: outcome.at, tag: request.tag });
        } else {
          this.res.onProposal(request.tag, outcome.ok, this.nowMs);
        }
      }
    }
    if (any || this.replica.synced) {
      if (this.replica.synced && this.waitingForSync.length > 0 && !this.installing) {
        const waiting = this.waitingForSync;
        this.waitingForSync = [];
        for (const w of waiting) {
          // Quorum is judged when the change is really proposed: the view may have changed while it waited.
          if (!w.force && !this.ctl.decision.quorate) {
            this.failRequest(w.request, w.id, new SanodeError('SANODE_NO_QUORUM', `this partition is not quorate (${this.ctl.decision.reason}); CIB changes need quorum, or { force: true }`));
          } else if (this.decidedInAnotherView(w.request)) {
            // Waited for the exchange across a view change (simulator seed 98528): void here.
            this.res.onProposal((w.request as Extract<Request, { owner: 'resources' }>).tag, false, this.nowMs);
          } else {
            this.proposeNow(w.change, w.request, w.id, false, w.force);
          }
        }
        any = true;
      }
      if (out.changed.length > 0) this.noteCib();
      const synced = this.replica.synced;
      if (out.changed.length > 0 || synced !== this.lastSynced) {
        this.lastSynced = synced;
        this.res.onCib(this.replica.current, synced, this.nowMs);
        this.maybeRename();
      }
    }
    return any;
  }

  private drainResources(): boolean {
    const out = this.res.takeOutput();
    let any = false;
    for (const operation of out.operations) {
      any = true;
      this.operations.push(operation);
    }
    for (const proposal of out.proposals) {
      any = true;
      this.propose(proposal.change, { owner: 'resources', tag: proposal.tag }, false, false);
    }
    for (const message of out.sends) {
      any = true;
      const result = this.send(CHANNEL.resources, message);
      if (!result.ok) this.error('SANODE_SEND_QUEUE_FULL', `could not send the resource ${message.t} message: ${result.reason}`);
    }
    for (const event of out.events) {
      any = true;
      if (event.type === 'resource') this.events.push({ type: 'resource', event: event.event });
      else if (event.type === 'error') this.events.push({ type: 'error', error: event.error });
      else if (event.type === 'failover') this.events.push({ type: 'failover', report: event.report });
      else this.onResourcesLeft();
    }
    return any;
  }

  // ---------------------------------------------------------------------------------- CIB

  /**
   * Proposes now if the copy is the group's, else once the exchange has finished. Returns the
   * request id the outcome will carry. `throwInvalid`: an API call wants a CibError thrown.
   */
  private propose(change: CibChange, request: Request, force: boolean, throwInvalid: boolean): string {
    if (!this.ctl.decision.quorate && !force) {
      if (throwInvalid) throw new SanodeError('SANODE_NO_QUORUM', `this partition is not quorate (${this.ctl.decision.reason}); CIB changes need quorum, or { force: true }`);
      this.failRequest(request, `local:${this.nextLocalId++}`, new SanodeError('SANODE_NO_QUORUM', 'not quorate'));
      return '';
    }
    if (this.decidedInAnotherView(request)) {
      this.res.onProposal((request as Extract<Request, { owner: 'resources' }>).tag, false, this.nowMs);
      return '';
    }
    if (!this.replica.synced) {
      const id = `local:${this.nodeId}:${this.nextLocalId++}`;
      this.waitingForSync.push({ change, request, force, id });
      return id;
    }
    return this.proposeNow(change, request, undefined, throwInvalid, force);
  }

  /** `aliasId`: the id a waiting request was given; its outcome is reported under it. */
  private proposeNow(change: CibChange, request: Request, aliasId: string | undefined, throwInvalid = false, force = false): string {
    let requestId: string;
    let message: CibMessage;
    try {
      ({ requestId, message } = this.replica.propose(change));
    } catch (error) {
      if (throwInvalid) throw error;
      this.failRequest(request, aliasId ?? `local:${this.nextLocalId++}`, error instanceof SanodeError ? error : new CibError(undefined, 'change', String(error)));
      return aliasId ?? '';
    }
    const result = this.send(CHANNEL.cib, message);
    if (!result.ok) {
      this.replica.forget(requestId);
      const error =
        result.reason === 'left'
          ? new SanodeError('SANODE_NOT_JOINED', 'this node has left the cluster; join again to change the CIB')
          : result.reason === 'too-large'
            ? new SanodeError('SANODE_MESSAGE_TOO_LARGE', `CIB change refused: it is over the largest message this node sends (${result.maxPayloadBytes} bytes once encoded); nothing was queued; make it in smaller changes`, { field: 'maxLargeMessageBytes' })
            : new SanodeError('SANODE_SEND_QUEUE_FULL', 'the ordered send queue is full: the group is slower than this sender; wait and retry the CIB change');
      if (throwInvalid) throw error;
      this.failRequest(request, aliasId ?? requestId, error);
      return aliasId ?? requestId;
    }
    if (aliasId !== undefined) this.aliases.set(requestId, aliasId);
    this.requests.set(requestId, request);
    this.proposedChanges.set(requestId, { change, force });
    return requestId;
  }

  /** Acknowledges an applied API write once it is safe (see unsafeAcks), or says it may be lost. */
  private ackWhenSafe(at: SafeMark | undefined, event: NodeEvent): void {
    if (at === undefined || (this.safe !== undefined && sameView(this.safe.viewId, at.viewId) && at.seq <= this.safe.seq)) {
      this.events.push(event);
    } else if (this.view !== undefined && sameView(this.view.id, at.viewId)) {
      this.unsafeAcks.push({ at, event });
    } else if (this.inDoubt !== undefined && sameView(this.inDoubt.from, at.viewId)) {
      // Delivered by the old ring's recovery, as the new view was being installed.
      this.ackInDoubt(event);
    } else {
      this.events.push(outcomeUnknown(event));
    }
  }

  private isSafe(at: SafeMark): boolean {
    return this.safe !== undefined && sameView(this.safe.viewId, at.viewId) && at.seq <= this.safe.seq;
  }

  /** Hands LocalResources the pending records that are safe now (all of them at a view change). */
  private releaseSafePending(all: boolean): boolean {
    if (this.unsafePending.length === 0) return false;
    const ready = all ? this.unsafePending : this.unsafePending.filter((p) => this.isSafe(p.at));
    if (ready.length === 0) return false;
    this.unsafePending = all ? [] : this.unsafePending.filter((p) => !this.isSafe(p.at));
    for (const p of ready) this.res.onProposal(p.tag, true, this.nowMs);
    return true;
  }

  private releaseSafeAcks(): boolean {
    const safe = this.safe;
    if (safe === undefined || this.unsafeAcks.length === 0) return false;
    const still: { at: SafeMark; event: NodeEvent }[] = [];
    for (const a of this.unsafeAcks) {
      if (sameView(a.at.viewId, safe.viewId) && a.at.seq <= safe.seq) this.events.push(a.event);
      else still.push(a);
    }
    const released = still.length < this.unsafeAcks.length;
    this.unsafeAcks = still;
    return released;
  }

  private ackInDoubt(event: NodeEvent): void {
    if (this.inDoubt?.lasting === true) this.events.push(event);
    else this.inDoubt?.acks.push(event);
  }

  private judgeInDoubt(lasting: boolean): void {
    const doubt = this.inDoubt;
    if (doubt === undefined) return;
    this.inDoubt = undefined;
    for (const event of doubt.acks) this.events.push(lasting ? event : outcomeUnknown(event));
  }

  /** A coordinator's decision made in a view other than the one installed now. */
  private decidedInAnotherView(request: Request): boolean {
    if (request.owner !== 'resources' || request.tag.k !== 'decision') return false;
    const decidedIn = request.tag.view;
    if (decidedIn === undefined) return false;
    return this.view === undefined || this.view.id.seq !== decidedIn.seq || this.view.id.rep !== decidedIn.rep;
  }

  private failRequest(request: Request, id: string, error: SanodeError): void {
    if (request.owner === 'api') this.events.push({ type: 'cib-outcome', requestId: id, ok: false, error });
    else this.res.onProposal(request.tag, false, this.nowMs);
  }

  /** Which name the CIB gives this node, and whether that is the name it was configured with. */
  private noteCib(): void {
    const entry = this.replica.current.config.nodes.find((n) => n.id === String(this.nodeId));
    const name = entry?.name;
    if (name === undefined) {
      this.once('not-in-cib', 'SANODE_NODE_NOT_IN_CIB', `the CIB lists no node with id ${this.nodeId} (nodes: ${this.replica.current.config.nodes.map((n) => `${n.id}=${n.name}`).join(', ') || 'none'}); this node keeps the CIB but runs no resources until it is added`);
    } else if (this.o.nodeNameExplicit && name !== this.o.nodeName && name !== placeholderName(this.nodeId)) {
      this.once(`name:${name}`, 'SANODE_NODE_NAME_MISMATCH', `node ${this.nodeId} is configured as "${this.o.nodeName}" but the CIB names it "${name}"; resources are recorded under "${name}" (rename it in the CIB, or drop node.name)`);
    }
    if (name !== this.cibName) {
      this.cibName = name;
      this.res.setNodeName(name, this.nowMs);
    }
  }

  /** A CIB entry that still has the placeholder name takes the name this node was configured with. */
  private maybeRename(): void {
    const name = this.cibName;
    if (!this.o.nodeNameExplicit || this.renameProposed || name !== placeholderName(this.nodeId) || name === this.o.nodeName) return;
    if (!this.replica.synced || !this.ctl.decision.quorate) return;
    if (this.replica.current.config.nodes.some((n) => n.name === this.o.nodeName)) return;
    this.renameProposed = true;
    this.propose({ op: 'set-node-name', id: String(this.nodeId), name: this.o.nodeName }, { owner: 'resources', tag: { k: 'note' } }, false, false);
  }

  // ---------------------------------------------------------------------------------- leave

  private onResourcesLeft(): void {
    if (this.leaving?.phase !== 'resources') return;
    this.leaving.phase = 'release';
    this.leaving.releaseSinceMs = this.nowMs;
    // A leader's release comes out of this (and goes out once its callbacks have settled).
    this.ctl.leave();
    this.drainController();
    this.checkLeave(this.nowMs);
  }

  /**
   * Leaves the ring once the release (if this node led) has been delivered here and everything
   * this node sent is safe — so the others have its last stop records and its release, and need
   * not wait out its lost-node deadline or its lease — or RELEASE_WAIT_MS after either began.
   * Delivered here is not enough: agreed order delivers a node's own message before anyone else
   * has it (simulator seed 11013: the leaver's stop record never reached the others).
   */
  private checkLeave(nowMs: number): void {
    const l = this.leaving;
    if (l === undefined || l.phase !== 'release') return;
    if (this.releasesPending.size > 0) return; // the leader callbacks have not settled yet
    if (l.releaseSentMs !== undefined && !l.releaseDelivered && nowMs < l.releaseSentMs + RELEASE_WAIT_MS) return;
    if (!this.ownSendsSafe() && nowMs < (l.releaseSinceMs ?? nowMs) + RELEASE_WAIT_MS) return;
    l.phase = 'done';
    this.core.leave(nowMs);
    this.events.push({ type: 'left' });
  }

  private releaseDeadlineMs(): number | undefined {
    const l = this.leaving;
    if (l?.phase !== 'release') return undefined;
    let at: number | undefined;
    if (l.releaseSentMs !== undefined && !l.releaseDelivered) at = l.releaseSentMs + RELEASE_WAIT_MS;
    if (l.releaseSinceMs !== undefined && !this.ownSendsSafe()) at = Math.max(at ?? 0, l.releaseSinceMs + RELEASE_WAIT_MS);
    return at !== undefined && at > this.nowMs ? at : undefined;
  }

  /**
   * Every member of the current ring holds what this node last sent there. A message delivered
   * in an earlier ring is as settled as it will get: the view change carried it to the members
   * that came along, and the state exchange and probes reconcile the rest.
   */
  private ownSendsSafe(): boolean {
    const own = this.ownLatest;
    if (own === undefined || this.view === undefined || !sameView(own.viewId, this.view.id)) return true;
    return this.safe !== undefined && sameView(this.safe.viewId, own.viewId) && this.safe.seq >= own.seq;
  }

  /** A release promises the callbacks have finished: send it only once they have. */
  private flushReleases(nowMs: number): void {
    for (const epoch of [...this.releasesPending]) {
      if (!this.settledEpochs.has(epoch)) continue;
      this.releasesPending.delete(epoch);
      this.settledEpochs.delete(epoch);
      this.sendControl({ t: 'release', epoch });
      if (this.leaving?.phase === 'release') {
        this.leaving.releaseSentMs = nowMs;
        this.leaving.releaseEpoch = epoch;
      }
    }
    this.checkLeave(nowMs);
  }

  // ---------------------------------------------------------------------------------- sending

  private sendControl(message: ControlMessage): void {
    const result = this.send(CHANNEL.control, message);
    if (!result.ok && result.reason === 'queue-full') this.error('SANODE_SEND_QUEUE_FULL', `could not send the ${message.t} control message: the ordered send queue is full`);
  }

  /**
   * The application's messages go straight to the core (a full queue is its caller's to retry).
   * sanode's own wait in an outbox when the queue is full, in order, and go out as soon as there
   * is room: a lost CIB announcement or resource record would stall the node until the next view.
   */
  private send(channel: Channel, body: unknown): BroadcastResult {
    const payload = encodeChannel(channel, body);
    const maxLarge = this.o.maxLargeMessageBytes ?? DEFAULT_MAX_LARGE_MESSAGE_BYTES;
    if (payload.length > maxLarge) return { ok: false, reason: 'too-large', maxPayloadBytes: maxLarge };
    // One sender's fragments must stay contiguous in its queue: large messages are split here,
    // and nothing of the application's overtakes sanode's own waiting messages.
    const pieces = needsFragments(payload) ? splitPayload(payload, this.nextLargeKey++) : [payload];
    if (channel === CHANNEL.app) {
      if (this.outbox.length > 0) return { ok: false, reason: 'queue-full' };
      if (pieces.length > 1 && this.core.status().sendQueueLength + fragmentCount(payload.length) > this.o.maxSendQueue) return { ok: false, reason: 'queue-full' };
      let first: BroadcastResult | undefined;
      for (const piece of pieces) {
        const result = this.broadcastNow(piece);
        first ??= result;
        if (!result.ok) return result;
      }
      return first!;
    }
    if (this.outbox.length + pieces.length > OUTBOX_MAX) {
      this.once('outbox-full', 'SANODE_SEND_QUEUE_FULL', `node ${this.nodeId}: ${OUTBOX_MAX} of sanode's own messages wait for room in the ordered send queue; the application's broadcasts are starving the cluster`);
      return { ok: false, reason: 'queue-full' };
    }
    for (const piece of pieces) this.outbox.push(piece);
    this.flushOutbox();
    // Accepted: it goes out in order once the queue has room (its msgId may not be known yet).
    return { ok: true, msgId: -1 };
  }

  private broadcastNow(payload: Uint8Array): BroadcastResult {
    const result = this.core.broadcast(payload, this.nowMs);
    if (result.ok && this.o.trace === true) this.trace.push({ k: 'broadcast', msgId: result.msgId, payload });
    return result;
  }

  /** Sends what waited in the outbox, in order, while the core takes it. True if anything went. */
  private flushOutbox(): boolean {
    let sent = false;
    while (this.outbox.length > 0) {
      const result = this.broadcastNow(this.outbox[0]!);
      if (!result.ok && result.reason === 'too-large') {
        // Only a message no fragment split could make (a core configured smaller than a fragment).
        this.outbox.shift();
        this.error('SANODE_MESSAGE_TOO_LARGE', `node ${this.nodeId}: one of sanode's own messages is over the core's limit (${result.maxPayloadBytes} bytes) and was dropped`);
        continue;
      }
      if (!result.ok) break;
      this.outbox.shift();
      sent = true;
    }
    return sent;
  }

  private error(code: ErrorCode, message: string): void {
    this.events.push({ type: 'error', error: new SanodeError(code, message) });
  }

  /** Conditions that hold until someone fixes them are reported once, not on every turn. */
  private once(key: string, code: ErrorCode, message: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.error(code, message);
  }
}

function sameView(a: ViewId, b: ViewId): boolean {
  return a.seq === b.seq && a.rep === b.rep;
}

/** The rejection for a write applied here whose ring broke before every member had it. */
function outcomeUnknown(event: NodeEvent): NodeEvent {
  if (event.type !== 'cib-outcome' || !event.ok) return event;
  const error = new SanodeError(
    'SANODE_CIB_OUTCOME_UNKNOWN',
    `the CIB change was applied here at ${event.version.adminEpoch}.${event.version.epoch}.${event.version.numUpdates}, but the membership changed before every member had it: it may be lost when the partitions heal; read the CIB (cluster.cib()) and make the change again if it is missing`,
  );
  return { type: 'cib-outcome', requestId: event.requestId, ok: false, error };
}

function placeholderName(id: NodeId): string {
  return `node-${id}`;
}

/**
 * The longest holdover of the configured resources: what a lost node may leave active after its
 * lease, whichever of them it held. A resource's own `holdoverMs` meta attribute (or its group's)
 * wins over its agent's declaration.
 */
export function longestHoldoverMs(cib: Cib | undefined, lease: LeaseTimers, selfStopMs: number, holdoverMs: (primitive: PrimitiveConfig) => number | undefined): number {
  let longest = 0;
  for (const { primitive, group, clone } of listPrimitives((cib ?? emptyCib({ nodes: [], resources: [] })).config)) {
    const declared = primitive.meta?.holdoverMs ?? group?.meta?.holdoverMs ?? clone?.meta?.holdoverMs ?? holdoverMs(primitive);
    const h = holdoverAfterLeaseMs(lease, selfStopMs, declared !== undefined && Number.isFinite(declared) && declared >= 0 ? declared : undefined);
    if (h > longest) longest = h;
  }
  return longest;
}

/** The earlier of two optional deadlines (called for every timer re-arm, so no array). */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b !== undefined && b < a ? b : a;
}
