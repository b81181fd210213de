/**
 * One node's part in resource management (pacemaker-controld + the LRM's bookkeeping), sans-IO:
 * what to run on this node, when to record what, when to stop everything on its own, and — while
 * this node coordinates — the TransitionEngine that directs the whole cluster.
 *
 * Takes: views (as node names), quorum, coordinator changes, token proofs, the applied CIB and
 * whether it is the group's copy, resource-channel messages in agreed order, the outcome of each
 * CIB change it proposed, the result of each agent operation it asked for, a graceful-leave
 * request, and the current monotonic time with every input.
 * Emits (takeOutput): agent operations to run, CIB changes to propose (each with a tag that comes
 * back with its outcome), resource-channel messages to broadcast in agreed order, and events
 * (operation results, coded errors, leave progress).
 * Must never: read a clock, set a timer, run an agent or touch a file; run two operations on one
 * resource at once; keep a resource past its lease without starting to stop it.
 *
 * Ordering: an operation's result is recorded in the CIB (record-op, then the fail count), and
 * only once that has been applied in agreed order is the coordinator told (a `result` message),
 * so a fresh plan always sees the result; this is what lets the coordinator plan from scratch.
 *
 * The safety argument is docs/resources.md: a node keeps resources only while it is quorate and
 * holds a lease (proof of an intact ring within the lease window); past that it stops them within
 * selfStopMs, and the coordinator starts a lost node's resources elsewhere only after its lease,
 * its self-stop and its agents' holdover have all run out (lib/controller/timing.ts).
 */
import { INFINITY, listPrimitives, RC_PENDING, type Cib, type OpName, type PrimitiveConfig, type ResourceStatus } from '../cib/model.js';
import type { CibChange } from '../cib/replica.js';
import { SanodeError, type ErrorCode } from '../errors/index.js';
import { readCluster } from '../scheduler/state.js';
import { TransitionEngine, type ExecOp, type ExecRequest, type FailoverReport } from './transition.js';

/** OCF return codes the controller needs to read (agents/types.ts has the full list). */
const RC = { SUCCESS: 0, ERR_GENERIC: 1, ERR_INSTALLED: 5, ERR_CONFIGURED: 6, NOT_RUNNING: 7, RUNNING_PROMOTED: 8 } as const;
const DEFAULT_OP_TIMEOUT_MS = 20_000;

/** Messages of the resource channel. Kinds (`t`) are append-only. */
export type ResourceMessage =
  /**
   * `seq`/`rep`: the view the coordinator sent it in. A node runs it only if it is delivered in
   * that view: one queued when the ring broke and ordered in the next view was planned for a
   * membership that no longer exists (the coordinator has planned again since).
   */
  | { readonly t: 'exec'; readonly epoch: number; readonly req: ExecRequest; readonly seq?: number; readonly rep?: number }
  | { readonly t: 'result'; readonly epoch: number; readonly key: string; readonly node: string; readonly rc: number }
  /** Every node probes `rsc` again (cleanup), and records what it finds. */
  | { readonly t: 'reprobe'; readonly rsc: string };

export function parseResourceMessage(body: unknown): ResourceMessage | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const m = body as Record<string, unknown>;
  if (m['t'] === 'exec' && typeof m['epoch'] === 'number' && typeof m['req'] === 'object' && m['req'] !== null) {
    const r = m['req'] as Record<string, unknown>;
    const ops: readonly string[] = ['start', 'stop', 'monitor', 'promote', 'demote'];
    if (typeof r['key'] !== 'string' || typeof r['node'] !== 'string' || typeof r['rsc'] !== 'string') return undefined;
    if (typeof r['op'] !== 'string' || !ops.includes(r['op'])) return undefined;
    if (typeof r['intervalMs'] !== 'number' || typeof r['timeoutMs'] !== 'number' || !(r['timeoutMs'] > 0)) return undefined;
    const req = { key: r['key'], node: r['node'], rsc: r['rsc'], op: r['op'] as ExecOp, intervalMs: r['intervalMs'], timeoutMs: r['timeoutMs'] };
    if (Number.isSafeInteger(m['seq']) && Number.isSafeInteger(m['rep'])) return { t: 'exec', epoch: m['epoch'], req, seq: m['seq'] as number, rep: m['rep'] as number };
    return { t: 'exec', epoch: m['epoch'], req };
  }
  if (m['t'] === 'result' && typeof m['epoch'] === 'number' && typeof m['key'] === 'string' && typeof m['node'] === 'string' && typeof m['rc'] === 'number') {
    return { t: 'result', epoch: m['epoch'], key: m['key'], node: m['node'], rc: m['rc'] };
  }
  if (m['t'] === 'reprobe' && typeof m['rsc'] === 'string') return { t: 'reprobe', rsc: m['rsc'] };
  return undefined;
}

/** What the binding runs: an agent hook on this node. `probe` is a one-off monitor (what runs here?). */
export type AgentOpName = 'start' | 'stop' | 'monitor' | 'probe' | 'promote' | 'demote';

export interface AgentOperation {
  /** Unique for this controller; the result comes back with it. */
  readonly opId: number;
  readonly rsc: string;
  readonly op: AgentOpName;
  /** A recurring monitor's interval; 0 for one-off operations. */
  readonly intervalMs: number;
  /** The binding must report a result by then (the executor's guarantee). */
  readonly timeoutMs: number;
  /** The agent and parameters as configured. */
  readonly primitive: PrimitiveConfig;
}

export interface AgentOutcome {
  readonly rc: number;
  readonly message?: string | undefined;
  /** Wall-clock ms when the operation ended: stamps the CIB record (failure-timeout compares them across nodes). */
  readonly wallMs: number;
}

export interface ResourceEvent {
  readonly rsc: string;
  readonly node: string;
  readonly op: OpName;
  readonly intervalMs: number;
  readonly rc: number;
  readonly message?: string;
}

export type LocalResourcesEvent =
  | { readonly type: 'resource'; readonly event: ResourceEvent }
  | { readonly type: 'error'; readonly error: SanodeError }
  /** The coordinator took a lost node's resources over: where the time went (TransitionEngine). */
  | { readonly type: 'failover'; readonly report: FailoverReport }
  /** A graceful leave has moved or stopped everything here: the node may release and leave the ring. */
  | { readonly type: 'left' };

/** A CIB change to propose; `tag` comes back with its outcome (onProposal). */
export interface Proposal {
  readonly change: CibChange;
  readonly tag: ProposalTag;
}

export type ProposalTag =
  | { readonly k: 'probe'; readonly round: number; readonly step: 'offline' | 'record' | 'unstandby' | 'online' }
  | { readonly k: 'exec'; readonly epoch: number; readonly key: string; readonly rsc: string; readonly op: OpName; readonly rc: number; readonly failed: boolean; readonly step: 'record' | 'fail-count' }
  /**
   * A start or promote recorded as pending (RC_PENDING) before it is handed to the agent.
   * `view`: the view its exec was delivered in (the record must be applied in that view too).
   */
  | { readonly k: 'pending'; readonly rsc: string; readonly coordinator: number; readonly view: ViewKey | undefined }
  /**
   * A coordinator's decision (the engine's purge of a lost node's records), made from `view`'s
   * membership. It holds only in that view: applied in a later one, where the node may have come
   * back and recorded what it started, it would erase live records (simulator seed 98528). So it
   * is never proposed in another view; the engine decides again after every view change.
   */
  | { readonly k: 'decision'; readonly view: ViewKey | undefined }
  | { readonly k: 'note' };

export interface LocalResourcesOutput {
  readonly operations: readonly AgentOperation[];
  readonly proposals: readonly Proposal[];
  readonly sends: readonly ResourceMessage[];
  readonly events: readonly LocalResourcesEvent[];
}

export interface LocalResourcesOptions {
  /** false: run no agents and coordinate nothing (the node only keeps the CIB). */
  readonly manage: boolean;
  /** The time a node that lost quorum or its lease has to stop its resources. */
  readonly selfStopMs: number;
  /** Without proof of an intact ring for this long, this node stops its resources (timing.ts leaseWindowMs). */
  readonly leaseWindowMs: number;
  /** lostNodeDeadlineMs for a CIB (timing.ts): from a lost node's last lease proof until its resources may start elsewhere. */
  readonly lostNodeDeadlineMs: (cib: Cib | undefined) => number;
  /** timing.ts unprovenLastProofMs: the margin for a lost node this node shared no ring with. */
  readonly unprovenMarginMs: number;
  /** How long a graceful leave waits for the coordinator to move this node's resources away. */
  readonly moveAwayMs: number;
  /** Restart back-off (timing.ts restartBackoffMs). */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Wall-clock minus monotonic ms: failure-timeout compares wall-clock stamps. */
  readonly wallClockOffsetMs: number;
  readonly nowMs: number;
  /** Simulator only: core bugs the checkers must catch (lib/sim/bugs.ts). */
  readonly injectedBugs?: ReadonlySet<string> | undefined;
}

interface Monitor {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  dueMs: number;
  lastRc: number;
}

interface RscState {
  /** This node believes it runs the resource (a start or a probe said so, no successful stop since). */
  active: boolean;
  /** Orders active resources: a self-stop goes in reverse start order (a group's last member first). */
  since: number;
  /** A start or promote has been handed to the agent and has not answered. */
  starting: boolean;
  busy: number | undefined;
  /** A start waiting for its pending record to be applied (the resource is reserved meanwhile). */
  holding: Pending | undefined;
  readonly queue: Pending[];
  monitors: Monitor[];
}

/** A view id (totem's seq and representative). */
type ViewKey = { readonly seq: number; readonly rep: number };

type Purpose =
  | { readonly k: 'probe'; readonly round: number }
  | { readonly k: 'reprobe' }
  /** `view`: the view the exec was delivered in; a start runs only if its pending record lands in it. */
  | { readonly k: 'exec'; readonly epoch: number; readonly req: ExecRequest; readonly coordinator: number; readonly view: ViewKey | undefined }
  | { readonly k: 'monitor'; readonly intervalMs: number }
  | { readonly k: 'stop-all'; readonly run: number };

interface Pending {
  readonly op: AgentOpName;
  readonly intervalMs: number;
  /** Fixed, or computed when the operation is handed over (a self-stop's shared budget). */
  readonly timeoutMs: number | (() => number);
  readonly purpose: Purpose;
  /** A start's pending record has been applied: it may go to the agent. */
  readonly recorded?: boolean;
}

interface InFlight {
  readonly rsc: string;
  readonly op: AgentOpName;
  readonly intervalMs: number;
  readonly purpose: Purpose;
}

export class LocalResources {
  private readonly o: LocalResourcesOptions;
  private readonly engine: TransitionEngine;
  private readonly rsc = new Map<string, RscState>();
  private readonly inFlight = new Map<number, InFlight>();
  private nodeName: string | undefined;
  private cib: Cib | undefined;
  private synced = false;
  private quorate = false;
  private member = false;
  private alone = false;
  private epoch: number | undefined;
  /** The coordinator of this node's current quorate term, whoever it is. */
  private termCoordinator: number | undefined;
  private viewId: { readonly seq: number; readonly rep: number } | undefined;
  private lastProofMs: number;
  private lastNowMs: number;
  private nextOpId = 1;
  private activeCounter = 0;
  private callId: number | undefined;
  /** Proposals whose outcome has not come back: a leave waits for its stop records to be applied. */
  private outstanding = 0;
  /** The wall clock of the latest operation result: stamps fail counts recorded after it. */
  private lastWallMs = 0;
  /** This incarnation has probed since it last gained quorum (or self-stopped). */
  private probed = false;
  private probe: { round: number; waiting: number; recording: number; phase: 'offline' | 'probing' | 'finishing' } | undefined;
  private probeRound = 0;
  /**
   * This run of the node has not yet been recorded online. Its first probe clears the fail counts
   * an earlier run left, as pacemaker's are transient node attributes that a restart of the
   * node's stack erases: otherwise every crash leftover that a probe reports as failed (a VIP
   * without its lease) adds up across restarts until migrationThreshold bans the resource from
   * every node for good (fault lab seed 423332916: no VIP for 60 s after the fourth kill-all).
   */
  private firstRun = true;
  /** A self-stop or a leave's final stop in progress. */
  private stopAll: { run: number; endMs: number; order: string[] } | undefined;
  private stopRun = 0;
  /** Orders from the coordinator that came while everything was stopping: answered once it is done. */
  private declinedWhileStopping: { epoch: number; key: string }[] = [];
  private leave: { deadlineMs: number; phase: 'draining' | 'stopping' | 'done'; standbyProposed: boolean } | undefined;

  private operations: AgentOperation[] = [];
  private proposals: Proposal[] = [];
  private sends: ResourceMessage[] = [];
  private events: LocalResourcesEvent[] = [];

  constructor(options: LocalResourcesOptions) {
    this.o = options;
    this.lastProofMs = options.nowMs;
    this.lastNowMs = options.nowMs;
    this.engine = new TransitionEngine({
      nodes: [],
      lostNodeDeadlineMs: (cib) => options.lostNodeDeadlineMs(cib),
      unprovenMarginMs: options.unprovenMarginMs,
      nowMs: options.nowMs,
      backoff: { baseMs: options.backoffBaseMs, maxMs: options.backoffMaxMs },
      injectedBugs: options.injectedBugs,
    });
  }

  /** The resources this node believes run here (for status and the simulator's checkers). */
  get activeHere(): string[] {
    return [...this.rsc].filter(([, s]) => s.active).map(([id]) => id);
  }

  get hasProbed(): boolean {
    return this.probed;
  }

  get leaving(): boolean {
    return this.leave !== undefined;
  }

  /** This node's name in the CIB (undefined while the CIB does not list this node). */
  setNodeName(name: string | undefined, nowMs: number): void {
    if (name === this.nodeName) return;
    this.nodeName = name;
    this.step(nowMs);
  }

  /**
   * A view was installed. It renews nothing: other members date a lost node's last renewal from
   * the last token of theirs that went round it (timing.ts), and this install may come later than
   * any token they saw (the first token of a ring can be lost right after it reached this node).
   * `lastRingProofMs`: see TransitionEngine.onView.
   */
  onView(
    members: readonly string[],
    alone: boolean,
    nowMs: number,
    viewId?: { readonly seq: number; readonly rep: number },
    lastRingProofMs?: (name: string) => number | undefined,
  ): void {
    this.viewId = viewId;
    this.member = this.nodeName !== undefined && members.includes(this.nodeName);
    this.alone = alone;
    this.engine.onView(members, nowMs, lastRingProofMs);
    // Proposals of an unfinished probe may have been lost with the old ring: start it again.
    if (this.probe !== undefined) this.probe = undefined;
    this.step(nowMs);
  }

  /** A token of the current ring came back: the ring was intact at `provenAtMs`. */
  onToken(provenAtMs: number, nowMs: number): void {
    // Only the lease moves; whatever is due runs at the next tick (nextDeadlineMs says when).
    this.lastProofMs = Math.max(this.lastProofMs, provenAtMs);
    this.lastNowMs = Math.max(this.lastNowMs, nowMs);
  }

  onQuorum(quorate: boolean, nowMs: number): void {
    const was = this.quorate;
    this.quorate = quorate;
    if (was && !quorate) this.selfStop('lost quorum', nowMs);
    if (quorate) this.proposeLeaveStandby();
    if (!quorate) {
      this.probed = false;
      this.probe = undefined;
    }
    this.step(nowMs);
  }

  /** This node coordinates (epoch: its leader term has started) or stops doing so (undefined). */
  onCoordinator(epoch: number | undefined, nowMs: number): void {
    this.epoch = epoch;
    this.engine.setCoordinator(epoch !== undefined, this.quorate);
    this.step(nowMs);
  }

  /** `synced`: this copy is the group's (the state exchange of the view is done). */
  onCib(cib: Cib, synced: boolean, nowMs: number): void {
    const before = this.cib;
    if (cib !== this.cib) {
      const firstNodes = this.cib === undefined || this.cib.config.nodes !== cib.config.nodes;
      this.cib = cib;
      if (firstNodes) this.engine.setNodes(cib.config.nodes.map((n) => n.name), nowMs);
      this.engine.onCib(cib, nowMs);
    }
    const exchangeDone = synced && !this.synced;
    this.synced = synced;
    // The group's copy is what the coordinator plans from: if it does not say this node is online
    // (the exchange adopted a copy from a partition that never saw this node's probe), probe again.
    if (synced && this.probed && this.nodeName !== undefined && cib.status.nodes[this.nodeName]?.state !== 'online') this.probed = false;
    // Nor if it no longer shows what runs here (the exchange adopted a copy that lacks this node's
    // records: simulator seed 6681): the probe records it again, and the coordinator, which
    // starts nothing while a member is not online, does not start it elsewhere meanwhile.
    if (exchangeDone && this.probed && (this.lostOwnRecords(cib, nowMs) || this.droppedOwnRecords(before, cib))) this.probed = false;
    this.step(nowMs);
  }

  /** The coordinator of this node's current term (undefined while not quorate). */
  onTerm(coordinator: number | undefined, nowMs: number): void {
    if (coordinator === this.termCoordinator) return;
    this.termCoordinator = coordinator;
    this.step(nowMs);
  }

  /** A resource-channel message from `sender`, delivered in agreed order. */
  onMessage(message: ResourceMessage, sender: number, nowMs: number): void {
    if (!this.o.manage) return;
    if (message.t === 'exec') {
      // Only the coordinator of the current view may direct this node; the coordinator is a
      // function of the view, and a deposed one's messages are delivered in its own view only.
      const fromCoordinator = sender === this.termCoordinator;
      const thisView = message.seq === undefined || (this.viewId !== undefined && message.seq === this.viewId.seq && message.rep === this.viewId.rep);
      if (message.req.node === this.nodeName && fromCoordinator && thisView) {
        // The coordinator plans nothing more until this answers (transition.ts): a node stopping
        // everything that ignored it held every resource back for the in-flight timeout
        // (simulator seed 29638: 11 s with nothing running). It answers once its stops are done,
        // so the next plan sees them; answering at once let a coordinator alone in its ring,
        // which delivers to itself in the same turn, re-send and re-decline forever (seed 1653).
        if (this.quorate && this.stopAll === undefined) this.acceptExec(message.epoch, message.req, sender);
        else if (this.stopAll !== undefined) this.declinedWhileStopping.push({ epoch: message.epoch, key: message.req.key });
        else this.decline(message.epoch, message.req.key);
      }
    } else if (message.t === 'result') {
      if (message.epoch === this.epoch) this.engine.onResult(message.key);
    } else if (this.quorate && this.member && this.leave === undefined) {
      const primitive = this.primitive(message.rsc);
      if (primitive !== undefined) this.enqueue(primitive.id, { op: 'probe', intervalMs: 0, timeoutMs: opTimeout(primitive, 'monitor', 0), purpose: { k: 'reprobe' } });
    }
    this.step(nowMs);
  }

  onProposal(tag: ProposalTag, ok: boolean, nowMs: number): void {
    this.outstanding = Math.max(0, this.outstanding - 1);
    if (tag.k === 'probe') this.onProbeProposal(tag, ok);
    else if (tag.k === 'exec') this.onExecProposal(tag, ok);
    else if (tag.k === 'pending') this.onPendingRecorded(tag, ok, nowMs);
    this.step(nowMs);
  }

  /**
   * The pending record of a start is in the CIB (or could not be written). The start goes to the
   * agent only if the coordinator that asked for it still coordinates, and only if the record
   * landed in the view the order came in: a new coordinator may have planned from a CIB without
   * the pending record, and so has the same coordinator once the view changed (it forgets its
   * in-flight actions at every view change and plans again), so starting now could run it twice.
   * A record lands in a later view when it waited for a state exchange that the view change cut
   * short (simulator seed 5174), or when its exec waited here behind another operation. Abandoned,
   * the pending record is answered with a stop record (nothing ran), and the coordinator plans.
   */
  private onPendingRecorded(tag: Extract<ProposalTag, { k: 'pending' }>, ok: boolean, nowMs: number): void {
    const state = this.state(tag.rsc);
    const held = state.holding;
    state.holding = undefined;
    state.busy = undefined;
    if (held === undefined) return;
    const sameView = tag.view === undefined || (this.viewId !== undefined && this.viewId.seq === tag.view.seq && this.viewId.rep === tag.view.rep);
    if (ok && sameView && this.mayStart(Math.max(this.lastNowMs, nowMs)) && this.termCoordinator === tag.coordinator && this.leave === undefined) {
      state.queue.unshift({ ...held, recorded: true });
      return;
    }
    if (ok) this.abandonRecordedStart(tag.rsc);
    this.declinePending(held);
  }

  /**
   * An order from the coordinator that will not run is still answered, after any record that
   * says so: the coordinator waits for every answer before it plans again (an old term's or old
   * view's answer is ignored there).
   */
  private decline(epoch: number, key: string): void {
    this.answer(epoch, key, RC.ERR_GENERIC);
  }

  private declinePending(pending: Pending): void {
    if (pending.purpose.k === 'exec') this.decline(pending.purpose.epoch, pending.purpose.req.key);
  }

  /** A start whose pending record is in the CIB will not run: a stop record says nothing runs. */
  private abandonRecordedStart(rsc: string): void {
    if (!this.quorate || this.nodeName === undefined) return;
    const record = { op: 'stop' as const, intervalMs: 0, rc: RC.SUCCESS, timeMs: this.lastWallMs, callId: this.nextCallId() };
    this.propose({ change: { op: 'record-op', node: this.nodeName, resource: rsc, record }, tag: { k: 'note' } });
  }

  /**
   * A start or promote may go to the agent only while this node holds its lease: the lost-node
   * deadline that lets the others start its resources counts from its last proof, so a start
   * after the lease would not be covered by it.
   */
  private mayStart(nowMs: number): boolean {
    return nowMs < this.leaseUntilMs;
  }

  onOperationResult(opId: number, outcome: AgentOutcome, nowMs: number): void {
    const op = this.inFlight.get(opId);
    if (op === undefined) return;
    this.inFlight.delete(opId);
    const state = this.state(op.rsc);
    state.busy = undefined;
    if (op.op === 'start' || op.op === 'promote') state.starting = false;
    this.onResult(op, state, outcome, nowMs);
    this.step(nowMs);
  }

  /** Time has passed (a timer, or the first turn after a stall): lease, monitors, deadlines. */
  tick(nowMs: number): void {
    this.step(nowMs);
  }

  /**
   * Graceful leave: a run-time standby, so the coordinator moves this node's resources away in
   * order (stop here, then start elsewhere) while it is still a member, as pacemaker does for a
   * node shutting down; whatever is left after `moveAwayMs` is stopped here. 'left' follows.
   */
  requestLeave(nowMs: number): void {
    if (this.leave !== undefined) return;
    this.leave = { deadlineMs: nowMs + this.o.moveAwayMs, phase: 'draining', standbyProposed: false };
    this.probe = undefined;
    this.proposeLeaveStandby();
    this.step(nowMs);
  }

  /**
   * Even with nothing running here: a node that leaves turns down every start ordered to it, and
   * a coordinator that still saw it as a candidate ordered the same start again at once
   * (simulator seed 1653: a leaving coordinator alone in its ring, in one turn, forever). A leave
   * asked for before quorum proposes it once quorum comes.
   */
  private proposeLeaveStandby(): void {
    const leave = this.leave;
    if (leave === undefined || leave.standbyProposed || !this.o.manage || !this.quorate || this.nodeName === undefined) return;
    leave.standbyProposed = true;
    this.propose({ change: { op: 'set-node-standby', node: this.nodeName, standby: true }, tag: { k: 'note' } });
  }

  /**
   * Until when this node's resources may act (its ms): the end of its lease, Infinity where nothing
   * ends it (alone and quorate, or no-quorum-policy ignore or freeze), -Infinity once it is
   * stopping everything. Kernel leases (the vip agent's nft lease) are renewed only before it.
   */
  get leaseUntilMs(): number {
    const policy = this.cib?.config.properties?.noQuorumPolicy ?? 'stop';
    if (policy === 'ignore' || policy === 'freeze') return Infinity;
    if (this.stopAll !== undefined || !this.quorate) return -Infinity;
    if (this.alone) return Infinity;
    return this.lastProofMs + this.o.leaseWindowMs;
  }

  /** When tick must run next: the lease while resources run here, a monitor, a coordinator deadline. */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    const at = (t: number | undefined): void => {
      if (t !== undefined && t > this.lastNowMs && (next === undefined || t < next)) next = t;
    };
    if (this.busyOrActive() && !this.alone) at(this.lastProofMs + this.o.leaseWindowMs);
    for (const s of this.rsc.values()) for (const m of s.monitors) at(m.dueMs);
    at(this.engine.nextDeadlineMs());
    if (this.leave?.phase === 'draining') at(this.leave.deadlineMs);
    if (this.leave?.phase === 'stopping') at(this.leave.deadlineMs + this.o.selfStopMs * 4);
    if (this.stopAll !== undefined) at(this.stopAll.endMs);
    return next;
  }

  takeOutput(): LocalResourcesOutput {
    const out = { operations: this.operations, proposals: this.proposals, sends: this.sends, events: this.events };
    this.operations = [];
    this.proposals = [];
    this.sends = [];
    this.events = [];
    return out;
  }

  // ---------------------------------------------------------------------------------- turns

  private step(nowMs: number): void {
    this.lastNowMs = Math.max(this.lastNowMs, nowMs);
    if (!this.o.manage) {
      // Nothing runs here to move away, but a leave must still say it is done (it waited for the
      // runtime's 30 s guard instead).
      this.progressLeave(nowMs);
      return;
    }
    // A node alone in its view is its whole ring: there is no token to wait for and nobody who
    // could take its resources over (only twoNode or a one-node cluster makes that view quorate).
    if (this.alone && this.quorate) this.lastProofMs = Math.max(this.lastProofMs, nowMs);
    if (this.busyOrActive() && nowMs - this.lastProofMs >= this.o.leaseWindowMs) this.selfStop('lease expired', nowMs);
    if (this.stopAll !== undefined && this.stopAll.order.length === 0 && !this.anyStopping()) {
      this.stopAll = undefined;
      for (const d of this.declinedWhileStopping) this.decline(d.epoch, d.key);
      this.declinedWhileStopping = [];
    }
    this.maybeProbe();
    this.dueMonitors(nowMs);
    this.progressLeave(nowMs);
    this.dispatch(nowMs);
    // A coordinator that probes its own resources again plans nothing until it has recorded what
    // runs here: its plan would rest on the very records it is about to correct (the other
    // members' probes are covered by the engine, which waits for every member to be online, but
    // this node's 'offline' is not yet in the CIB when it decides to probe).
    if (!this.probeDue()) this.engine.tick(nowMs, nowMs + this.o.wallClockOffsetMs);
    const out = this.engine.takeOutput();
    for (const change of out.changes) this.propose({ change, tag: { k: 'decision', view: this.viewId } });
    for (const report of out.failovers) this.events.push({ type: 'failover', report });
    const view = this.viewId;
    for (const req of out.dispatch) this.sends.push(view === undefined ? { t: 'exec', epoch: this.epoch!, req } : { t: 'exec', epoch: this.epoch!, req, seq: view.seq, rep: view.rep });
  }

  /** The CIB shows no active instance here of a resource that this node runs or is starting. */
  private lostOwnRecords(cib: Cib, nowMs: number): boolean {
    const name = this.nodeName;
    if (name === undefined) return false;
    let cluster: ReturnType<typeof readCluster> | undefined;
    for (const [id, s] of this.rsc) {
      if (!s.active && !s.starting) continue;
      cluster ??= readCluster(cib, listPrimitives(cib.config), nowMs + this.o.wallClockOffsetMs);
      const p = cluster.primitives.get(id);
      if (p !== undefined && !p.active.some((a) => a.node === name)) return true;
    }
    return false;
  }

  /**
   * The copy a state exchange adopted lacks a record this node had applied before it (delivered
   * here, in agreed order, just before the ring broke: simulator seed 32775, where a lost monitor
   * failure left the CIB saying the resource ran here and nothing planned its recovery). During an
   * exchange the local copy does not change, so `before` holds every record applied here. A
   * start's pending record does not count: the start runs only once that record is safe, and a
   * lost one of an abandoned start would make the node probe again for nothing.
   */
  private droppedOwnRecords(before: Cib | undefined, after: Cib): boolean {
    const name = this.nodeName;
    const had = name === undefined ? undefined : before?.status.nodes[name]?.resources;
    if (had === undefined) return false;
    const configured = new Set(listPrimitives(after.config).map((p) => p.primitive.id));
    const newest = (rs: ResourceStatus | undefined): number => Math.max(0, ...(rs?.ops ?? []).filter((o) => o.rc !== RC_PENDING).map((o) => o.callId));
    return Object.entries(had).some(([rsc, rs]) => configured.has(rsc) && newest(after.status.nodes[name!]?.resources?.[rsc]) < newest(rs));
  }

  /** This node will probe (or is probing) before it counts as online again. */
  private probeDue(): boolean {
    return !this.probed && this.quorate && this.member && this.leave === undefined && this.stopAll === undefined;
  }

  private maybeProbe(): void {
    if (this.probed || this.probe !== undefined || this.leave !== undefined || this.stopAll !== undefined) return;
    if (!this.quorate || !this.member || !this.synced || this.cib === undefined || this.nodeName === undefined) return;
    const round = ++this.probeRound;
    this.probe = { round, waiting: 0, recording: 0, phase: 'offline' };
    const ownStatus = this.cib.status.nodes[this.nodeName];
    const keepsOldCounts = this.o.injectedBugs?.has('keep-old-fail-counts') === true;
    const stale = this.firstRun && !keepsOldCounts ? Object.entries(ownStatus?.resources ?? {}).filter(([, rs]) => (rs.failCount ?? 0) > 0).map(([rsc]) => rsc) : [];
    // Ahead of the 'offline' record, so they are applied before any probe result counts a new failure.
    for (const rsc of stale) this.propose({ change: { op: 'clear-fail-count', node: this.nodeName, resource: rsc }, tag: { k: 'note' } });
    // Say "not yet" first: the coordinator sends a member nothing but stops until it is online.
    if (stale.length > 0 || ownStatus?.state !== 'offline') {
      this.propose({ change: { op: 'set-node-state', node: this.nodeName, state: 'offline' }, tag: { k: 'probe', round, step: 'offline' } });
    } else {
      this.startProbes(round);
    }
  }

  private startProbes(round: number): void {
    const probe = this.probe;
    if (probe === undefined || probe.round !== round || this.cib === undefined) return;
    probe.phase = 'probing';
    for (const { primitive } of listPrimitives(this.cib.config)) {
      probe.waiting++;
      this.enqueue(primitive.id, { op: 'probe', intervalMs: 0, timeoutMs: opTimeout(primitive, 'monitor', 0), purpose: { k: 'probe', round } });
    }
    this.finishProbeIfDone();
  }

  private finishProbeIfDone(): void {
    const probe = this.probe;
    if (probe === undefined || probe.phase !== 'probing' || probe.waiting > 0 || probe.recording > 0 || this.nodeName === undefined) return;
    probe.phase = 'finishing';
    // A run-time standby from a graceful leave ends when the node comes back.
    if (this.cib?.status.nodes[this.nodeName]?.standby === true) {
      this.propose({ change: { op: 'set-node-standby', node: this.nodeName, standby: false }, tag: { k: 'probe', round: probe.round, step: 'unstandby' } });
    }
    this.propose({ change: { op: 'set-node-state', node: this.nodeName, state: 'online' }, tag: { k: 'probe', round: probe.round, step: 'online' } });
  }

  private onProbeProposal(tag: Extract<ProposalTag, { k: 'probe' }>, ok: boolean): void {
    const probe = this.probe;
    if (probe === undefined || probe.round !== tag.round) return;
    if (tag.step === 'offline') {
      if (ok) this.startProbes(tag.round);
      else this.probe = undefined; // tried again on the next turn
    } else if (tag.step === 'record') {
      probe.recording--;
      if (!ok) this.probe = undefined;
      else this.finishProbeIfDone();
    } else if (tag.step === 'online') {
      this.probe = undefined;
      if (ok) {
        this.probed = true;
        this.firstRun = false;
      }
    }
  }

  private acceptExec(epoch: number, req: ExecRequest, coordinator: number): void {
    if (this.leave !== undefined && (req.op === 'start' || req.op === 'promote')) {
      // It would be abandoned once its pending record landed: turn it down without the two writes.
      this.decline(epoch, req.key);
      return;
    }
    const primitive = this.primitive(req.rsc);
    const state = this.state(req.rsc);
    // A stop supersedes the monitors: they would report the stop as a failure.
    if (req.op === 'stop' || req.op === 'demote' || req.op === 'promote') state.monitors = [];
    if (primitive === undefined) {
      // Configured elsewhere but not in this copy: answer so the coordinator re-plans.
      this.sends.push({ t: 'result', epoch, key: req.key, node: this.nodeName!, rc: RC.ERR_CONFIGURED });
      return;
    }
    this.enqueue(req.rsc, { op: req.op, intervalMs: req.intervalMs, timeoutMs: req.timeoutMs, purpose: { k: 'exec', epoch, req, coordinator, view: this.viewId } });
  }

  private onResult(op: InFlight, state: RscState, outcome: AgentOutcome, nowMs: number): void {
    const p = op.purpose;
    const rc = outcome.rc;
    const succeeded = rc === RC.SUCCESS || (op.op === 'monitor' && rc === RC.RUNNING_PROMOTED);
    const opName: OpName = op.op === 'probe' ? 'monitor' : op.op;
    if (rc === RC.ERR_INSTALLED || rc === RC.ERR_CONFIGURED) {
      this.error(
        'SANODE_RESOURCE_CANNOT_RUN',
        `${op.rsc} cannot run on ${this.nodeName}: ${op.op} returned ${rc === RC.ERR_INSTALLED ? 'not installed (rc 5)' : 'not configured (rc 6)'}` +
          `${outcome.message === undefined ? '' : `: ${outcome.message}`}; fix the agent or its parameters, then run cleanup`,
      );
    }
    switch (p.k) {
      case 'probe':
      case 'reprobe': {
        const running = rc === RC.SUCCESS || rc === RC.RUNNING_PROMOTED;
        this.setActive(op.rsc, state, running);
        if (running) this.startMonitors(op.rsc, rc === RC.RUNNING_PROMOTED ? 'Promoted' : 'Started', nowMs);
        // A probe that finds the resource stopped is a success; anything but running or not-running is a failure.
        const failed = !running && rc !== RC.NOT_RUNNING;
        this.report(op.rsc, 'monitor', 0, outcome);
        const recorded = this.record(op.rsc, 'monitor', 0, outcome, failed, p.k === 'probe' ? { k: 'probe', round: p.round, step: 'record' } : { k: 'note' });
        if (p.k === 'probe' && this.probe?.round === p.round) {
          this.probe.waiting--;
          if (recorded) this.probe.recording++;
          else if (this.quorate) this.probe = undefined;
          this.finishProbeIfDone();
        }
        return;
      }
      case 'exec': {
        const req = p.req;
        if (req.op === 'start' || req.op === 'promote' || req.op === 'demote') {
          // A failed start may have left part of the resource running (OCF: its state is then
          // unknown; the scheduler counts it as active and failed until a stop succeeds). Counted
          // active here too, so a self-stop or a leave stops it: otherwise a node cut off after a
          // failed start kept it while the others started it elsewhere (simulator seed 7015).
          // Not when the agent says it cannot run here at all (not installed, not configured):
          // nothing was started, and a stop would fail the same way and hold a leave forever.
          const mayRun = req.op === 'start' && rc !== RC.ERR_INSTALLED && rc !== RC.ERR_CONFIGURED;
          if (succeeded || mayRun) this.setActive(op.rsc, state, true);
        } else if (req.op === 'stop' && succeeded) {
          this.setActive(op.rsc, state, false);
        }
        if (succeeded && (req.op === 'start' || req.op === 'promote' || req.op === 'demote')) this.startMonitors(op.rsc, req.op === 'promote' ? 'Promoted' : 'Started', nowMs);
        this.report(op.rsc, opName, req.intervalMs, outcome);
        const tag: ProposalTag = { k: 'exec', epoch: p.epoch, key: req.key, rsc: op.rsc, op: opName, rc, failed: !succeeded, step: 'record' };
        if (!this.record(op.rsc, opName, req.intervalMs, outcome, !succeeded, tag)) this.answer(p.epoch, req.key, rc);
        return;
      }
      case 'monitor': {
        const monitor = state.monitors.find((m) => m.intervalMs === p.intervalMs);
        if (monitor === undefined) return; // cancelled while it ran (a stop came)
        const failed = !(rc === RC.SUCCESS || rc === RC.RUNNING_PROMOTED);
        if (!failed && rc === monitor.lastRc) {
          monitor.dueMs = nowMs + monitor.intervalMs;
          return;
        }
        monitor.lastRc = rc;
        // A failed resource is the coordinator's to recover; its monitors stop until then.
        if (failed) state.monitors = [];
        else monitor.dueMs = nowMs + monitor.intervalMs;
        this.report(op.rsc, 'monitor', p.intervalMs, outcome);
        this.record(op.rsc, 'monitor', p.intervalMs, outcome, failed, { k: 'note' });
        return;
      }
      case 'stop-all': {
        if (succeeded) this.setActive(op.rsc, state, false);
        this.report(op.rsc, 'stop', 0, outcome);
        // A graceful leave records its stops while still quorate, so nobody waits for a deadline.
        if (this.leave !== undefined) this.record(op.rsc, 'stop', 0, outcome, !succeeded, { k: 'note' });
        return;
      }
    }
  }

  private onExecProposal(tag: Extract<ProposalTag, { k: 'exec' }>, ok: boolean): void {
    if (tag.step === 'record' && ok && tag.failed && this.cib !== undefined && this.nodeName !== undefined && this.quorate) {
      const previous = this.cib.status.nodes[this.nodeName]?.resources?.[tag.rsc]?.failCount ?? 0;
      // A failed start bans the node for this resource until cleanup (start-failure-is-fatal).
      const failCount = tag.op === 'start' ? INFINITY : Math.min(INFINITY, previous + 1);
      this.propose({
        change: { op: 'set-fail-count', node: this.nodeName, resource: tag.rsc, failCount, lastFailureMs: this.lastWallMs },
        tag: { ...tag, step: 'fail-count' },
      });
      return;
    }
    this.answer(tag.epoch, tag.key, tag.rc);
  }

  /** Every proposal comes back through onProposal (the driver's contract), so they can be counted. */
  private propose(proposal: Proposal): void {
    this.outstanding++;
    this.proposals.push(proposal);
  }

  private answer(epoch: number, key: string, rc: number): void {
    if (this.nodeName === undefined) return;
    this.sends.push({ t: 'result', epoch, key, node: this.nodeName, rc });
  }

  /** Proposes record-op (and, for failures of recurring monitors and probes, the fail count). False when nothing was proposed. */
  private record(rsc: string, op: OpName, intervalMs: number, outcome: AgentOutcome, failed: boolean, tag: ProposalTag): boolean {
    // Only while quorate: a minority must not outvote the majority's copy (docs/resources.md).
    if (!this.quorate || this.cib === undefined || this.nodeName === undefined) return false;
    this.lastWallMs = outcome.wallMs;
    const record = { op, intervalMs, rc: outcome.rc, timeMs: outcome.wallMs, callId: this.nextCallId() };
    this.propose({ change: { op: 'record-op', node: this.nodeName, resource: rsc, record }, tag });
    if (failed && tag.k !== 'exec') {
      const previous = this.cib.status.nodes[this.nodeName]?.resources?.[rsc]?.failCount ?? 0;
      this.propose({
        change: { op: 'set-fail-count', node: this.nodeName, resource: rsc, failCount: Math.min(INFINITY, previous + 1), lastFailureMs: outcome.wallMs },
        tag: { k: 'note' },
      });
    }
    return true;
  }

  private report(rsc: string, op: OpName, intervalMs: number, outcome: AgentOutcome): void {
    this.events.push({
      type: 'resource',
      event: { rsc, node: this.nodeName ?? '?', op, intervalMs, rc: outcome.rc, ...(outcome.message === undefined ? {} : { message: outcome.message }) },
    });
  }

  /**
   * Call ids order a node's records across its restarts: they continue above anything this node
   * recorded before (an agent runner's own ids restart in every run).
   */
  private nextCallId(): number {
    if (this.callId === undefined) {
      let highest = 0;
      for (const rs of Object.values(this.cib?.status.nodes[this.nodeName ?? '']?.resources ?? {})) {
        for (const r of rs.ops) highest = Math.max(highest, r.callId);
      }
      this.callId = highest;
    }
    this.callId += 1;
    return this.callId;
  }

  // ---------------------------------------------------------------------------------- stopping

  /** Stops everything here, in reverse start order, within selfStopMs, unless the policy says otherwise. */
  private selfStop(reason: string, nowMs: number): void {
    const policy = this.cib?.config.properties?.noQuorumPolicy ?? 'stop';
    if (policy === 'ignore' || policy === 'freeze' || this.stopAll !== undefined || !this.busyOrActive()) return;
    // Bug 'no-self-stop' (simulator): a node cut off from the majority keeps everything running.
    if (this.o.injectedBugs?.has('no-self-stop') === true) return;
    this.error('SANODE_SELF_STOP', `stopping resources on ${this.nodeName}: ${reason}`);
    // Once quorum and lease are back, this node probes again and records what it found, so the
    // coordinator does not keep believing the stopped resources run here.
    this.probed = false;
    this.probe = undefined;
    this.beginStopAll(nowMs + this.o.selfStopMs);
  }

  private beginStopAll(endMs: number): void {
    const run = ++this.stopRun;
    const ids = [...this.rsc].filter(([, s]) => s.active || s.starting).sort(([, a], [, b]) => b.since - a.since).map(([id]) => id);
    for (const id of ids) this.state(id).monitors = [];
    this.stopAll = { run, endMs, order: ids };
  }

  /** The stop sequence hands over one stop at a time (a group's later members stop first). */
  private progressStopAll(): void {
    const s = this.stopAll;
    if (s === undefined || this.anyStopping()) return;
    const id = s.order.shift();
    if (id === undefined) return;
    const primitive = this.primitive(id);
    const endMs = s.endMs;
    this.enqueue(id, {
      op: 'stop',
      intervalMs: 0,
      // The budget is shared: the whole self-stop ends in time.
      timeoutMs: () => Math.max(1, Math.min(endMs - this.lastNowMs, primitive === undefined ? DEFAULT_OP_TIMEOUT_MS : opTimeout(primitive, 'stop', 0))),
      purpose: { k: 'stop-all', run: s.run },
    });
  }

  private anyStopping(): boolean {
    for (const f of this.inFlight.values()) if (f.purpose.k === 'stop-all') return true;
    for (const s of this.rsc.values()) if (s.queue.some((q) => q.purpose.k === 'stop-all')) return true;
    return false;
  }

  private progressLeave(nowMs: number): void {
    const leave = this.leave;
    if (leave === undefined || leave.phase === 'done') return;
    if (leave.phase === 'draining') {
      const coordinatorDone = this.epoch === undefined || this.engine.settled;
      // The stops must be in the CIB before this node leaves the view, or the coordinator would
      // count its resources as running there until the lost-node deadline.
      const drained = !this.busyOrActive() && this.inFlight.size === 0 && this.outstanding === 0 && coordinatorDone;
      if (!drained && this.quorate && nowMs < leave.deadlineMs) return;
      leave.phase = 'stopping';
      if (this.busyOrActive() && this.stopAll === undefined) this.beginStopAll(nowMs + this.o.selfStopMs * 4);
    }
    if (leave.phase === 'stopping' && this.stopAll === undefined && !this.busyOrActive() && this.inFlight.size === 0 && (this.outstanding === 0 || !this.quorate || nowMs >= leave.deadlineMs + this.o.selfStopMs * 4)) {
      leave.phase = 'done';
      this.events.push({ type: 'left' });
    }
  }

  // ---------------------------------------------------------------------------------- operations

  private enqueue(rsc: string, pending: Pending): void {
    this.state(rsc).queue.push(pending);
  }

  private dispatch(nowMs: number): void {
    this.progressStopAll();
    for (const [id, state] of this.rsc) {
      if (state.busy !== undefined || state.holding !== undefined) continue;
      const next = state.queue.shift();
      if (next === undefined) continue;
      const primitive = this.primitive(id);
      const starts = next.purpose.k === 'exec' && (next.op === 'start' || next.op === 'promote');
      if (starts && !this.mayStart(nowMs)) {
        // Its lease ran out while the start waited (a node resumed from a freeze delivers its own
        // pending record from the old ring before it learns of the new one: simulator seed
        // 25959). The others may already have started the resource past this node's deadline;
        // starting it here too would run it twice. Nothing ran: say so where a record was made.
        if (next.recorded === true) this.abandonRecordedStart(id);
        this.declinePending(next);
        continue;
      }
      if (primitive !== undefined && starts && next.recorded !== true && this.nodeName !== undefined) {
        // Recorded as pending first (pacemaker's record-pending), so that whoever plans next sees it may run here.
        state.holding = next;
        const record = { op: next.op, intervalMs: 0, rc: RC_PENDING, timeMs: this.lastWallMs, callId: this.nextCallId() };
        this.propose({ change: { op: 'record-op', node: this.nodeName, resource: id, record }, tag: { k: 'pending', rsc: id, coordinator: next.purpose.coordinator, view: next.purpose.view } });
        continue;
      }
      if (primitive === undefined) {
        // Removed from the configuration meanwhile: nothing to run; the coordinator re-plans.
        if (next.purpose.k === 'exec') this.answer(next.purpose.epoch, next.purpose.req.key, RC.ERR_CONFIGURED);
        if (next.purpose.k === 'probe' && this.probe?.round === next.purpose.round) {
          this.probe.waiting--;
          this.finishProbeIfDone();
        }
        continue;
      }
      const opId = this.nextOpId++;
      const timeoutMs = typeof next.timeoutMs === 'number' ? next.timeoutMs : next.timeoutMs();
      state.busy = opId;
      if (next.op === 'start' || next.op === 'promote') {
        state.starting = true;
        // A start in flight is the newest thing here: a self-stop takes it first.
        if (!state.active) state.since = ++this.activeCounter;
      }
      this.inFlight.set(opId, { rsc: id, op: next.op, intervalMs: next.intervalMs, purpose: next.purpose });
      this.operations.push({ opId, rsc: id, op: next.op, intervalMs: next.intervalMs, timeoutMs, primitive });
    }
    void nowMs;
    // A stop handed over just now may have been the last one; the sequence continues on its result.
  }

  private dueMonitors(nowMs: number): void {
    for (const [id, state] of this.rsc) {
      if (!state.active || state.busy !== undefined || state.queue.length > 0) continue;
      for (const m of state.monitors) {
        if (m.dueMs > nowMs) continue;
        // Due again only once this one has answered.
        m.dueMs = Number.POSITIVE_INFINITY;
        this.enqueue(id, { op: 'monitor', intervalMs: m.intervalMs, timeoutMs: m.timeoutMs, purpose: { k: 'monitor', intervalMs: m.intervalMs } });
        break;
      }
    }
  }

  /** The resource's recurring monitors for its role (a promoted instance has its own). */
  private startMonitors(rsc: string, role: 'Started' | 'Promoted', nowMs: number): void {
    const primitive = this.primitive(rsc);
    const state = this.state(rsc);
    state.monitors = [];
    if (primitive === undefined || this.leave !== undefined || this.stopAll !== undefined) return;
    for (const op of primitive.ops ?? []) {
      if (op.name !== 'monitor' || op.intervalMs <= 0) continue;
      if ((op.role === 'Promoted') !== (role === 'Promoted')) continue;
      // The start just proved it running: only a change from here is news.
      state.monitors.push({ intervalMs: op.intervalMs, timeoutMs: op.timeoutMs, dueMs: nowMs + op.intervalMs, lastRc: role === 'Promoted' ? RC.RUNNING_PROMOTED : RC.SUCCESS });
    }
  }

  // ---------------------------------------------------------------------------------- helpers

  private setActive(rsc: string, state: RscState, active: boolean): void {
    if (active && !state.active) state.since = ++this.activeCounter;
    state.active = active;
    if (!active) state.monitors = [];
  }

  private busyOrActive(): boolean {
    for (const s of this.rsc.values()) if (s.active || s.starting) return true;
    return false;
  }

  private state(rsc: string): RscState {
    let s = this.rsc.get(rsc);
    if (s === undefined) {
      s = { active: false, since: 0, starting: false, busy: undefined, holding: undefined, queue: [], monitors: [] };
      this.rsc.set(rsc, s);
    }
    return s;
  }

  private primitive(id: string): PrimitiveConfig | undefined {
    if (this.cib === undefined) return undefined;
    return listPrimitives(this.cib.config).find((i) => i.primitive.id === id)?.primitive;
  }

  private error(code: ErrorCode, message: string): void {
    this.events.push({ type: 'error', error: new SanodeError(code, message) });
  }
}

function opTimeout(primitive: PrimitiveConfig, name: OpName, intervalMs: number): number {
  return primitive.ops?.find((o) => o.name === name && o.intervalMs === intervalMs)?.timeoutMs ?? DEFAULT_OP_TIMEOUT_MS;
}
