/**
 * Who coordinates, with which epoch, and when this node may run its leader-only callbacks.
 * docs/leadership.md gives the safety argument; this file is its code.
 *
 * Takes: installed views with their quorum decision, "the ring is alive" proofs (a token received
 * in the current view), ordered `release` messages, and the current monotonic time.
 * Emits: coordinator changes, leader start/stop for this node, and `release` messages to
 * broadcast in agreed order.
 * Must never: start leading while a previous leader elsewhere may still hold an unexpired lease;
 * read a clock or set a timer itself.
 */
import type { NodeId, View, ViewId } from '../totem/types.js';
import { leaseWindowMs, takeoverWaitMs } from './timing.js';

export interface LeadershipTimers {
  /** A leader without a token for this long stops leading (the runtime's default: token timeout + consensus). */
  readonly leaseMs: number;
  /** The token timeout of the ring: bounds how long after a member left the old ring its leader can still renew. */
  readonly tokenTimeoutMs: number;
  /** Largest relative clock-rate difference between two nodes (0.01 = 1 %). */
  readonly clockDriftRatio: number;
}

/** Epochs are unique per view even when two partitions reuse a seq (two-node clusters). */
export function epochOf(viewId: ViewId): number {
  return viewId.seq * 65_536 + viewId.rep;
}

export type LeadershipEvent =
  | { readonly type: 'coordinator'; readonly node: NodeId | undefined; readonly viewId: ViewId }
  | { readonly type: 'leader-start'; readonly epoch: number }
  | { readonly type: 'leader-stop'; readonly epoch: number; readonly reason: LeaderStopReason };

export type LeaderStopReason = 'not-coordinator' | 'lost-quorum' | 'lease-expired' | 'leaving';

export interface ReleaseMessage {
  readonly type: 'release';
  readonly epoch: number;
}

export interface LeadershipOutput {
  readonly events: readonly LeadershipEvent[];
  readonly broadcasts: readonly ReleaseMessage[];
}

interface Term {
  readonly epoch: number;
  readonly coordinator: NodeId;
}

export class Leadership {
  private readonly nodeId: NodeId;
  private readonly timers: LeadershipTimers;
  private view: View | undefined;
  private quorate = false;
  /** The term of the last quorate view this node installed, whoever led it. */
  private term: Term | undefined;
  /** The term of the quorate view installed just before the current one, if there was no break. */
  private previousTerm: Term | undefined;
  private leading: { epoch: number } | undefined;
  /** This node is coordinator of `term` but may not start before this time (takeover wait). */
  private startNotBeforeMs: number | undefined;
  private lastTokenMs = Number.NEGATIVE_INFINITY;
  /** The latest time given by any input: deadlines at or before it have been handled. */
  private lastNowMs = Number.NEGATIVE_INFINITY;
  private readonly releasedEpochs = new Set<number>();
  private left = false;
  private events: LeadershipEvent[] = [];
  private broadcasts: ReleaseMessage[] = [];

  constructor(nodeId: NodeId, timers: LeadershipTimers) {
    this.nodeId = nodeId;
    this.timers = timers;
  }

  /**
   * The coordinator is a function of the view alone, so every member names the same one without
   * an election. Among the members that come from the newest primary component (the highest
   * primarySeq the ring's commit recorded), the one running the longest (the lowest
   * incarnation), then the lowest id. So neither a node that restarts nor one that was frozen or
   * cut off while the others went on takes the role back from the node that took over from it:
   * that would cost a second leader change and its takeover wait, with no leader meanwhile.
   */
  static coordinatorOf(view: View, quorate: boolean): NodeId | undefined {
    if (!quorate) return undefined;
    const n = view.members.length;
    const incarnations = view.incarnations?.length === n ? view.incarnations : undefined;
    const primarySeqs = view.primarySeqs?.length === n ? view.primarySeqs : undefined;
    let best = 0;
    for (let i = 1; i < n; i++) {
      const primaryOrder = primarySeqs === undefined ? 0 : primarySeqs[i]! - primarySeqs[best]!;
      if (primaryOrder > 0 || (primaryOrder === 0 && incarnations !== undefined && incarnations[i]! < incarnations[best]!)) best = i;
    }
    return view.members[best];
  }

  get isLeader(): boolean {
    return this.leading !== undefined;
  }

  /** True only while this node leads AND its lease is unexpired at `nowMs`: callable after a stall. */
  stillLeader(nowMs: number): boolean {
    this.renewIfAlone(nowMs);
    return this.leading !== undefined && nowMs - this.lastTokenMs < this.leaseWindowMs();
  }

  get currentTerm(): Term | undefined {
    return this.quorate ? this.term : undefined;
  }

  onView(view: View, quorate: boolean, nowMs: number): void {
    if (this.left) return;
    this.lastNowMs = Math.max(this.lastNowMs, nowMs);
    // The lease is judged BEFORE the new view renews it: a leader that was frozen past its lease
    // may have missed views in which another node led, so it must not carry its old term over.
    if (this.leading !== undefined && nowMs - this.lastTokenMs >= this.leaseWindowMs()) this.stopLeading('lease-expired');
    const coordinator = Leadership.coordinatorOf(view, quorate);
    const oldTerm = this.quorate ? this.term : undefined;
    this.view = view;
    this.quorate = quorate;
    // Installing a view proves the ring works right now; the lease restarts from here.
    this.lastTokenMs = nowMs;
    this.events.push({ type: 'coordinator', node: coordinator, viewId: view.id });

    if (coordinator === undefined) {
      this.stopLeading('lost-quorum');
      this.previousTerm = undefined;
      this.term = undefined;
      this.startNotBeforeMs = undefined;
      return;
    }
    // A term continues only through a node that is leading it right now with a valid lease; a
    // node that merely remembers the term (it lapsed, or it was waiting to start) starts over.
    const continues = oldTerm !== undefined && oldTerm.coordinator === coordinator && (coordinator !== this.nodeId || this.leading !== undefined);
    this.previousTerm = oldTerm;
    this.term = continues ? oldTerm : { epoch: epochOf(view.id), coordinator };
    if (coordinator !== this.nodeId) {
      this.stopLeading('not-coordinator');
      this.startNotBeforeMs = undefined;
      return;
    }
    if (continues) {
      // Same term: a running callback keeps running, and a pending takeover wait keeps its
      // deadline (it still protects against the leader before this term).
      this.maybeStart(nowMs);
      return;
    }
    this.startNotBeforeMs = this.canStartEarly() ? nowMs : nowMs + this.takeoverWaitMs();
    this.maybeStart(nowMs);
  }

  /**
   * A token of the current view completed a rotation: the ring (and so the quorum) was intact
   * at `provenAtMs` (when this node last passed it on; TotemOutput.tokenAcceptedMs), which may be
   * long before `nowMs` if the token waited while this process was frozen.
   */
  onToken(provenAtMs: number, nowMs: number): void {
    if (this.left || this.view === undefined) return;
    this.lastNowMs = Math.max(this.lastNowMs, nowMs);
    this.lastTokenMs = Math.max(this.lastTokenMs, provenAtMs);
    this.maybeStart(nowMs);
  }

  /** An ordered `release` from `from`: the node that led `epoch` has stopped its callback. */
  onRelease(from: NodeId, message: ReleaseMessage, nowMs: number): void {
    if (this.left) return;
    this.lastNowMs = Math.max(this.lastNowMs, nowMs);
    // Only the coordinator of a term this node knows can release it: a release is a promise
    // about that node's own callback, and nobody else can make it. It covers every term of that
    // node up to its epoch: a node runs one term's callbacks at a time and sends the release
    // only once they have settled. (A follower may know the term by an older epoch: it cannot see
    // whether the coordinator restarted the term after a lapse, so epochs may differ there.)
    for (const known of [this.term, this.previousTerm]) {
      if (known !== undefined && known.coordinator === from && known.epoch <= message.epoch) {
        this.releasedEpochs.add(known.epoch);
      }
    }
    if (this.startNotBeforeMs !== undefined && this.canStartEarly()) {
      this.startNotBeforeMs = Math.min(this.startNotBeforeMs, nowMs);
      this.maybeStart(nowMs);
    }
  }

  tick(nowMs: number): void {
    if (this.left) return;
    this.lastNowMs = Math.max(this.lastNowMs, nowMs);
    this.renewIfAlone(nowMs);
    if (this.leading !== undefined && nowMs - this.lastTokenMs >= this.leaseWindowMs()) {
      this.stopLeading('lease-expired');
      // Leading may resume in this same term when tokens flow again: a token of this ring proves
      // no member has moved to a newer view, so no other leader can have started meanwhile.
      this.startNotBeforeMs = nowMs;
      return;
    }
    this.maybeStart(nowMs);
  }

  /** Stop leading before leaving, and tell the others so a successor need not wait out the lease. */
  leave(): void {
    if (this.left) return;
    this.stopLeading('leaving');
    this.left = true;
  }

  nextDeadlineMs(): number | undefined {
    if (this.left) return undefined;
    if (this.leading !== undefined) return this.lastTokenMs + this.leaseWindowMs();
    // A start that is due but has not happened waits for an input (a fresh token, a view), not
    // for time: reporting the past deadline again would make a driver spin.
    if (this.startNotBeforeMs !== undefined && this.startNotBeforeMs > this.lastNowMs) return this.startNotBeforeMs;
    return undefined;
  }

  takeOutput(): LeadershipOutput {
    const output = { events: this.events, broadcasts: this.broadcasts };
    this.events = [];
    this.broadcasts = [];
    return output;
  }

  /**
   * A successor may skip the wait only if it knows who led before (it shared that quorate view)
   * and that leader has said, in agreed order, that its callback has stopped.
   */
  private canStartEarly(): boolean {
    const before = this.previousTerm;
    return before !== undefined && this.releasedEpochs.has(before.epoch);
  }

  /**
   * A node alone in its view is its whole ring: there is no token to wait for, and nothing
   * else can prove more. (Only twoNode makes such a view quorate; its split-brain protection is
   * fencing, as in corosync, see docs/leadership.md.)
   */
  private renewIfAlone(nowMs: number): void {
    if (this.view !== undefined && this.view.members.length === 1 && this.view.members[0] === this.nodeId) {
      this.lastTokenMs = Math.max(this.lastTokenMs, nowMs);
    }
  }

  private maybeStart(nowMs: number): void {
    this.renewIfAlone(nowMs);
    if (this.leading !== undefined || this.startNotBeforeMs === undefined || this.term === undefined) return;
    if (!this.quorate || this.term.coordinator !== this.nodeId) return;
    if (nowMs < this.startNotBeforeMs) return;
    if (nowMs - this.lastTokenMs >= this.leaseWindowMs()) return; // no fresh proof the ring is alive
    this.leading = { epoch: this.term.epoch };
    this.startNotBeforeMs = undefined;
    this.events.push({ type: 'leader-start', epoch: this.term.epoch });
  }

  private stopLeading(reason: LeaderStopReason): void {
    if (this.leading === undefined) return;
    const { epoch } = this.leading;
    this.leading = undefined;
    this.events.push({ type: 'leader-stop', epoch, reason });
    if (reason !== 'lease-expired') this.broadcasts.push({ type: 'release', epoch });
  }

  /** A lease is measured on this node's clock (lib/controller/timing.ts). */
  private leaseWindowMs(): number {
    return leaseWindowMs(this.timers);
  }

  /** See docs/leadership.md: the old leader's lease ends before install + token timeout + lease. */
  private takeoverWaitMs(): number {
    return takeoverWaitMs(this.timers);
  }
}
