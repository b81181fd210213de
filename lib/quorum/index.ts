/**
 * Quorum, as corosync's votequorum decides it — a pure function of the view, the configuration
 * and a little history (wait_for_all, last_man_standing), with no clock or I/O of its own.
 *
 * Takes: the members of the current view, the configuration, and the history the tracker keeps.
 * Emits: whether this partition is quorate, and why.
 * Must never: make two disjoint partitions quorate at the same time. The majority rule and the
 * tie-breaks below preserve that (a majority of expected votes, or exactly half with a
 * deterministic tie-break only one side can win). Two options do not, and say so:
 *  - twoNode: each half of a cut is quorate by design (as corosync's two_node); fencing decides.
 *
 * lastManStanding is made safe without fencing, unlike votequorum's: lowering expected votes is a
 * reconfiguration of the quorum system, and it is done like one (see `QuorumTracker`): the set of
 * nodes whose majority counts is versioned, changed only by an agreed-order proposal from a
 * quorate view, committed once every node of the new set has stored it, and until then a view
 * must be quorate under the old set AND the new one. Members exchange what they know in agreed
 * order before a view that could hold stale knowledge is decided. (corosync's lowers expected
 * votes locally, so a later split can leave two partitions quorate: the simulator's seed 1975
 * with `--quorum last-man-standing` did exactly that to the first version of this file.)
 */
import { ConfigError } from '../errors/index.js';

export type NodeId = number;

export interface QuorumNode {
  readonly id: NodeId;
  /** Votes this node carries (votequorum's quorum_votes); default 1. */
  readonly votes?: number;
}

export interface QuorumConfig {
  readonly nodes: readonly QuorumNode[];
  /** Default: the sum of all configured votes. */
  readonly expectedVotes?: number;
  /** Two nodes, each quorate alone (implies waitForAll unless it is explicitly false). */
  readonly twoNode?: boolean;
  /** After a full start, no quorum until every node has been seen in one view. */
  readonly waitForAll?: boolean;
  /**
   * The set of nodes whose majority counts shrinks to the members of a view that has been quorate
   * and stable for the window (and grows back as nodes return). Safe without fencing: see
   * `QuorumTracker`.
   */
  readonly lastManStanding?: boolean;
  readonly lastManStandingWindowMs?: number;
  /** In an exactly even split, the side holding the tie-break node wins. */
  readonly autoTieBreaker?: boolean;
  /** 'lowest' (default), 'highest', or node ids in order of preference. */
  readonly autoTieBreakerNodes?: 'lowest' | 'highest' | readonly NodeId[];
  /**
   * How the runtime's asynchronous tie-breaker check (a ping of the gateway, a lease on an
   * arbiter) is used in an exactly even split:
   *  - 'vote': it grants the deciding vote, as corosync's quorum device does. The check MUST be
   *    exclusive (grant at most one partition), e.g. an atomic lease on an arbiter.
   *  - 'veto': a non-exclusive check (a ping can succeed on both sides) may only veto the side
   *    autoTieBreaker chose; it never makes the other side quorate.
   */
  readonly tieBreaker?: 'none' | 'vote' | 'veto';
}

/** Defaults filled in and checked; every function below takes this form. */
export interface ResolvedQuorumConfig {
  readonly votes: ReadonlyMap<NodeId, number>;
  readonly expectedVotes: number;
  readonly twoNode: boolean;
  readonly waitForAll: boolean;
  readonly lastManStanding: boolean;
  readonly lastManStandingWindowMs: number;
  readonly autoTieBreaker: boolean;
  readonly autoTieBreakerNodes: 'lowest' | 'highest' | readonly NodeId[];
  readonly tieBreaker: 'none' | 'vote' | 'veto';
}

export function resolveQuorumConfig(config: QuorumConfig, field = 'quorum'): ResolvedQuorumConfig {
  if (!Array.isArray(config.nodes) || config.nodes.length === 0) {
    throw new ConfigError(`${field}.nodes`, 'needs at least one node, e.g. [{ id: 1 }, { id: 2 }, { id: 3 }]');
  }
  const votes = new Map<NodeId, number>();
  config.nodes.forEach((node, i) => {
    if (!Number.isInteger(node.id) || node.id <= 0) {
      throw new ConfigError(`${field}.nodes[${i}].id`, `must be a positive integer, got ${String(node.id)}`);
    }
    if (votes.has(node.id)) throw new ConfigError(`${field}.nodes[${i}].id`, `node id ${node.id} appears twice`);
    const v = node.votes ?? 1;
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      throw new ConfigError(`${field}.nodes[${i}].votes`, `must be an integer 0..255, got ${String(v)}`);
    }
    votes.set(node.id, v);
  });
  const total = [...votes.values()].reduce((a, b) => a + b, 0);
  if (total === 0) throw new ConfigError(`${field}.nodes`, 'the nodes carry no votes at all; give at least one node a vote');
  const twoNode = config.twoNode ?? false;
  if (twoNode && (votes.size !== 2 || total !== 2)) {
    throw new ConfigError(`${field}.twoNode`, `needs exactly two nodes with one vote each; this cluster has ${votes.size} nodes and ${total} votes`);
  }
  const expectedVotes = config.expectedVotes ?? total;
  if (!Number.isInteger(expectedVotes) || expectedVotes < 1) {
    throw new ConfigError(`${field}.expectedVotes`, `must be a positive integer, got ${String(expectedVotes)}`);
  }
  if (expectedVotes < total) {
    // Below the configured total, two disjoint partitions could both reach "more than half".
    throw new ConfigError(`${field}.expectedVotes`, `${expectedVotes} is below the ${total} votes the nodes carry; that would allow two quorate partitions. Remove it or set it to at least ${total}`);
  }
  const lastManStandingWindowMs = config.lastManStandingWindowMs ?? 10_000;
  if (!Number.isFinite(lastManStandingWindowMs) || lastManStandingWindowMs < 0) {
    throw new ConfigError(`${field}.lastManStandingWindowMs`, `must be a non-negative number of milliseconds, got ${String(lastManStandingWindowMs)}`);
  }
  const autoTieBreakerNodes = config.autoTieBreakerNodes ?? 'lowest';
  if (Array.isArray(autoTieBreakerNodes)) {
    autoTieBreakerNodes.forEach((id, i) => {
      if (!votes.has(id)) throw new ConfigError(`${field}.autoTieBreakerNodes[${i}]`, `node ${id} is not a configured node`);
    });
  } else if (autoTieBreakerNodes !== 'lowest' && autoTieBreakerNodes !== 'highest') {
    throw new ConfigError(`${field}.autoTieBreakerNodes`, `must be 'lowest', 'highest' or a list of node ids, got ${String(autoTieBreakerNodes)}`);
  }
  const tieBreaker = config.tieBreaker ?? 'none';
  if (!['none', 'vote', 'veto'].includes(tieBreaker)) {
    throw new ConfigError(`${field}.tieBreaker`, `must be 'none', 'vote' or 'veto', got ${String(tieBreaker)}`);
  }
  const autoTieBreaker = config.autoTieBreaker ?? false;
  if (tieBreaker === 'veto' && !autoTieBreaker) {
    throw new ConfigError(`${field}.tieBreaker`, "'veto' only restricts the side autoTieBreaker picks; set autoTieBreaker: true, or use 'vote' with an exclusive arbiter");
  }
  return {
    votes,
    expectedVotes,
    twoNode,
    waitForAll: config.waitForAll ?? twoNode,
    lastManStanding: config.lastManStanding ?? false,
    lastManStandingWindowMs,
    autoTieBreaker,
    autoTieBreakerNodes,
    tieBreaker,
  };
}

/** What the pure decision needs beyond the view itself. */
export interface QuorumHistory {
  /** wait_for_all is satisfied (every node seen in one view since start, or joined a quorate partition). */
  readonly waitForAllSatisfied: boolean;
  /** The runtime's tie-breaker check result for this view; undefined when not (yet) known. */
  readonly tieBreakerGranted: boolean | undefined;
}

export type QuorumReason =
  | 'majority'
  | 'two-node'
  | 'auto-tie-breaker'
  | 'tie-breaker-vote'
  | 'no-majority'
  | 'lost-tie-break'
  | 'tie-breaker-vetoed'
  | 'tie-breaker-pending'
  | 'waiting-for-all'
  /** lastManStanding: the members' quorum knowledge is still being exchanged for this view. */
  | 'exchanging-state';

export interface QuorumDecision {
  readonly quorate: boolean;
  readonly reason: QuorumReason;
  readonly totalVotes: number;
  readonly expectedVotes: number;
  /** Votes needed for a plain majority: floor(expected / 2) + 1. */
  readonly quorumVotes: number;
}

export function votesOf(config: ResolvedQuorumConfig, members: readonly NodeId[]): number {
  // A member listed twice counts once; views are small, so a scan beats building a Set.
  let total = 0;
  for (let i = 0; i < members.length; i++) {
    const id = members[i]!;
    if (members.indexOf(id) === i) total += config.votes.get(id) ?? 0;
  }
  return total;
}

/**
 * The node whose side wins an exactly even split. It is chosen among all configured voting
 * nodes, never among the members seen: both sides of a split must name the same node without
 * talking to each other, so a side wins only by holding it. If that node is down, neither side
 * of an even split is quorate — safe, and last man standing can recover from it.
 */
export function tieBreakNode(config: ResolvedQuorumConfig): NodeId | undefined {
  const preference = config.autoTieBreakerNodes;
  if (Array.isArray(preference)) return preference[0];
  const ids = [...config.votes.keys()].filter((id) => (config.votes.get(id) ?? 0) > 0).sort((a, b) => a - b);
  return preference === 'lowest' ? ids[0] : ids.at(-1);
}

export function decideQuorum(config: ResolvedQuorumConfig, members: readonly NodeId[], history: QuorumHistory): QuorumDecision {
  const totalVotes = votesOf(config, members);
  const expectedVotes = Math.max(totalVotes, config.expectedVotes);
  const quorumVotes = Math.floor(expectedVotes / 2) + 1;
  const decision = (quorate: boolean, reason: QuorumReason): QuorumDecision => ({
    quorate,
    reason,
    totalVotes,
    expectedVotes,
    quorumVotes,
  });

  if (config.waitForAll && !history.waitForAllSatisfied) return decision(false, 'waiting-for-all');
  if (totalVotes >= quorumVotes) return decision(true, 'majority');
  if (config.twoNode && totalVotes >= 1) return decision(true, 'two-node');

  const evenSplit = totalVotes * 2 === expectedVotes;
  if (!evenSplit) return decision(false, 'no-majority');

  if (config.tieBreaker === 'vote') {
    if (history.tieBreakerGranted === undefined) return decision(false, 'tie-breaker-pending');
    return history.tieBreakerGranted ? decision(true, 'tie-breaker-vote') : decision(false, 'lost-tie-break');
  }
  if (config.autoTieBreaker) {
    const winner = tieBreakNode(config);
    if (winner === undefined || !members.includes(winner)) return decision(false, 'lost-tie-break');
    if (config.tieBreaker === 'veto') {
      if (history.tieBreakerGranted === undefined) return decision(false, 'tie-breaker-pending');
      if (!history.tieBreakerGranted) return decision(false, 'tie-breaker-vetoed');
    }
    return decision(true, 'auto-tie-breaker');
  }
  return decision(false, 'no-majority');
}

/**
 * One version of the set of nodes whose majority counts under last man standing. Version 0 is
 * the configured cluster. Versions are ordered by (version, seq, rep) — seq/rep being the ring of
 * the view that proposed it — so two proposals of the same version (made by views that never
 * heard of each other) still have one winner, and it is the later one.
 */
export interface LmsConfig {
  readonly version: number;
  readonly seq: number;
  readonly rep: NodeId;
  /** Voting members, sorted. */
  readonly members: readonly NodeId[];
  readonly expected: number;
  /** The set this one replaced; a view must also be quorate under it until this one commits. */
  readonly prev?: { readonly members: readonly NodeId[]; readonly expected: number };
}

/** What a node knows and persists: the newest set it has stored, and who is known to have stored it. */
export interface LmsKnowledge {
  readonly config: LmsConfig;
  /** Members of `config` known to have stored it; when it covers them all, the set is committed. */
  readonly acked: readonly NodeId[];
}

/** Broadcast in agreed order: a member's report of what it knows, or a coordinator's proposal. */
export interface LmsNote {
  readonly kind: 'report' | 'propose';
  readonly knowledge: LmsKnowledge;
}

export function compareLmsConfigs(a: LmsConfig, b: LmsConfig): number {
  return a.version - b.version || a.seq - b.seq || a.rep - b.rep;
}

export function isLmsCommitted(k: LmsKnowledge): boolean {
  return k.config.version === 0 || k.config.members.every((id) => k.acked.includes(id));
}

/** Checks persisted or received knowledge against this cluster's configuration. */
export function parseLmsKnowledge(config: ResolvedQuorumConfig, raw: unknown): LmsKnowledge | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const k = raw as { config?: unknown; acked?: unknown };
  const c = k.config as Record<string, unknown> | undefined;
  const ids = (v: unknown): NodeId[] | undefined =>
    Array.isArray(v) && v.every((id) => Number.isInteger(id) && config.votes.has(id as NodeId)) ? [...new Set(v as NodeId[])].sort((a, b) => a - b) : undefined;
  const count = (v: unknown): number | undefined => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined);
  if (typeof c !== 'object' || c === null) return undefined;
  const version = count(c['version']);
  const seq = count(c['seq']);
  const rep = count(c['rep']);
  const members = ids(c['members']);
  const expected = count(c['expected']);
  const acked = ids(k.acked);
  if (version === undefined || seq === undefined || rep === undefined || members === undefined || expected === undefined || acked === undefined) return undefined;
  if (members.length === 0 || expected < 1) return undefined;
  let prev: LmsConfig['prev'];
  if (c['prev'] !== undefined) {
    const p = c['prev'] as Record<string, unknown> | null;
    const prevMembers = ids(p?.['members']);
    const prevExpected = count(p?.['expected']);
    if (prevMembers === undefined || prevExpected === undefined || prevExpected < 1) return undefined;
    prev = { members: prevMembers, expected: prevExpected };
  }
  if (version > 0 && prev === undefined) return undefined;
  return { config: { version, seq, rep, members, expected, ...(prev === undefined ? {} : { prev }) }, acked };
}

export interface QuorumTrackerOptions {
  /** This node (last man standing needs it to acknowledge sets it stores). */
  readonly nodeId?: NodeId;
  /** Last man standing knowledge persisted by an earlier incarnation. */
  readonly persisted?: LmsKnowledge;
}

/**
 * Keeps the history `decideQuorum` needs, fed with views, ordered notes and time. Sans-IO:
 * `nowMs` comes in, notes to broadcast and state to persist go out (`takeNotes`, `takePersist`).
 *
 * Last man standing, made safe. The set S whose majority counts is versioned (LmsConfig). Only
 * the lowest member of a quorate view whose set is committed proposes a new set: the view's
 * voting members, after the view has been stable for the window (or at once when the view only
 * adds nodes). Every node that delivers a proposal newer than what it knows stores it (persists
 * it before saying so) and reports it; a node of the new set that has stored it acks it by that
 * report. The set is committed once all its nodes are known to have stored it. Then:
 *  - a view whose newest known set is committed needs a majority of it;
 *  - a view whose newest known set is not committed needs a majority of it AND of the set it
 *    replaced (joint quorum, as in Raft's joint consensus).
 * Why two disjoint views can never both be quorate: a proposal comes from a view quorate under
 * S_k, so S_{k+1} holds a majority of S_k. Once S_{k+1} is committed, each of its nodes knows it,
 * so a view still deciding under S_k alone contains none of them, yet needs a majority of S_k —
 * impossible. Before the commit, every view that knows either set needs a majority of S_k, and
 * two majorities of S_k intersect. Two proposals of the same version can exist only when the
 * earlier one was stored by nodes the later proposer never met; the later one (higher ring seq)
 * wins wherever both are known, and a view knowing only the earlier one is joint, so it needs a
 * majority of S_k, which contains a node of the later, committed set — which would have told it.
 *
 * Deciding therefore needs every member's knowledge: a view waits (reason 'exchanging-state')
 * until each member's report of this view has been delivered. Views that shrink a quorate view
 * skip the wait when all their members came from this node's previous ring (totem's transitional
 * set): they delivered the same notes there, so they know the same sets. This keeps a leader
 * leading through the death of a follower.
 * Sets never shrink below 2 votes without autoTieBreaker: a lone survivor of a 2-way split cannot
 * tell a dead peer from a cut-off one (the floor votequorum keeps too).
 */
export class QuorumTracker {
  private readonly config: ResolvedQuorumConfig;
  private readonly nodeId: NodeId | undefined;
  private members: readonly NodeId[] = [];
  private viewId: { seq: number; rep: NodeId } = { seq: 0, rep: 0 };
  private viewSinceMs = 0;
  private waitForAllSatisfied: boolean;
  private tieBreakerGranted: boolean | undefined;
  private current: QuorumDecision;
  private lms: LmsKnowledge;
  private reported = new Set<NodeId>();
  private exchangeDone = true;
  private provisional = false;
  private proposedInView = false;
  private notes: LmsNote[] = [];
  private persistDue = false;

  constructor(config: ResolvedQuorumConfig, options: QuorumTrackerOptions = {}) {
    this.config = config;
    this.nodeId = options.nodeId;
    this.waitForAllSatisfied = !config.waitForAll;
    const configured = [...config.votes.keys()].filter((id) => (config.votes.get(id) ?? 0) > 0).sort((a, b) => a - b);
    const initial: LmsKnowledge = { config: { version: 0, seq: 0, rep: 0, members: configured, expected: config.expectedVotes }, acked: [] };
    const persisted = options.persisted === undefined ? undefined : parseLmsKnowledge(config, options.persisted);
    this.lms = persisted !== undefined && compareLmsConfigs(persisted.config, initial.config) > 0 ? persisted : initial;
    this.current = this.decide();
  }

  history(): QuorumHistory {
    return { waitForAllSatisfied: this.waitForAllSatisfied, tieBreakerGranted: this.tieBreakerGranted };
  }

  get decision(): QuorumDecision {
    return this.current;
  }

  /** The last man standing knowledge to persist (also what `takePersist` hands out). */
  get knowledge(): LmsKnowledge {
    return this.lms;
  }

  /** A new view was installed. Returns the new decision. */
  onView(
    members: readonly NodeId[],
    nowMs: number,
    viewId?: { readonly seq: number; readonly rep: NodeId },
    transitional?: readonly NodeId[],
  ): QuorumDecision {
    const wasSettledQuorate = this.current.quorate && (this.exchangeDone || this.provisional);
    this.members = [...members];
    this.viewId = viewId === undefined ? { seq: this.viewId.seq + 1, rep: members[0] ?? 0 } : { seq: viewId.seq, rep: viewId.rep };
    this.viewSinceMs = nowMs;
    this.tieBreakerGranted = undefined; // a new view needs a new answer from the check
    const allConfigured = [...this.config.votes.keys()].every((id) => members.includes(id));
    if (allConfigured) this.waitForAllSatisfied = true;
    if (this.config.lastManStanding) {
      this.reported = new Set();
      this.exchangeDone = false;
      this.proposedInView = false;
      // Every member comes from this node's previous ring (totem's transitional set) and so
      // delivered the same notes there: they know what this node knows.
      this.provisional = wasSettledQuorate && transitional !== undefined && members.every((id) => transitional.includes(id));
      this.notes.push({ kind: 'report', knowledge: this.lms });
    }
    return this.recompute();
  }

  /** A last man standing note from `from` was delivered in agreed order. */
  onLmsNote(from: NodeId, note: LmsNote): QuorumDecision {
    if (!this.config.lastManStanding) return this.current;
    const knowledge = parseLmsKnowledge(this.config, note.knowledge);
    if (knowledge === undefined) return this.current;
    if (note.kind === 'report' && this.members.includes(from)) this.reported.add(from);
    this.learn(knowledge);
    if (!this.exchangeDone && this.members.every((id) => this.reported.has(id))) this.exchangeDone = true;
    return this.recompute();
  }

  /**
   * A member of the current view reported (over the ordered channel) that it is quorate and its
   * wait_for_all is satisfied: a node joining an already quorate partition need not wait for all.
   */
  onMemberQuorate(member: NodeId): QuorumDecision {
    if (this.members.includes(member)) this.waitForAllSatisfied = true;
    return this.recompute();
  }

  onTieBreakerResult(granted: boolean): QuorumDecision {
    this.tieBreakerGranted = granted;
    return this.recompute();
  }

  /** Time passed: propose a new last man standing set if this node should. */
  tick(nowMs: number): QuorumDecision {
    const proposal = this.proposalDue();
    if (proposal !== undefined && (proposal.grows || nowMs - this.viewSinceMs >= this.config.lastManStandingWindowMs)) {
      this.proposedInView = true;
      this.notes.push({ kind: 'propose', knowledge: { config: proposal.config, acked: [] } });
    }
    // Nothing decide() reads changes with time alone (a proposal counts once it is delivered),
    // and every node calls this each turn: the decision stands.
    return this.current;
  }

  /** When `tick` must next be called for last man standing, if ever. */
  nextDeadlineMs(): number | undefined {
    const proposal = this.proposalDue();
    if (proposal === undefined) return undefined;
    return proposal.grows ? this.viewSinceMs : this.viewSinceMs + this.config.lastManStandingWindowMs;
  }

  /** Notes to broadcast in agreed order, oldest first. */
  takeNotes(): LmsNote[] {
    const out = this.notes;
    this.notes = [];
    return out;
  }

  /** Knowledge to persist BEFORE the notes taken with it are sent, or undefined if unchanged. */
  takePersist(): LmsKnowledge | undefined {
    if (!this.persistDue) return undefined;
    this.persistDue = false;
    return this.lms;
  }

  private learn(k: LmsKnowledge): void {
    const order = compareLmsConfigs(k.config, this.lms.config);
    if (order < 0) return;
    const acked = new Set(order > 0 ? k.acked : [...this.lms.acked, ...k.acked]);
    const storing = order > 0 && this.nodeId !== undefined && k.config.members.includes(this.nodeId);
    if (storing) acked.add(this.nodeId!);
    if (order === 0 && acked.size === this.lms.acked.length) return;
    this.lms = { config: k.config, acked: [...acked].sort((a, b) => a - b) };
    this.persistDue = true;
    // Storing a newer set is acknowledged by reporting it (after the driver has persisted it).
    if (storing) this.notes.push({ kind: 'report', knowledge: this.lms });
  }

  private proposalDue(): { config: LmsConfig; grows: boolean } | undefined {
    if (!this.config.lastManStanding || !this.exchangeDone || !this.current.quorate || this.proposedInView) return undefined;
    if (this.nodeId === undefined || this.members[0] !== this.nodeId || !isLmsCommitted(this.lms)) return undefined;
    const target = this.members.filter((id) => (this.config.votes.get(id) ?? 0) > 0).sort((a, b) => a - b);
    const now = this.lms.config;
    if (target.length === now.members.length && target.every((id, i) => id === now.members[i])) return undefined;
    const grows = now.members.every((id) => target.includes(id));
    const targetVotes = votesOf(this.config, target);
    const floor = Math.min(this.config.autoTieBreaker ? 1 : 2, this.config.expectedVotes);
    if (!grows && targetVotes < floor) return undefined;
    const all = [...this.config.votes.keys()].filter((id) => (this.config.votes.get(id) ?? 0) > 0);
    const expected = all.every((id) => target.includes(id)) ? this.config.expectedVotes : targetVotes;
    return {
      grows,
      config: { version: now.version + 1, seq: this.viewId.seq, rep: this.viewId.rep, members: target, expected, prev: { members: now.members, expected: now.expected } },
    };
  }

  /** The quorum rules applied to one set: votes outside it do not count. */
  private restrictTo(members: readonly NodeId[], expected: number): ResolvedQuorumConfig {
    const votes = new Map<NodeId, number>();
    for (const [id, v] of this.config.votes) votes.set(id, members.includes(id) ? v : 0);
    const preference = this.config.autoTieBreakerNodes;
    const inSet = Array.isArray(preference) ? preference.filter((id) => members.includes(id)) : [];
    return {
      ...this.config,
      votes,
      expectedVotes: expected,
      twoNode: this.config.twoNode && members.length === 2,
      autoTieBreakerNodes: Array.isArray(preference) ? (inSet.length > 0 ? inSet : 'lowest') : preference,
    };
  }

  private decide(): QuorumDecision {
    if (!this.config.lastManStanding) return decideQuorum(this.config, this.members, this.history());
    const k = this.lms;
    const underNew = decideQuorum(this.restrictTo(k.config.members, k.config.expected), this.members, this.history());
    if (!this.exchangeDone && !this.provisional) return { ...underNew, quorate: false, reason: 'exchanging-state' };
    if (isLmsCommitted(k) || k.config.prev === undefined) return underNew;
    const underOld = decideQuorum(this.restrictTo(k.config.prev.members, k.config.prev.expected), this.members, this.history());
    return underOld.quorate ? underNew : { ...underNew, quorate: false, reason: underOld.reason };
  }

  private recompute(): QuorumDecision {
    this.current = this.decide();
    return this.current;
  }
}
