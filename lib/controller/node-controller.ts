/**
 * One node's quorum + leadership wiring, shared by the real runtime (lib/runtime/cluster.ts) and
 * the simulator (lib/sim), so both drive the pure machines the same way.
 *
 * Takes: the totem core's views, its token proofs (`tokenAcceptedMs`), sanode's own control
 * messages delivered in agreed order, tie-breaker results, and the current monotonic time.
 * Emits: quorum decisions per view, the leadership events (coordinator, leader-start,
 * leader-stop), control messages to broadcast in agreed order (quorate notes), releases to
 * broadcast once the leader callbacks have settled, and requests to run the tie-breaker check.
 * Must never: read a clock, set a timer, or broadcast by itself (the driver does all three).
 *
 * Every input is one turn, as in the runtime: apply the input, then `quorum.tick(now)` and
 * `leadership.tick(now)`, then the driver takes the output and re-arms its timer at
 * `nextDeadlineMs()`.
 */
import type { NodeId, View, ViewId } from '../totem/types.js';
import type { LmsKnowledge, LmsNote, QuorumDecision, QuorumTrackerOptions, ResolvedQuorumConfig } from '../quorum/index.js';
import { QuorumTracker } from '../quorum/index.js';
import { Leadership, type LeadershipEvent, type LeadershipTimers, type ReleaseMessage } from './leadership.js';

/** sanode's own ordered messages (the runtime sends them on its control channel). */
export type ControlMessage =
  | { readonly t: 'release'; readonly epoch: number }
  | { readonly t: 'quorate' }
  | { readonly t: 'tiebreak'; readonly seq: number; readonly rep: number; readonly granted: boolean }
  /** Last man standing: a member's report ('r') or the lowest member's proposal ('p'); checked by the tracker. */
  | { readonly t: 'lms'; readonly k: 'r' | 'p'; readonly kn: LmsKnowledge };

/** Validates a decoded control message from the wire (a member may run another version). */
export function parseControlMessage(body: unknown): ControlMessage | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const m = body as Record<string, unknown>;
  if (m['t'] === 'release' && typeof m['epoch'] === 'number') return { t: 'release', epoch: m['epoch'] };
  if (m['t'] === 'quorate') return { t: 'quorate' };
  if (m['t'] === 'tiebreak' && typeof m['seq'] === 'number' && typeof m['rep'] === 'number') {
    return { t: 'tiebreak', seq: m['seq'], rep: m['rep'], granted: m['granted'] === true };
  }
  // The knowledge itself is checked against the cluster's configuration by the quorum tracker.
  if (m['t'] === 'lms' && (m['k'] === 'r' || m['k'] === 'p') && typeof m['kn'] === 'object' && m['kn'] !== null) {
    return { t: 'lms', k: m['k'], kn: m['kn'] as LmsKnowledge };
  }
  return undefined;
}

export type NodeControllerEvent =
  | { readonly type: 'quorum'; readonly viewId: ViewId; readonly decision: QuorumDecision }
  | LeadershipEvent;

export interface NodeControllerOutput {
  /** In the order they happened. A 'quorum' event comes only when the view or decision changed. */
  readonly events: readonly NodeControllerEvent[];
  /** Control messages to broadcast in agreed order now (quorate notes). */
  readonly controls: readonly ControlMessage[];
  /**
   * Releases: broadcast each as `{ t: 'release', epoch }` in agreed order, but only once this
   * node's leader callbacks have settled (a release promises they have stopped).
   */
  readonly releases: readonly ReleaseMessage[];
  /** Run the tie-breaker check for this view and broadcast its result as a 'tiebreak' control. */
  readonly tieBreakerFor: View | undefined;
  /** Last man standing knowledge to persist BEFORE the controls of this output are broadcast. */
  readonly persist: LmsKnowledge | undefined;
}

/** The parts of QuorumTracker the controller uses (a harness may wrap it). */
export type QuorumMachine = Pick<
  QuorumTracker,
  'decision' | 'onView' | 'onLmsNote' | 'onMemberQuorate' | 'onTieBreakerResult' | 'tick' | 'nextDeadlineMs' | 'takeNotes' | 'takePersist'
>;
/** The parts of Leadership the controller uses (a harness may wrap it). */
export type LeadershipMachine = Pick<
  Leadership,
  'isLeader' | 'currentTerm' | 'stillLeader' | 'onView' | 'onToken' | 'onRelease' | 'tick' | 'leave' | 'nextDeadlineMs' | 'takeOutput'
>;

export interface NodeControllerOptions {
  readonly nodeId: NodeId;
  readonly quorum: ResolvedQuorumConfig;
  readonly leadership: LeadershipTimers;
  /** Tests and the simulator may substitute the machines (e.g. to inject bugs); default: the real ones. */
  readonly createQuorum?: (config: ResolvedQuorumConfig, options: QuorumTrackerOptions) => QuorumMachine;
  /** Last man standing knowledge persisted by an earlier incarnation of this node. */
  readonly persistedLms?: LmsKnowledge | undefined;
  readonly createLeadership?: (nodeId: NodeId, timers: LeadershipTimers) => LeadershipMachine;
}

/**
 * The lease and takeover defaults the runtime uses. The lease outlives the membership change
 * that follows the loss of another node (token loss, then at most a consensus period of
 * gathering). `tokenTimeoutMs` is the ring's effective token timeout for `nodes` configured
 * nodes (stretched by tokenPerMemberMs like the totem core's), because the takeover argument is
 * about the ring's actual token timeout.
 */
export function defaultLeadershipTimers(
  timers: { readonly tokenTimeoutMs: number; readonly consensusMs: number; readonly tokenPerMemberMs?: number | undefined },
  nodes: number,
  overrides: { readonly leaseMs?: number | undefined; readonly clockDriftRatio?: number | undefined } = {},
): LeadershipTimers {
  const tokenTimeoutMs = timers.tokenTimeoutMs + Math.max(0, nodes - 2) * (timers.tokenPerMemberMs ?? 0);
  return {
    leaseMs: overrides.leaseMs ?? tokenTimeoutMs + timers.consensusMs,
    tokenTimeoutMs,
    clockDriftRatio: overrides.clockDriftRatio ?? 0.01,
  };
}

export class NodeController {
  readonly nodeId: NodeId;
  private readonly quorumConfig: ResolvedQuorumConfig;
  private readonly quorum: QuorumMachine;
  private readonly leadership: LeadershipMachine;
  private view: View | undefined;
  /** The view and decision last reported as a 'quorum' event. */
  private lastQuorum: { seq: number; rep: NodeId; quorate: boolean; reason: QuorumDecision['reason']; expectedVotes: number } | undefined;
  private events: NodeControllerEvent[] = [];
  private controls: ControlMessage[] = [];
  private releases: ReleaseMessage[] = [];
  private tieBreakerFor: View | undefined;
  private persist: LmsKnowledge | undefined;
  /** What leadership was last told about this view's quorum. */
  private leadershipQuorate = false;
  private left = false;

  constructor(options: NodeControllerOptions) {
    this.nodeId = options.nodeId;
    this.quorumConfig = options.quorum;
    const quorumOptions: QuorumTrackerOptions = { nodeId: options.nodeId, ...(options.persistedLms === undefined ? {} : { persisted: options.persistedLms }) };
    this.quorum = options.createQuorum?.(options.quorum, quorumOptions) ?? new QuorumTracker(options.quorum, quorumOptions);
    this.leadership = options.createLeadership?.(options.nodeId, options.leadership) ?? new Leadership(options.nodeId, options.leadership);
  }

  get currentView(): View | undefined {
    return this.view;
  }

  get decision(): QuorumDecision {
    return this.quorum.decision;
  }

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  get currentTerm(): { readonly epoch: number; readonly coordinator: NodeId } | undefined {
    return this.leadership.currentTerm;
  }

  stillLeader(nowMs: number): boolean {
    return this.leadership.stillLeader(nowMs);
  }

  /** The totem core installed a view; `transitional` is the core's transitional set for it. */
  onView(view: View, nowMs: number, transitional?: readonly NodeId[]): void {
    this.turn(nowMs, () => {
      this.view = view;
      const decision = this.quorum.onView(view.members, nowMs, view.id, transitional);
      this.noteQuorum();
      this.leadership.onView(view, decision.quorate, nowMs);
      this.leadershipQuorate = decision.quorate;
      // A node that joins an already quorate partition need not wait for all (votequorum).
      if (decision.quorate && this.quorumConfig.waitForAll) this.controls.push({ t: 'quorate' });
      if (decision.reason === 'tie-breaker-pending' && view.members[0] === this.nodeId) this.tieBreakerFor = view;
    });
  }

  /** The totem core accepted a new token of the installed ring; `provenAtMs` is TotemOutput.tokenAcceptedMs. */
  onToken(provenAtMs: number, nowMs: number): void {
    this.turn(nowMs, () => this.leadership.onToken(provenAtMs, nowMs));
  }

  /** A control message from `from` was delivered in agreed order. */
  onControl(from: NodeId, message: ControlMessage, nowMs: number): void {
    this.turn(nowMs, () => {
      const view = this.view;
      if (message.t === 'release') {
        this.leadership.onRelease(from, { type: 'release', epoch: message.epoch }, nowMs);
      } else if (message.t === 'quorate') {
        this.quorum.onMemberQuorate(from);
      } else if (message.t === 'lms') {
        this.quorum.onLmsNote(from, { kind: message.k === 'p' ? 'propose' : 'report', knowledge: message.kn });
      } else if (view !== undefined && message.seq === view.id.seq && message.rep === view.id.rep) {
        this.quorum.onTieBreakerResult(message.granted);
      }
    });
  }

  /** A timer fired (or the driver noticed a stall): check the lease and last man standing. */
  tick(nowMs: number): void {
    this.turn(nowMs, () => undefined);
  }

  /** Graceful leave: stop leading; the release comes out of takeOutput(). */
  leave(): void {
    if (this.left) return;
    this.leadership.leave();
    this.left = true;
    this.collect();
  }

  /** The earliest deadline of the two machines (each reports only deadlines still ahead). */
  nextDeadlineMs(): number | undefined {
    // A node that left ticks nothing (turn() returns at once), so a last man standing proposal
    // still due would report the same past deadline forever: a driver spinning on its timer
    // (simulator seed 92196, a leave while the view shrank).
    if (this.left) return undefined;
    const a = this.leadership.nextDeadlineMs();
    const b = this.quorum.nextDeadlineMs();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  takeOutput(): NodeControllerOutput {
    const out = { events: this.events, controls: this.controls, releases: this.releases, tieBreakerFor: this.tieBreakerFor, persist: this.persist };
    this.events = [];
    this.controls = [];
    this.releases = [];
    this.tieBreakerFor = undefined;
    this.persist = undefined;
    return out;
  }

  private turn(nowMs: number, input: () => void): void {
    if (this.left) return;
    input();
    this.quorum.tick(nowMs);
    this.noteQuorum();
    // Quorum can change within a view (a member's note, the tie-breaker's answer, an exchange
    // of last man standing knowledge completing); leadership follows it.
    const view = this.view;
    if (view !== undefined && this.quorum.decision.quorate !== this.leadershipQuorate) {
      this.leadershipQuorate = this.quorum.decision.quorate;
      this.leadership.onView(view, this.leadershipQuorate, nowMs);
    }
    this.leadership.tick(nowMs);
    this.collect();
  }

  private collect(): void {
    const persist = this.quorum.takePersist();
    if (persist !== undefined) this.persist = persist;
    for (const note of this.quorum.takeNotes()) this.controls.push(lmsControl(note));
    const out = this.leadership.takeOutput();
    for (const e of out.events) this.events.push(e);
    for (const r of out.broadcasts) this.releases.push(r);
  }

  private noteQuorum(): void {
    const view = this.view;
    if (view === undefined) return;
    const d = this.quorum.decision;
    // Runs every turn: compare the fields instead of building a key.
    const last = this.lastQuorum;
    if (last !== undefined && last.seq === view.id.seq && last.rep === view.id.rep && last.quorate === d.quorate && last.reason === d.reason && last.expectedVotes === d.expectedVotes) return;
    this.lastQuorum = { seq: view.id.seq, rep: view.id.rep, quorate: d.quorate, reason: d.reason, expectedVotes: d.expectedVotes };
    this.events.push({ type: 'quorum', viewId: view.id, decision: d });
  }
}

function lmsControl(note: LmsNote): ControlMessage {
  return { t: 'lms', k: note.kind === 'propose' ? 'p' : 'r', kn: note.knowledge };
}
