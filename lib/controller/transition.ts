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
import type { Cib, NodeStatus } from '../cib/model.js';
import type { CibChange } from '../cib/replica.js';
import { schedule, type Action } from '../scheduler/index.js';

/** Plan at least this often while coordinating, so expiring failures are noticed. */
const RECHECK_MS = 5000;

export type ExecOp = 'start' | 'stop' | 'monitor' | 'promote' | 'demote';

export interface ExecRequest {
  /** The scheduler's action id, e.g. `web-ip_start_0@node2`; unique within a plan. */
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
   * How long after a node leaves the view its resources still count as running there: its lease
   * runs out (takeover wait), then it gets `selfStopMs` to stop them, and a VIP held on a kernel
   * lease outlives a killed holder by that lease (docs/resources.md). A function of the CIB,
   * since the configured resources decide the last part.
   */
  readonly lostNodeDeadlineMs: number | ((cib: Cib | undefined) => number);
  /** When this engine starts; nodes not seen in a view since count as lost from then. */
  readonly nowMs: number;
}

export interface TransitionOutput {
  readonly dispatch: readonly ExecRequest[];
  readonly changes: readonly CibChange[];
}

export class TransitionEngine {
  private readonly nodes: readonly string[];
  private readonly deadlineOf: (cib: Cib | undefined) => number;
  private readonly members = new Set<string>();
  /** Configured nodes outside the view, since when. */
  private readonly lostSince = new Map<string, number>();
  /** Lost nodes whose history purge has been proposed for this loss. */
  private readonly purged = new Set<string>();
  private readonly inFlight = new Map<string, ExecRequest>();
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
    for (const name of this.nodes) this.lostSince.set(name, options.nowMs);
  }

  onView(members: readonly string[], nowMs: number): void {
    this.members.clear();
    for (const name of members) this.members.add(name);
    for (const name of this.nodes) {
      if (this.members.has(name)) {
        this.lostSince.delete(name);
        this.purged.delete(name);
      } else if (!this.lostSince.has(name)) {
        this.lostSince.set(name, nowMs);
      }
    }
    // A node that left will never answer; the next plan decides again what it needs.
    for (const [key, request] of this.inFlight) if (!this.members.has(request.node)) this.inFlight.delete(key);
    this.dirty = true;
  }

  onCib(cib: Cib): void {
    this.cib = cib;
    this.dirty = true;
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

  /** Plans and dispatches what is ready now. Call after every input. */
  tick(nowMs: number): void {
    const cib = this.cib;
    if (!this.coordinator || !this.quorate || cib === undefined) return;
    const due = this.nextDeadlineMs();
    if (!this.dirty && (due === undefined || nowMs < due)) return;
    this.dirty = false;
    this.lastPlanMs = nowMs;
    for (const [name, since] of this.lostSince) {
      if (this.purged.has(name) || nowMs < since + this.deadlineOf(cib)) continue;
      this.purged.add(name);
      const status = cib.status.nodes[name];
      if (status === undefined || status.state !== 'offline' || Object.keys(status.resources ?? {}).length > 0) {
        this.changes.push({ op: 'clear-node-resources', node: name });
      }
    }
    const plan = schedule(this.overlay(cib, nowMs), { quorate: true, nowMs });
    const planned = new Set(plan.actions.map((a) => a.id));
    // A member still probing may run anything (a start from an older term may even be in flight
    // there): until it has said what, only stops go out.
    const probing = [...this.members].some((name) => cib.status.nodes[name]?.state !== 'online');
    for (const action of plan.actions) {
      if (probing && action.kind !== 'stop' && action.kind !== 'demote') continue;
      // Recurring monitors are the node's own business once a start succeeds (ResourceManager),
      // so a coordinator that takes over mid-way has nothing to re-create.
      if (this.inFlight.has(action.id) || action.rsc === undefined || action.kind === 'fence' || action.kind === 'monitor') continue;
      if (!this.usable(cib, action.node)) continue; // stops on a lost node complete at its deadline
      if (action.deps.some((d) => planned.has(d))) continue;
      const request = toRequest(action, action.rsc);
      this.inFlight.set(request.key, request);
      this.dispatch.push(request);
    }
  }

  /**
   * When to plan again without news: a lost node's deadline, or the recheck that lets
   * time-based rules (failure-timeout) take effect, like pacemaker's cluster-recheck-interval.
   */
  nextDeadlineMs(): number | undefined {
    if (!this.coordinator || !this.quorate || this.cib === undefined) return undefined;
    let next: number | undefined = this.lastPlanMs + RECHECK_MS;
    for (const [name, since] of this.lostSince) {
      if (this.purged.has(name)) continue;
      const at = since + this.deadlineOf(this.cib);
      next = next === undefined ? at : Math.min(next, at);
    }
    return next;
  }

  takeOutput(): TransitionOutput {
    const out = { dispatch: this.dispatch, changes: this.changes };
    this.dispatch = [];
    this.changes = [];
    return out;
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
      const since = this.lostSince.get(name);
      if (since === undefined) {
        nodes[name] = status?.state === 'online' ? status : { ...status, state: 'offline' };
      } else if (nowMs < since + this.deadlineOf(cib) && !this.purged.has(name)) {
        nodes[name] = { ...status, state: 'online', standby: true };
      } else {
        nodes[name] = { ...status, state: 'offline' };
      }
    }
    return { ...cib, status: { nodes } };
  }
}

function toRequest(action: Action, rsc: string): ExecRequest {
  return {
    key: action.id,
    node: action.node,
    rsc,
    op: action.kind as ExecOp,
    intervalMs: action.intervalMs ?? 0,
    timeoutMs: action.timeoutMs ?? 20_000,
  };
}
