/**
 * The coordinator's transition engine (pacemaker-controld's job on the DC): it re-runs the
 * scheduler on every relevant change and dispatches the actions whose dependencies are done.
 *
 * Takes: the view (which configured nodes are members), the CIB as every node has applied it,
 * whether this node is coordinator, action results, and the current time.
 * Emits: exec requests addressed to nodes, CIB changes to propose (the purge of a lost node's
 * history once its self-stop deadline has passed), and when it next needs the time.
 * Must never: read a clock, set a timer or send anything itself; dispatch an action to a node
 * outside the view; start a resource taken from a lost node before that node's self-stop
 * deadline has passed.
 *
 * It re-plans from scratch every time instead of executing a stored graph: results are recorded
 * in the CIB (in agreed order, before the result message), so a fresh plan already leaves out
 * what is done, and the coordinator that takes over after a failover plans from the same CIB
 * with nothing to hand over. An action still in flight is never sent twice.
 */
import { INFINITY, listPrimitives, type Cib, type Constraint, type NodeStatus } from '../cib/model.js';
import type { CibChange } from '../cib/replica.js';
import { schedule, type Action } from '../scheduler/index.js';
import { readCluster } from '../scheduler/state.js';
import { restartBackoffMs } from './timing.js';

/** Plan at least this often while coordinating, so expiring failures are noticed. */
const RECHECK_MS = 5000;
/** An action in flight that has not answered this long after its own timeout is given up. */
const IN_FLIGHT_MARGIN_MS = 10_000;

export type ExecOp = 'start' | 'stop' | 'monitor' | 'promote' | 'demote';

export interface ExecRequest {
  /** The scheduler's action id and a dispatch serial, e.g. `web-ip_start_0@node2#17`: unique per dispatch. */
  readonly key: string;
  readonly node: string;
  readonly rsc: string;
  readonly op: ExecOp;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface TransitionOptions {
  /** Every configured node name. */
  readonly nodes: readonly string[];
  /**
   * How long after a lost node's last lease proof its resources still count as running there:
   * its lease, then the longest holdover of the configured resources (timing.ts
   * lostNodeDeadlineMs, docs/resources.md). A function of the CIB, since the configured
   * resources decide the last part.
   */
  readonly lostNodeDeadlineMs: number | ((cib: Cib | undefined) => number);
  /**
   * Added to the view change (or to this engine's start) for a lost node whose last proof this
   * node cannot bound by a token it saw (timing.ts unprovenLastProofMs); default 0.
   */
  readonly unprovenMarginMs?: number | undefined;
  /** When this engine starts; nodes not seen in a view since count as lost from then. */
  readonly nowMs: number;
  /** The growing wait before restarting a resource on a node where it keeps failing (timing.ts). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number } | undefined;
  /** Simulator only: core bugs the checkers must catch (lib/sim/bugs.ts). */
  readonly injectedBugs?: ReadonlySet<string> | undefined;
}

export interface TransitionOutput {
  readonly dispatch: readonly ExecRequest[];
  readonly changes: readonly CibChange[];
  readonly failovers: readonly FailoverReport[];
}

/**
 * Where one failover's time went, as the coordinator saw it (docs/resources.md, "Where a
 * failover's time goes"). Times are ms on the coordinator's monotonic clock, counted from the
 * last token this node handled of a ring with the lost node (the fault came after it), or, when
 * it had none, from its view change plus the unproven margin (`proven: false`).
 */
export interface FailoverReport {
  readonly node: string;
  readonly proven: boolean;
  /** The view without the node was installed here. */
  readonly viewMs: number;
  /** Its lease and holdover were over: its resources counted as stopped from here. */
  readonly deadlineMs: number;
  /** Each resource it ran, and when this node learned it had started elsewhere (absent: not yet). */
  readonly resources: readonly { readonly rsc: string; readonly startedOn?: string; readonly startedMs?: number }[];
  /** Reported before every resource had started elsewhere (the node came back, or 60 s passed). */
  readonly incomplete: boolean;
}

/** A failover report is sent at the latest this long after its deadline. */
const FAILOVER_REPORT_MAX_MS = 60_000;

interface OpenFailover {
  readonly node: string;
  readonly proven: boolean;
  readonly proofAtMs: number;
  readonly viewAtMs: number;
  readonly deadlineAtMs: number;
  readonly started: Map<string, { node: string; atMs: number } | undefined>;
}

export class TransitionEngine {
  private nodes: readonly string[];
  private readonly deadlineOf: (cib: Cib | undefined) => number;
  private readonly backoff: { readonly baseMs: number; readonly maxMs: number } | undefined;
  private readonly bugs: ReadonlySet<string>;
  /** When this engine first saw each node/resource's current fail count (monotonic ms). */
  private readonly failSeen = new Map<string, { count: number; atMs: number }>();
  /** Dispatches so far: makes every request key unique. */
  private dispatched = 0;
  /** The last plan dispatched everything it had and nothing is in flight. */
  private quiet = false;
  private readonly members = new Set<string>();
  /**
   * Configured nodes outside the view: the latest time (on this node's clock) at which each may
   * have renewed its lease. Its resources count as active until that plus the deadline.
   */
  private readonly lostProof = new Map<string, number>();
  /** Lost nodes, when this node installed the view without them, and whether a token dated them. */
  private readonly lostSeen = new Map<string, { viewAtMs: number; proven: boolean }>();
  private readonly openFailovers = new Map<string, OpenFailover>();
  private failovers: FailoverReport[] = [];
  private readonly unprovenMarginMs: number;
  /** Lost nodes whose history purge has been proposed for this loss. */
  private readonly purged = new Set<string>();
  private readonly inFlight = new Map<string, ExecRequest & { readonly sentMs: number }>();
  private cib: Cib | undefined;
  private coordinator = false;
  private quorate = false;
  private dispatch: ExecRequest[] = [];
  /** Something changed since the last plan. */
  private dirty = true;
  private lastPlanMs = -Infinity;
  private changes: CibChange[] = [];

  constructor(options: TransitionOptions) {
    this.nodes = [...options.nodes];
    const deadline = options.lostNodeDeadlineMs;
    this.deadlineOf = typeof deadline === 'number' ? () => deadline : deadline;
    this.backoff = options.backoff;
    this.bugs = options.injectedBugs ?? new Set();
    this.unprovenMarginMs = options.unprovenMarginMs ?? 0;
    for (const name of this.nodes) this.lostProof.set(name, options.nowMs + this.unprovenMarginMs);
  }

  /** The configured node names changed (the CIB's node list): a new name counts as lost until seen. */
  setNodes(nodes: readonly string[], nowMs: number): void {
    this.nodes = [...nodes];
    for (const name of nodes) if (!this.members.has(name) && !this.lostProof.has(name)) this.lostProof.set(name, nowMs + this.unprovenMarginMs);
    for (const name of [...this.lostProof.keys()]) if (!nodes.includes(name)) this.lostProof.delete(name);
    this.dirty = true;
  }

  /** Nothing left to do: the last plan had no action to send or wait for, and no result is due. */
  get settled(): boolean {
    return this.quiet && this.inFlight.size === 0 && !this.dirty;
  }

  /**
   * A view was installed. `lastRingProofMs(name)`: this node's last token (or install) of a ring
   * that contained `name`, if any: a newly lost node renewed its lease no later than that
   * (timing.ts); without one, the view change plus the unproven margin bounds it.
   */
  onView(members: readonly string[], nowMs: number, lastRingProofMs?: (name: string) => number | undefined): void {
    this.members.clear();
    for (const name of members) this.members.add(name);
    for (const name of this.nodes) {
      if (this.members.has(name)) {
        this.lostProof.delete(name);
        this.lostSeen.delete(name);
        this.purged.delete(name);
        this.closeFailover(name, true);
      } else if (this.lostProof.has(name)) {
        // Its purge may have been cut off by this view change: a purge is proposed only in the
        // view it was decided in (local-resources.ts, tag 'decision'), so decide it again here.
        this.purged.delete(name);
      } else {
        const proven = lastRingProofMs?.(name);
        this.lostProof.set(name, proven !== undefined ? Math.min(proven, nowMs) : nowMs + this.unprovenMarginMs);
        this.lostSeen.set(name, { viewAtMs: nowMs, proven: proven !== undefined });
      }
    }
    // Actions sent in the old view are void: a node runs an action only if it is delivered in the
    // view it was sent in (local-resources.ts), and one that already runs is in the CIB as pending.
    // The next plan decides again what is needed.
    this.inFlight.clear();
    this.dirty = true;
  }

  onCib(cib: Cib, nowMs = 0): void {
    this.cib = cib;
    this.dirty = true;
    for (const [node, status] of Object.entries(cib.status.nodes)) {
      for (const [rsc, rs] of Object.entries(status.resources ?? {})) {
        const key = `${node}\u0000${rsc}`;
        const count = rs.failCount ?? 0;
        const seen = this.failSeen.get(key);
        if (count === 0) this.failSeen.delete(key);
        else if (seen === undefined || count > seen.count) this.failSeen.set(key, { count, atMs: nowMs });
      }
    }
  }

  /** This node coordinates (it leads a quorate view, after the takeover wait) or stops doing so. */
  setCoordinator(coordinator: boolean, quorate: boolean): void {
    // Results of a term that ended are not waited for: the next coordinator plans from the CIB.
    if (!coordinator) this.inFlight.clear();
    this.coordinator = coordinator;
    this.quorate = quorate;
    this.dirty = true;
  }

  onResult(key: string): void {
    this.inFlight.delete(key);
    this.dirty = true;
  }

  /**
   * Plans and dispatches what is ready now. Call after every input. `wallNowMs` (wall-clock ms)
   * decides which failures have expired, since failure records carry wall-clock stamps.
   */
  tick(nowMs: number, wallNowMs?: number): void {
    const cib = this.cib;
    if (!this.coordinator || !this.quorate || cib === undefined) return;
    const due = this.nextDeadlineMs();
    if (!this.dirty && (due === undefined || nowMs < due)) return;
    this.dirty = false;
    this.lastPlanMs = nowMs;
    for (const [name, since] of this.lostProof) {
      const deadlinePassed = nowMs >= since + this.deadlineOf(cib) || this.bugs.has('start-before-deadline');
      if (this.purged.has(name) || !deadlinePassed) continue;
      this.purged.add(name);
      this.openFailover(cib, name, since, nowMs);
      const status = cib.status.nodes[name];
      if (status === undefined || status.state !== 'offline' || Object.keys(status.resources ?? {}).length > 0) {
        this.changes.push({ op: 'clear-node-resources', node: name });
      }
    }
    this.progressFailovers(cib, nowMs);
    // Actions planned from a CIB that does not show what is in flight could contradict it (start
    // a resource elsewhere while its start here is still running): like pacemaker, a new plan
    // waits until the actions of the last one have answered. One that never answers (its node
    // stays in the view but says nothing) is given up after its timeout and a margin.
    for (const [key, f] of this.inFlight) if (nowMs >= f.sentMs + f.timeoutMs + IN_FLIGHT_MARGIN_MS) this.inFlight.delete(key);
    if (this.inFlight.size > 0 && !this.bugs.has('plan-over-in-flight')) {
      this.dirty = true;
      this.quiet = false;
      return;
    }
    const plan = schedule(this.overlay(cib, nowMs), { quorate: true, nowMs: wallNowMs ?? nowMs });
    const planned = new Set(plan.actions.map((a) => a.id));
    // A member still probing may run anything (a start from an older term may even be in flight
    // there): until it has said what, only stops go out. A member the CIB does not list runs no
    // resources and never probes (SANODE_NODE_NOT_IN_CIB): it must not hold every start back.
    const probing = [...this.members].some((name) => this.nodes.includes(name) && cib.status.nodes[name]?.state !== 'online');
    let waiting = 0;
    for (const action of plan.actions) {
      // Recurring monitors are the node's own business once a start succeeds (LocalResources),
      // so a coordinator that takes over mid-way has nothing to re-create.
      if (action.rsc === undefined || action.kind === 'fence' || action.kind === 'monitor') continue;
      waiting++;
      if (probing && action.kind !== 'stop' && action.kind !== 'demote') continue;
      if (this.inFlight.has(action.id)) continue;
      if (!this.usable(cib, action.node)) continue; // stops on a lost node complete at its deadline
      if (action.deps.some((d) => planned.has(d))) continue;
      // Keys are unique per dispatch, not per action: a late result of an earlier start of the
      // same resource on the same node must not be taken for this one's (simulator seed 414).
      const request = toRequest(action, action.rsc, ++this.dispatched);
      this.inFlight.set(request.key, { ...request, sentMs: nowMs });
      this.dispatch.push(request);
    }
    this.quiet = waiting === 0;
  }

  /** Until when a start of `rsc` on `node` waits because it keeps failing there (undefined: it need not). */
  private backingOff(rsc: string, node: string, nowMs: number): number | undefined {
    if (this.backoff === undefined || this.bugs.has('no-backoff')) return undefined;
    const seen = this.failSeen.get(`${node}\u0000${rsc}`);
    if (seen === undefined) return undefined;
    const until = seen.atMs + restartBackoffMs(seen.count, this.backoff.baseMs, this.backoff.maxMs);
    return nowMs < until ? until : undefined;
  }

  /**
   * When to plan again without news: a lost node's deadline, or the recheck that lets
   * time-based rules (failure-timeout) take effect, like pacemaker's cluster-recheck-interval.
   */
  nextDeadlineMs(): number | undefined {
    if (!this.coordinator || !this.quorate || this.cib === undefined) return undefined;
    let next: number | undefined = this.lastPlanMs + RECHECK_MS;
    for (const [name, since] of this.lostProof) {
      if (this.purged.has(name)) continue;
      const at = since + this.deadlineOf(this.cib);
      next = next === undefined ? at : Math.min(next, at);
    }
    for (const f of this.inFlight.values()) {
      const at = f.sentMs + f.timeoutMs + IN_FLIGHT_MARGIN_MS;
      next = next === undefined ? at : Math.min(next, at);
    }
    for (const [key, seen] of this.failSeen) {
      if (this.backoff === undefined || seen.count < 2) continue;
      const at = seen.atMs + restartBackoffMs(seen.count, this.backoff.baseMs, this.backoff.maxMs);
      if (at > this.lastPlanMs) next = next === undefined ? at : Math.min(next, at);
      void key;
    }
    return next;
  }

  takeOutput(): TransitionOutput {
    const out = { dispatch: this.dispatch, changes: this.changes, failovers: this.failovers };
    this.dispatch = [];
    this.changes = [];
    this.failovers = [];
    return out;
  }

  /** A lost node's deadline passed: note what it ran, to report when each has started elsewhere. */
  private openFailover(cib: Cib, node: string, proofAtMs: number, nowMs: number): void {
    const seen = this.lostSeen.get(node);
    if (seen === undefined) return; // lost since this engine started: no failover seen here
    if (this.openFailovers.has(node)) return; // decided again after a view change: same failover
    const started = new Map<string, { node: string; atMs: number } | undefined>();
    for (const p of readCluster(cib, listPrimitives(cib.config), nowMs).primitives.values()) {
      if (p.info.clone === undefined && p.active.some((a) => a.node === node && !a.failed)) started.set(p.info.primitive.id, undefined);
    }
    if (started.size === 0) return;
    this.openFailovers.set(node, { node, proven: seen.proven, proofAtMs, viewAtMs: seen.viewAtMs, deadlineAtMs: nowMs, started });
  }

  /** Notes starts elsewhere from the CIB; reports each failover once all have started, or at its limit. */
  private progressFailovers(cib: Cib, nowMs: number): void {
    if (this.openFailovers.size === 0) return;
    const cluster = readCluster(cib, listPrimitives(cib.config), nowMs);
    for (const f of this.openFailovers.values()) {
      for (const [rsc, start] of f.started) {
        if (start !== undefined) continue;
        const elsewhere = cluster.primitives.get(rsc)?.active.find((a) => a.node !== f.node && !a.failed);
        if (elsewhere !== undefined) f.started.set(rsc, { node: elsewhere.node, atMs: nowMs });
      }
      if ([...f.started.values()].every((s) => s !== undefined)) this.closeFailover(f.node, false);
      else if (nowMs >= f.deadlineAtMs + FAILOVER_REPORT_MAX_MS) this.closeFailover(f.node, true);
    }
  }

  private closeFailover(node: string, early: boolean): void {
    const f = this.openFailovers.get(node);
    if (f === undefined) return;
    this.openFailovers.delete(node);
    const rel = (atMs: number): number => Math.round(atMs - f.proofAtMs);
    const resources = [...f.started].map(([rsc, s]) => (s === undefined ? { rsc } : { rsc, startedOn: s.node, startedMs: rel(s.atMs) }));
    this.failovers.push({
      node, proven: f.proven, viewMs: rel(f.viewAtMs), deadlineMs: rel(f.deadlineAtMs), resources,
      incomplete: early || resources.some((r) => r.startedMs === undefined),
    });
  }

  /** A member that has probed its resources and said so (state 'online' in the CIB). */
  private usable(cib: Cib, name: string): boolean {
    return this.members.has(name) && cib.status.nodes[name]?.state === 'online';
  }

  /**
   * The CIB as the scheduler must see it: members count only once they have probed; a lost node
   * is in standby until its deadline (its resources must leave, and their stops — never sent —
   * hold back the starts elsewhere); after the deadline it is offline.
   */
  private overlay(cib: Cib, nowMs: number): Cib {
    const nodes: Record<string, NodeStatus> = {};
    for (const name of this.nodes) {
      const status = cib.status.nodes[name];
      const since = this.lostProof.get(name);
      if (since === undefined) {
        nodes[name] = status?.state === 'online' ? status : { ...status, state: 'offline' };
      } else if (nowMs < since + this.deadlineOf(cib) && !this.purged.has(name) && !this.bugs.has('start-before-deadline')) {
        nodes[name] = { ...status, state: 'online', standby: true };
      } else {
        nodes[name] = { ...status, state: 'offline' };
      }
    }
    // A resource backing off on a node is banned there until the wait is over, so the plan as a
    // whole accounts for it: holding back only the start of a move, while its stop went out,
    // left the scheduler flipping between two placements (simulator seed 414).
    const bans: Constraint[] = [];
    for (const { primitive, top } of listPrimitives(cib.config)) {
      for (const name of this.nodes) {
        if (this.backingOff(primitive.id, name, nowMs) === undefined) continue;
        const id = `sanode-backoff-${top.id}-on-${name}`;
        if (!bans.some((b) => b.id === id)) bans.push({ kind: 'location', id, rsc: top.id, node: name, score: -INFINITY });
      }
    }
    const config = bans.length === 0 ? cib.config : { ...cib.config, constraints: [...(cib.config.constraints ?? []), ...bans] };
    return { ...cib, config, status: { nodes } };
  }
}

function toRequest(action: Action, rsc: string, serial: number): ExecRequest {
  return {
    key: `${action.id}#${serial}`,
    node: action.node,
    rsc,
    op: action.kind as ExecOp,
    intervalMs: action.intervalMs ?? 0,
    timeoutMs: action.timeoutMs ?? 20_000,
  };
}
