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
 *  - lastManStanding: expected votes lowered inside one partition are unknown to nodes outside
 *    it, so a later split can leave two partitions quorate (the simulator reproduces it:
 *    `npm run sim -- --seeds 1975 --nodes 5 --faults partition --quorum last-man-standing`).
 *    Like corosync's, it is safe only if nodes that left are really down (fencing). Making it
 *    safe without fencing needs members to exchange their quorum state in agreed order before a
 *    view's quorum is decided; that is not built yet.
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
   * Expected votes shrink to the current votes after a stable quorate window. UNSAFE without
   * fencing: nodes that left but are alive (cut off, not dead) can later form a second quorate
   * partition. See the header of this file.
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
  /** Expected votes as last man standing has lowered them; undefined when it never has. */
  readonly lastManStandingExpectedVotes: number | undefined;
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
  | 'waiting-for-all';

export interface QuorumDecision {
  readonly quorate: boolean;
  readonly reason: QuorumReason;
  readonly totalVotes: number;
  readonly expectedVotes: number;
  /** Votes needed for a plain majority: floor(expected / 2) + 1. */
  readonly quorumVotes: number;
}

export function votesOf(config: ResolvedQuorumConfig, members: readonly NodeId[]): number {
  let total = 0;
  for (const id of new Set(members)) total += config.votes.get(id) ?? 0;
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
  const expectedVotes = Math.max(
    totalVotes,
    history.lastManStandingExpectedVotes ?? config.expectedVotes,
  );
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
 * Keeps the history `decideQuorum` needs, fed with views and time. Sans-IO: `nowMs` comes in.
 *
 * Last man standing lowers expected votes only after the membership has been stable AND quorate
 * for the whole window: lowering it while not quorate could let a minority promote itself.
 * It never lowers below 2 votes without autoTieBreaker (a lone survivor of a 2-way split could
 * not tell a dead peer from a cut-off one) — the same floor votequorum keeps.
 */
export class QuorumTracker {
  private readonly config: ResolvedQuorumConfig;
  private members: readonly NodeId[] = [];
  private viewSinceMs = 0;
  private waitForAllSatisfied: boolean;
  private lastManStandingExpectedVotes: number | undefined;
  private tieBreakerGranted: boolean | undefined;
  private current: QuorumDecision;

  constructor(config: ResolvedQuorumConfig) {
    this.config = config;
    this.waitForAllSatisfied = !config.waitForAll;
    this.current = decideQuorum(config, [], this.history());
  }

  history(): QuorumHistory {
    return {
      waitForAllSatisfied: this.waitForAllSatisfied,
      lastManStandingExpectedVotes: this.lastManStandingExpectedVotes,
      tieBreakerGranted: this.tieBreakerGranted,
    };
  }

  get decision(): QuorumDecision {
    return this.current;
  }

  /** A new view was installed. Returns the new decision. */
  onView(members: readonly NodeId[], nowMs: number): QuorumDecision {
    this.members = [...members];
    this.viewSinceMs = nowMs;
    this.tieBreakerGranted = undefined; // a new view needs a new answer from the check
    const allConfigured = [...this.config.votes.keys()].every((id) => members.includes(id));
    if (allConfigured) this.waitForAllSatisfied = true;
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

  /** Time passed: apply last man standing if its window has elapsed. */
  tick(nowMs: number): QuorumDecision {
    if (this.config.lastManStanding && this.current.quorate && nowMs - this.viewSinceMs >= this.config.lastManStandingWindowMs) {
      const target = this.lastManStandingTarget();
      if (target !== undefined) this.lastManStandingExpectedVotes = target;
    }
    return this.recompute();
  }

  /** When `tick` must next be called for last man standing, if ever. */
  nextDeadlineMs(): number | undefined {
    if (!this.config.lastManStanding || !this.current.quorate) return undefined;
    // Only when the window can still lower something: otherwise a passed deadline would be
    // reported forever and a driver would spin.
    if (this.lastManStandingTarget() === undefined) return undefined;
    return this.viewSinceMs + this.config.lastManStandingWindowMs;
  }

  /** The expected votes last man standing would lower to now, or undefined if it would not lower. */
  private lastManStandingTarget(): number | undefined {
    const floor = this.config.autoTieBreaker ? 1 : 2;
    const target = Math.max(this.current.totalVotes, Math.min(floor, this.config.expectedVotes));
    const currentExpected = this.lastManStandingExpectedVotes ?? this.config.expectedVotes;
    return target < currentExpected ? target : undefined;
  }

  private recompute(): QuorumDecision {
    this.current = decideQuorum(this.config, this.members, this.history());
    // Votes that come back raise expected votes again (max with total), as votequorum does.
    if (this.lastManStandingExpectedVotes !== undefined && this.current.totalVotes > this.lastManStandingExpectedVotes) {
      this.lastManStandingExpectedVotes = Math.min(this.current.totalVotes, this.config.expectedVotes);
      this.current = decideQuorum(this.config, this.members, this.history());
    }
    return this.current;
  }
}
