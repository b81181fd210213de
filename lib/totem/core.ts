/**
 * The totem state machine: membership (gather → commit → recovery → operational) and agreed
 * order on a token ring. Sans-IO: time is the `nowMs` argument, timers are deadlines in one table
 * polled by `tick`, and every effect is queued for `takeOutput()`. See docs/totem.md for the
 * argument behind each guarantee.
 */
import {
  asWire,
  Kind,
  parseMessage,
  senderIncarnation,
  type CommitInfoMsg,
  type CommitMsg,
  type CommitReqMsg,
  type JoinMsg,
  type LeaveMsg,
  type McastMsg,
  type OldRingInfo,
  type ParsedMsg,
  type ProbeMsg,
  type ReadyMsg,
  type RecoverDataMsg,
  type RecoverReqMsg,
  type RingMessage,
  type TokenAckMsg,
  type TokenMsg,
} from './messages.js';
import {
  edgeKey,
  flatEdges,
  flatLeft,
  groupOf,
  mergeSets,
  sameIds,
  setsKey,
  type GatherSets,
} from './membership.js';
import { validateTotemConfig } from './config.js';
import type {
  BroadcastResult,
  NodeId,
  SafeMark,
  Send,
  TotemConfig,
  TotemCore,
  TotemEvent,
  TotemMessage,
  TotemOutput,
  TotemStatus,
  TotemTimers,
  View,
  ViewId,
} from './types.js';

type State = TotemStatus['state'];

type TimerName =
  | 'tokenLoss'
  | 'tokenRetransmit'
  | 'tokenHold'
  | 'mergeDetect'
  | 'join'
  | 'failToRecv'
  | 'consensus'
  | 'formation'
  | 'phaseRetransmit';

/** Retransmit requests carried by one token, at most (bounds token size). */
const rtrMax = 256;
/** Messages per recovery data packet, at most (also bounded in bytes by maxPayloadBytes). */
export const RECOVER_CHUNK_MESSAGES_MAX = 32;
const recoverChunkMessages = RECOVER_CHUNK_MESSAGES_MAX;
/** Seqs per recovery request, at most. */
const recoverRequestSeqsMax = 512;

function invariant(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`totem invariant: ${what}`);
}

function compareViewId(a: ViewId, b: ViewId): number {
  return a.seq - b.seq || a.rep - b.rep;
}

/** One ring (view): its ordered messages and token bookkeeping. */
interface RingState {
  readonly id: ViewId;
  readonly members: readonly NodeId[];
  readonly myIndex: number;
  /** Each member's (incarnation, gather round) when the ring formed: newer joins mean it left. */
  readonly memberRounds: ReadonlyMap<NodeId, { readonly inc: number; readonly round: number; readonly primarySeq: number }>;
  readonly messages: Map<number, RingMessage>;
  /** Everything up to aru is received and delivered (agreed order delivers at once). */
  aru: number;
  highSeq: number;
  lastTokenSeq: number;
  /** The token we passed and have not seen acknowledged. */
  tokenOut: TokenMsg | undefined;
  /** The token we hold while the ring is idle. */
  held: TokenDraft | undefined;
  /**
   * When this node last passed the token on. The next token it accepts has gone all the way round
   * since, so the ring was intact at that time — and no later: a token that waited in a socket
   * buffer while this process was frozen proves nothing about now.
   */
  lastPassMs: number | undefined;
}

/** A token being worked on by its holder. */
interface TokenDraft {
  tokenSeq: number;
  seq: number;
  arus: number[];
  rtr: number[];
  busy: boolean;
}

/**
 * One gather episode: from leaving operational until the next view is installed. Episodes are
 * numbered (epoch); a node adopts a higher epoch it hears of and drops joins of lower ones, so
 * edges from a finished episode never leak into a new one (they would split every later
 * gather, and be passed on from episode to episode forever).
 */
interface Episode {
  readonly epoch: number;
  readonly sets: GatherSets;
  key: string;
  ver: number;
  /** Newest join per peer (this episode), with the key of its sets. */
  readonly joins: Map<NodeId, { inc: number; round: number; ver: number; key: string; joinedFrom: ReadonlySet<NodeId> }>;
}

/** Commit state: the representative collects each member's old-ring state. */
interface Attempt {
  readonly rep: NodeId;
  readonly repInc: number;
  readonly repRound: number;
  readonly key: string;
  readonly members: readonly NodeId[];
  /** Filled by the representative only. */
  readonly infos: Map<NodeId, OldRingInfo>;
}

/** Recovery state: old-ring messages are exchanged and delivered, then the new ring starts. */
interface Recovery {
  readonly rep: NodeId;
  readonly commit: CommitMsg;
  readonly next: RingState;
  /** Old-ring messages up to here are delivered by every member coming from our old ring. */
  readonly targetSeq: number;
  /** For each old-ring seq we still miss, the member asked for it. */
  readonly holders: Map<number, NodeId>;
  ready: boolean;
  /** Representative only: members that finished recovery. */
  readonly readyFrom: Set<NodeId>;
}

export class TotemNode implements TotemCore {
  private readonly me: NodeId;
  private readonly inc: number;
  private readonly nodes: readonly NodeId[];
  private readonly nodeSet: ReadonlySet<NodeId>;
  private readonly timers: TotemTimers;
  private readonly maxSendQueue: number;
  private readonly maxMessagesPerToken: number;
  private readonly maxPayloadBytes: number;
  private readonly maxBytesPerToken: number;
  /** How long a peer counts as heard (for merge decisions). Probes arrive every mergeDetectMs. */
  private readonly heardWindowMs: number;
  /** A timer this late means we were stalled, not that the world went quiet. */
  private readonly stallSlackMs: number;

  private state: State = 'gather';
  private lastNowMs: number;
  private readonly deadlines = new Map<TimerName, number>();
  private readonly stallShifted = new Set<TimerName>();
  private readonly handlers: Readonly<Record<TimerName, (nowMs: number) => void>>;

  private sends: Send[] = [];
  private events: TotemEvent[] = [];
  private pendingPersist: number | undefined;
  /** See TotemOutput.tokenAcceptedMs. */
  private tokenAcceptedMs: number | undefined;
  /** See TotemOutput.safe: the newest mark not yet taken. */
  private safeMark: SafeMark | undefined;
  /** The highest seq of the installed ring already reported safe. */
  private safeReported = 0;
  private readonly counters: Record<string, number> = {};

  private maxRingSeqSeen: number;
  private persistedRingSeq: number;
  /** Simulator only (TotemConfig.injectedBugs): see skipGap. */
  private deliverPastGapOnce: boolean;
  /** TotemCore.notePrimary; not persisted: a restarted node comes from no primary component. */
  private primarySeq = 0;
  private lastInstalled: ViewId | undefined;

  private readonly heardAtMs = new Map<NodeId, number>();
  private readonly knownInc = new Map<NodeId, number>();
  private readonly leftNodes = new Map<NodeId, number>();
  /**
   * Nodes whose graceful leave we have seen superseded by a newer incarnation, with the newest we
   * know. Sent in joins so that every gatherer drops the same stale leaves (JoinMsg.newer).
   */
  private readonly superseded = new Map<NodeId, number>();
  /** Newest join seen per node (incarnation, round, version), to drop late duplicates. */
  private readonly latestJoin = new Map<NodeId, { inc: number; round: number; ver: number }>();
  private maxEpochSeen = 0;
  /**
   * Epoch of the episode that produced our last installed view. We never take part in that
   * episode again: its sets (edges, `joined`) describe a membership round we have finished, and
   * peers still gathering in it would hand them back to us (see enterGather).
   */
  private doneEpoch = 0;

  private round = 0;
  private nextMsgId = 1;
  private readonly sendQueue: { msgId: number; payload: Uint8Array }[] = [];

  /** The last installed ring; frozen (no new messages) while not operational. */
  private ring: RingState | undefined;
  private episode: Episode | undefined;
  private attempt: Attempt | undefined;
  private recovery: Recovery | undefined;

  constructor(config: TotemConfig, nowMs: number) {
    validateTotemConfig(config);
    this.me = config.nodeId;
    this.inc = config.incarnation;
    this.nodes = [...config.nodes].sort((a, b) => a - b);
    this.nodeSet = new Set(this.nodes);
    this.timers = { ...config.timers };
    this.maxSendQueue = config.maxSendQueue;
    this.maxMessagesPerToken = config.maxMessagesPerToken;
    this.maxPayloadBytes = config.maxPayloadBytes ?? Number.POSITIVE_INFINITY;
    this.maxBytesPerToken = config.maxBytesPerToken ?? Number.POSITIVE_INFINITY;
    this.heardWindowMs = 3 * this.timers.mergeDetectMs;
    this.stallSlackMs = Math.max(this.timers.tokenRetransmitMs, Math.floor(this.timers.tokenTimeoutMs / 4));
    this.maxRingSeqSeen = config.ringSeq;
    this.persistedRingSeq = config.ringSeq;
    this.deliverPastGapOnce = config.injectedBugs?.has('deliver-past-gap') === true;
    this.lastNowMs = nowMs;
    this.handlers = {
      tokenLoss: (now) => this.onTokenTimeout(now),
      tokenRetransmit: (now) => this.onTokenRetransmitTimeout(now),
      tokenHold: (now) => this.onTokenHoldTimeout(now),
      mergeDetect: (now) => this.onMergeDetectTimeout(now),
      join: (now) => this.onJoinTimeout(now),
      failToRecv: (now) => this.onFailToRecvTimeout(now),
      consensus: (now) => this.onConsensusTimeout(now),
      formation: (now) => this.onFormationTimeout(now),
      phaseRetransmit: (now) => this.onPhaseRetransmitTimeout(now),
    };
    // Boot: try to form a ring with every configured node at once; the silent ones are given up
    // on after failToRecvMs.
    this.enterGather(nowMs, 'boot');
  }

  // ---- TotemCore API ------------------------------------------------------------------------

  receive(from: NodeId, msg: TotemMessage, nowMs: number): void {
    const now = this.advance(nowMs);
    if (!this.nodeSet.has(from)) return this.count('dropUnknownSender');
    if (from === this.me) return this.count('dropFromSelf');
    const m = parseMessage(msg, this.nodeSet);
    if (m === undefined) return this.count('dropMalformed');
    if (this.state === 'left') {
      // Tell whoever still talks to us that we are gone, so they need not wait for a timeout.
      if (m.kind !== Kind.leave) this.send(from, { kind: Kind.leave, inc: this.inc });
      return;
    }
    const inc = senderIncarnation(m);
    if (inc !== undefined) {
      const known = this.knownInc.get(from);
      if (known !== undefined && inc < known) return this.count('dropStaleIncarnation');
      this.knownInc.set(from, inc);
      const leftInc = this.leftNodes.get(from);
      if (leftInc !== undefined && inc > leftInc) {
        this.leftNodes.delete(from); // restarted since
        this.noteSuperseded(from, inc);
      }
    }
    const newlyHeard = this.noteHeard(from, now);
    this.count(`recv${m.kind}`);
    this.dispatch(from, m, now, newlyHeard);
  }

  tick(nowMs: number): void {
    const now = this.advance(nowMs);
    // Handlers may re-arm timers; a timer re-armed in the past would loop, which the guard catches.
    for (let fired = 0; ; fired++) {
      invariant(fired < 1000, 'timer loop did not settle');
      let due: TimerName | undefined;
      let dueAt = Infinity;
      for (const [name, at] of this.deadlines) {
        if (at <= now && at < dueAt) {
          due = name;
          dueAt = at;
        }
      }
      if (due === undefined) return;
      this.deadlines.delete(due);
      this.stallShifted.delete(due);
      this.handlers[due](now);
    }
  }

  broadcast(payload: Uint8Array, nowMs: number): BroadcastResult {
    const now = this.advance(nowMs);
    if (!(payload instanceof Uint8Array)) throw new TypeError('totem broadcast: payload must be a Uint8Array');
    if (this.state === 'left') return { ok: false, reason: 'left' };
    // Refused before it takes a msgId: once queued it would get a seq that no member can ever
    // receive, and agreed order would wait for it on every node.
    if (payload.length > this.maxPayloadBytes) {
      this.count('broadcastTooLarge');
      return { ok: false, reason: 'too-large', maxPayloadBytes: this.maxPayloadBytes };
    }
    if (this.sendQueue.length >= this.maxSendQueue) {
      this.count('broadcastQueueFull');
      return { ok: false, reason: 'queue-full' };
    }
    const msgId = this.nextMsgId++;
    this.sendQueue.push({ msgId, payload });
    if (this.state === 'operational') {
      const r = this.ring!;
      if (r.members.length === 1) this.drainSingleton(r);
      else if (r.held !== undefined) this.releaseHeldToken(now);
    }
    return { ok: true, msgId };
  }

  leave(nowMs: number): void {
    this.advance(nowMs);
    if (this.state === 'left') return;
    // Sent twice: one lost datagram should not cost the others a token timeout. Anyone who
    // still talks to us afterwards gets another copy in reply.
    this.send('all', { kind: Kind.leave, inc: this.inc });
    this.send('all', { kind: Kind.leave, inc: this.inc });
    this.state = 'left';
    this.deadlines.clear();
    this.episode = undefined;
    this.attempt = undefined;
    this.recovery = undefined;
  }

  notePrimary(ringSeq: number): void {
    // Only a view this node installed can be primary for it, and the newest one counts.
    if (this.lastInstalled !== undefined && ringSeq <= this.lastInstalled.seq && ringSeq > this.primarySeq) this.primarySeq = ringSeq;
  }

  takeOutput(): TotemOutput {
    const out: TotemOutput = {
      sends: this.sends,
      events: this.events,
      persist: this.pendingPersist === undefined ? undefined : { ringSeq: this.pendingPersist },
      tokenAcceptedMs: this.tokenAcceptedMs,
      safe: this.safeMark,
    };
    this.sends = [];
    this.events = [];
    this.pendingPersist = undefined;
    this.tokenAcceptedMs = undefined;
    this.safeMark = undefined;
    return out;
  }

  nextDeadlineMs(): number | undefined {
    let min: number | undefined;
    for (const at of this.deadlines.values()) if (min === undefined || at < min) min = at;
    return min;
  }

  status(): TotemStatus {
    const r = this.ring;
    return {
      nodeId: this.me,
      incarnation: this.inc,
      state: this.state,
      view: r === undefined ? undefined : { id: r.id, members: [...r.members] },
      sendQueueLength: this.sendQueue.length,
      counters: { ...this.counters },
    };
  }

  // ---- plumbing -----------------------------------------------------------------------------

  private count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  private send(to: NodeId | 'all', msg: ParsedMsg): void {
    if (this.nodes.length === 1 && to === 'all') return;
    this.sends.push({ to, msg: asWire(msg) });
  }

  private arm(name: TimerName, atMs: number): void {
    this.deadlines.set(name, atMs);
    this.stallShifted.delete(name);
  }

  private disarm(...names: TimerName[]): void {
    for (const n of names) {
      this.deadlines.delete(n);
      this.stallShifted.delete(n);
    }
  }

  /**
   * Moves our notion of time forward. If a deadline is overdue by more than stallSlackMs, the
   * driver did not run us when asked: we were stalled (GC, paused VM). Timers that expired while
   * we could not look must not declare peers dead, so each gets back the time it had left when we
   * last ran — once; a timer shifted for a stall fires normally the next time.
   */
  private advance(nowMs: number): number {
    if (nowMs < this.lastNowMs) {
      this.count('clockBackwards');
      return this.lastNowMs;
    }
    const earliest = this.nextDeadlineMs();
    if (earliest !== undefined && nowMs - earliest > this.stallSlackMs) {
      this.count('stallsDetected');
      for (const [name, at] of this.deadlines) {
        if (at > nowMs || this.stallShifted.has(name)) continue;
        this.deadlines.set(name, nowMs + Math.max(0, at - this.lastNowMs));
        this.stallShifted.add(name);
      }
    }
    this.lastNowMs = nowMs;
    return nowMs;
  }

  private noteHeard(from: NodeId, now: number): boolean {
    const before = this.heardAtMs.get(from);
    this.heardAtMs.set(from, now);
    return before === undefined || now - before > this.heardWindowMs;
  }

  private heardRecently(n: NodeId, now: number): boolean {
    if (n === this.me) return true;
    const at = this.heardAtMs.get(n);
    return at !== undefined && now - at <= this.heardWindowMs;
  }

  private heardList(now: number): NodeId[] {
    return this.nodes.filter((n) => n !== this.me && this.heardRecently(n, now));
  }

  private noteRingSeq(seq: number): void {
    if (seq > this.maxRingSeqSeen) this.maxRingSeqSeen = seq;
  }

  /** PERSIST BEFORE SEND: the driver stores this before sending anything in the same output. */
  private requirePersist(seq: number): void {
    this.noteRingSeq(seq);
    if (seq > this.persistedRingSeq) {
      this.persistedRingSeq = seq;
      this.pendingPersist = seq;
    }
  }

  private tokenTimeoutMs(members: number): number {
    return this.timers.tokenTimeoutMs + Math.max(0, members - 2) * (this.timers.tokenPerMemberMs ?? 0);
  }

  private windowMax(members: number): number {
    return Math.max(64, 4 * this.maxMessagesPerToken * members);
  }

  private dispatch(from: NodeId, m: ParsedMsg, now: number, newlyHeard: boolean): void {
    switch (m.kind) {
      case Kind.join: return this.onJoin(from, m, now, newlyHeard);
      case Kind.commitReq: return this.onCommitReq(from, m, now);
      case Kind.commitInfo: return this.onCommitInfo(from, m, now);
      case Kind.commit: return this.onCommit(from, m, now);
      case Kind.recoverReq: return this.onRecoverReq(from, m);
      case Kind.recoverData: return this.onRecoverData(m, now);
      case Kind.ready: return this.onReady(from, m, now);
      case Kind.token: return this.onToken(from, m, now);
      case Kind.tokenAck: return this.onTokenAck(m);
      case Kind.mcast: return this.onMcast(m);
      case Kind.probe: return this.onProbe(from, m, now, newlyHeard);
      case Kind.leave: return this.onLeave(from, m, now);
    }
  }

  // ---- gather -------------------------------------------------------------------------------

  /**
   * Enters (or re-enters) gather. Leaving operational starts a new episode with fresh sets; a
   * failed commit or recovery continues the episode, keeping its sets (so the edge that broke the
   * attempt is remembered and the same attempt is not retried forever).
   */
  private enterGather(now: number, reason: string, check = true, adoptEpoch?: number): void {
    this.count(`gather_${reason}`);
    if (this.episode === undefined) {
      // Join the episode of the join that pulled us in, unless it is one we already finished (we
      // installed a view out of it): re-entering it would merge back the stale edges and `joined`
      // entries (dead incarnations) of a peer still gathering in it, and two nodes taking turns
      // could keep one epoch alive forever, each forming a singleton out of the other's old sets.
      // A newer epoch makes that peer drop its old sets (adoptEpoch) instead.
      const epoch = adoptEpoch !== undefined && adoptEpoch >= this.maxEpochSeen && adoptEpoch > this.doneEpoch
        ? adoptEpoch
        : this.maxEpochSeen + 1;
      this.maxEpochSeen = Math.max(this.maxEpochSeen, epoch);
      const proc = new Set<NodeId>([this.me]);
      for (const n of this.ring?.members ?? this.nodes) proc.add(n);
      for (const n of this.heardList(now)) proc.add(n);
      const left = new Map<NodeId, number>();
      for (const [n, inc] of this.leftNodes) if (n !== this.me) left.set(n, inc);
      const sets: GatherSets = { proc, edges: new Set(), left, joined: new Set([this.me]) };
      this.episode = { epoch, sets, key: this.keyOf(epoch, sets), ver: 0, joins: new Map() };
      this.arm('failToRecv', now + this.timers.failToRecvMs);
    }
    this.round++;
    this.state = 'gather';
    this.attempt = undefined;
    this.recovery = undefined;
    if (this.ring !== undefined) {
      this.ring.tokenOut = undefined;
      this.ring.held = undefined;
    }
    this.disarm('tokenLoss', 'tokenRetransmit', 'tokenHold', 'mergeDetect', 'formation', 'phaseRetransmit');
    this.arm('consensus', now + this.timers.consensusMs);
    this.setsChanged(now, true);
    if (check) this.checkConsensus(now);
  }

  private keyOf(epoch: number, sets: GatherSets): string {
    return `E${epoch}|${setsKey(sets)}`;
  }

  /**
   * A join of a higher epoch: drop our sets (they belong to an older episode) and take part in
   * the newer one. Candidates and graceful leaves are kept; edges and joins start again.
   */
  private adoptEpoch(now: number, epoch: number): void {
    const old = this.episode!;
    const sets: GatherSets = { proc: new Set(old.sets.proc), edges: new Set(), left: new Map(old.sets.left), joined: new Set([this.me]) };
    this.episode = { epoch, sets, key: this.keyOf(epoch, sets), ver: old.ver, joins: new Map() };
    this.maxEpochSeen = Math.max(this.maxEpochSeen, epoch);
    this.count('epochAdopted');
    this.arm('failToRecv', now + this.timers.failToRecvMs);
  }

  /** Our sets changed (or we re-entered gather): new key, new version, tell everyone. */
  private setsChanged(now: number, immediately = false): void {
    const e = this.episode!;
    e.key = this.keyOf(e.epoch, e.sets);
    e.ver++;
    if (immediately) return this.sendJoin(now);
    // Coalesce: a burst of joins changes our sets many times within a few ms; one join after the
    // burst says it all (with 32 nodes, a join per change is O(n^3) packets per episode).
    this.sendJoinSoon(now);
  }

  private sendJoinSoon(now: number): void {
    const soonMs = now + Math.max(1, Math.floor(this.timers.joinMs / 8));
    if ((this.deadlines.get('join') ?? Infinity) > soonMs) this.arm('join', soonMs);
  }

  private sendJoin(now: number): void {
    const e = this.episode!;
    this.send('all', {
      kind: Kind.join,
      inc: this.inc,
      round: this.round,
      epoch: e.epoch,
      ver: e.ver,
      ringSeq: this.maxRingSeqSeen,
      proc: [...e.sets.proc].sort((a, b) => a - b),
      edges: flatEdges(e.sets),
      left: flatLeft(e.sets),
      ...(this.superseded.size > 0 ? { newer: this.flatSuperseded() } : {}),
      heard: this.heardList(now),
      joinedFrom: [...e.joins.keys()].sort((a, b) => a - b),
      joined: [...e.sets.joined].sort((a, b) => a - b),
    });
    this.arm('join', now + this.timers.joinMs);
  }

  private onJoin(from: NodeId, m: JoinMsg, now: number, newlyHeard: boolean): void {
    this.noteRingSeq(m.ringSeq);
    // A join older than one already seen from the same node is a late duplicate: its sets
    // (edges above all) describe a past episode, and merging them would split us again.
    const latest = this.latestJoin.get(from);
    if (latest !== undefined && (m.inc < latest.inc || (m.inc === latest.inc &&
      (m.round < latest.round || (m.round === latest.round && m.ver < latest.ver))))) {
      return this.count('dropStaleJoin');
    }
    this.latestJoin.set(from, { inc: m.inc, round: m.round, ver: m.ver });
    if (m.epoch > this.maxEpochSeen) this.maxEpochSeen = m.epoch;
    const taught = this.learnNewer(m.newer);
    const leftInc = this.leftNodes.get(from);
    if (leftInc !== undefined && m.inc <= leftInc) return this.count('dropJoinFromLeft');
    switch (this.state) {
      case 'operational': {
        const r = this.ring!;
        if (r.members.includes(from)) {
          // A member gathering in a round newer than the one that formed this ring has lost the
          // ring (or restarted): the ring is broken for it, so it is broken for us.
          const at = r.memberRounds.get(from);
          const fresh = at === undefined || m.inc > at.inc || (m.inc === at.inc && m.round > at.round);
          if (!fresh) return this.count('dropStaleJoin');
          this.enterGather(now, 'memberJoin', false, m.epoch);
        } else if (this.hearsAllOf(m.heard, r.members) && this.wouldGroupWith(from, m)) {
          // A node outside the ring that hears every member of it, and whose sets do not already
          // keep us apart (an edge from its current episode): merge. Without the second test a
          // stale edge would make us form a singleton again on every join it sends.
          this.enterGather(now, 'foreignJoin', false, m.epoch);
        } else {
          if (newlyHeard) this.sendProbe(from, now);
          return this.count('ignoreForeignJoin');
        }
        return this.mergeJoin(from, m, now);
      }
      case 'gather':
        if (taught) this.setsChanged(now);
        return this.mergeJoin(from, m, now);
      case 'commit':
      case 'recovery': {
        const members = this.attempt?.members ?? this.recovery!.commit.members;
        if (!members.includes(from)) return this.count('ignoreJoinDuringCommit');
        if (m.epoch < this.episode!.epoch) return this.count('dropOldEpochJoin');
        if (m.epoch > this.episode!.epoch) {
          this.enterGather(now, 'commitAbortedByEpoch', false);
          this.adoptEpoch(now, m.epoch);
          return this.mergeJoin(from, m, now);
        }
        // Only a join that teaches us something aborts the attempt: a delayed copy of a join that
        // led to it carries subsets of our sets and is ignored.
        const probe = this.cloneSets(this.episode!.sets);
        if (!taught && !mergeSets(probe, [from, ...m.proc], m.edges, this.freshLeft(m.left), [from, ...m.joined])) {
          return this.count('dropStaleJoin');
        }
        this.enterGather(now, 'commitAbortedByJoin', false);
        return this.mergeJoin(from, m, now);
      }
      case 'left':
        return;
    }
  }

  /** Would merging this join's sets into a fresh episode put its sender in our group? */
  private wouldGroupWith(from: NodeId, m: JoinMsg): boolean {
    const sets: GatherSets = {
      proc: new Set([this.me, from, ...(this.ring?.members ?? [])]),
      edges: new Set(),
      left: new Map([...this.leftNodes].filter(([n]) => n !== this.me)),
      joined: new Set([this.me]),
    };
    mergeSets(sets, m.proc, m.edges, this.freshLeft(m.left), [from, ...m.joined]);
    return groupOf(sets, this.me).includes(from);
  }

  private mergeJoin(from: NodeId, m: JoinMsg, now: number): void {
    if (m.epoch < this.episode!.epoch) {
      // The sender is in an older episode; our joins will bring it over.
      return this.count('dropOldEpochJoin');
    }
    if (m.epoch > this.episode!.epoch) this.adoptEpoch(now, m.epoch);
    const e = this.episode!;
    const theirs: GatherSets = { proc: new Set(m.proc), edges: new Set(), left: new Map(), joined: new Set() };
    mergeSets(theirs, [], m.edges, m.left, m.joined);
    const key = this.keyOf(m.epoch, theirs);
    const prev = e.joins.get(from);
    const newer =
      prev === undefined ||
      m.inc > prev.inc ||
      (m.inc === prev.inc && (m.round > prev.round || (m.round === prev.round && m.ver >= prev.ver)));
    if (newer) e.joins.set(from, { inc: m.inc, round: m.round, ver: m.ver, key, joinedFrom: new Set(m.joinedFrom) });
    if (mergeSets(e.sets, [from, ...m.proc], m.edges, this.freshLeft(m.left), [from, ...m.joined])) {
      this.setsChanged(now);
    } else if (prev === undefined && this.state === 'gather') {
      // Our joinedFrom grew: tell the others soon, coalescing a burst of first joins into one.
      this.sendJoinSoon(now);
    }
    this.checkConsensus(now);
  }

  /** Left entries minus those we know are stale (the node restarted since, or it is us). */
  private freshLeft(left: readonly number[]): number[] {
    const out: number[] = [];
    for (let i = 0; i + 1 < left.length; i += 2) {
      const n = left[i]!;
      const inc = left[i + 1]!;
      if (n === this.me) continue;
      const known = this.knownInc.get(n);
      if (known !== undefined && known > inc) {
        // The sender has not heard of the restart: tell it in our next join.
        this.noteSuperseded(n, known);
        continue;
      }
      out.push(n, inc);
    }
    return out;
  }

  private noteSuperseded(n: NodeId, inc: number): void {
    if ((this.superseded.get(n) ?? -1) < inc) this.superseded.set(n, inc);
  }

  private flatSuperseded(): number[] {
    const out: number[] = [];
    for (const n of [...this.superseded.keys()].sort((a, b) => a - b)) out.push(n, this.superseded.get(n)!);
    return out;
  }

  /**
   * Takes a peer's word that these nodes restarted after their graceful leave: the old leave no
   * longer holds, here as there. True when this removed a leave from the episode's sets (the
   * lattice moved up: a newer incarnation outranks the leave of an older one).
   */
  private learnNewer(newer: readonly number[] | undefined): boolean {
    if (newer === undefined) return false;
    let removed = false;
    for (let i = 0; i + 1 < newer.length; i += 2) {
      const n = newer[i]!;
      const inc = newer[i + 1]!;
      if (n === this.me) continue;
      if ((this.knownInc.get(n) ?? -1) < inc) this.knownInc.set(n, inc);
      this.noteSuperseded(n, inc);
      const leftInc = this.leftNodes.get(n);
      if (leftInc !== undefined && leftInc < inc) this.leftNodes.delete(n);
      const e = this.episode;
      const inSets = e?.sets.left.get(n);
      if (e !== undefined && inSets !== undefined && inSets < inc) {
        e.sets.left.delete(n);
        removed = true;
      }
    }
    return removed;
  }

  private cloneSets(s: GatherSets): GatherSets {
    return { proc: new Set(s.proc), edges: new Set(s.edges), left: new Map(s.left), joined: new Set(s.joined) };
  }

  /**
   * Members of my group whose newest join does not carry exactly my sets, or who have not yet
   * received a join from every other member of the group.
   */
  private disagreeing(group: readonly NodeId[]): NodeId[] {
    const e = this.episode!;
    return group.filter((y) => {
      if (y === this.me) return false;
      const j = e.joins.get(y);
      return j === undefined || j.key !== e.key || !group.every((z) => z === y || j.joinedFrom.has(z));
    });
  }

  /** Consensus: everyone in my group sent my exact sets. The smallest id then commits. */
  private checkConsensus(now: number): void {
    if (this.state !== 'gather') return;
    const group = groupOf(this.episode!.sets, this.me);
    if (this.disagreeing(group).length > 0) return;
    if (group[0] === this.me) this.startCommit(now, group);
  }

  private onJoinTimeout(now: number): void {
    if (this.state === 'gather') this.sendJoin(now);
  }

  /** Peers that sent no join at all since the episode began are given up on (by an edge). */
  private onFailToRecvTimeout(now: number): void {
    const e = this.episode;
    if (this.state !== 'gather' || e === undefined) return;
    let changed = false;
    for (const y of e.sets.proc) {
      if (y === this.me || e.sets.left.has(y) || e.joins.has(y)) continue;
      const k = edgeKey(this.me, y);
      if (!e.sets.edges.has(k)) {
        e.sets.edges.add(k);
        changed = true;
      }
    }
    if (!changed) return;
    this.count('failToRecvEdges');
    this.setsChanged(now);
    this.checkConsensus(now);
  }

  /**
   * Peers that answer but never agree are given up on after consensusMs. If everyone agrees but
   * the representative never commits, the representative is given up on.
   */
  private onConsensusTimeout(now: number): void {
    const e = this.episode;
    if (this.state !== 'gather' || e === undefined) return;
    this.count('consensusTimeouts');
    const group = groupOf(e.sets, this.me);
    const missing = this.disagreeing(group);
    if (missing.length === 0) {
      e.sets.edges.add(edgeKey(this.me, group[0]!));
    }
    for (const y of missing) {
      const j = e.joins.get(y);
      if (j === undefined || j.key !== e.key) {
        e.sets.edges.add(edgeKey(this.me, y));
        continue;
      }
      // y agrees with us but never heard z's join: the y–z link is the broken one.
      for (const z of group) if (z !== y && !j.joinedFrom.has(z)) e.sets.edges.add(edgeKey(y, z));
    }
    this.arm('consensus', now + this.timers.consensusMs);
    this.setsChanged(now);
    this.checkConsensus(now);
  }

  // ---- commit -------------------------------------------------------------------------------

  private myInfo(): OldRingInfo {
    const r = this.ring;
    const recv: number[] = [];
    if (r !== undefined) for (const s of r.messages.keys()) if (s > r.aru) recv.push(s);
    recv.sort((a, b) => a - b);
    return {
      node: this.me,
      inc: this.inc,
      round: this.round,
      maxRingSeq: this.maxRingSeqSeen,
      hasOld: r === undefined ? 0 : 1,
      oldSeq: r?.id.seq ?? 0,
      oldRep: r?.id.rep ?? 0,
      aru: r?.aru ?? 0,
      recv,
      primarySeq: this.primarySeq,
    };
  }

  private leaveGatherTimers(now: number): void {
    this.disarm('join', 'failToRecv', 'consensus');
    this.arm('formation', now + this.timers.consensusMs);
  }

  private startCommit(now: number, group: readonly NodeId[]): void {
    const e = this.episode!;
    this.state = 'commit';
    this.attempt = {
      rep: this.me,
      repInc: this.inc,
      repRound: this.round,
      key: e.key,
      members: group,
      infos: new Map([[this.me, this.myInfo()]]),
    };
    this.leaveGatherTimers(now);
    this.arm('phaseRetransmit', now + this.timers.tokenRetransmitMs);
    this.sendCommitReqs();
    this.maybeFinishCommit(now);
  }

  private sendCommitReqs(): void {
    const a = this.attempt!;
    for (const y of a.members) {
      if (y === this.me || a.infos.has(y)) continue;
      this.send(y, { kind: Kind.commitReq, inc: this.inc, round: a.repRound, key: a.key, members: a.members });
    }
  }

  private onCommitReq(from: NodeId, m: CommitReqMsg, now: number): void {
    const a = this.attempt;
    if (this.state === 'commit' && a !== undefined && a.rep === from && a.repInc === m.inc && a.repRound === m.round) {
      this.count('dupCommitReq');
      return this.sendInfo(a);
    }
    if (this.state !== 'gather') return this.count('ignoreCommitReq');
    const e = this.episode!;
    // The representative checked that everyone in the group sent these exact sets; equal sets
    // give an equal group on every node, so accepting needs only our sets to match.
    if (m.key !== e.key) return this.count('ignoreCommitReqOtherSets');
    const group = groupOf(e.sets, this.me);
    if (group[0] !== from || !sameIds(group, m.members)) return this.count('ignoreCommitReqOtherGroup');
    this.state = 'commit';
    const attempt: Attempt = { rep: from, repInc: m.inc, repRound: m.round, key: m.key, members: group, infos: new Map() };
    this.attempt = attempt;
    this.leaveGatherTimers(now);
    this.sendInfo(attempt);
  }

  private sendInfo(a: Attempt): void {
    const msg: CommitInfoMsg = { kind: Kind.commitInfo, repInc: a.repInc, repRound: a.repRound, ...this.myInfo() };
    this.send(a.rep, msg);
  }

  private onCommitInfo(from: NodeId, m: CommitInfoMsg, now: number): void {
    const a = this.attempt;
    if (this.state !== 'commit' || a === undefined || a.rep !== this.me) return this.count('ignoreCommitInfo');
    if (m.repInc !== this.inc || m.repRound !== a.repRound || m.node !== from || !a.members.includes(from)) {
      return this.count('ignoreCommitInfo');
    }
    const { kind: _kind, repInc: _repInc, repRound: _repRound, ...info } = m;
    a.infos.set(from, info);
    this.maybeFinishCommit(now);
  }

  /** All old-ring states are in: choose the new ring seq (PERSIST before sending) and commit. */
  private maybeFinishCommit(now: number): void {
    const a = this.attempt!;
    if (a.infos.size < a.members.length) return;
    let seq = this.maxRingSeqSeen;
    for (const info of a.infos.values()) seq = Math.max(seq, info.maxRingSeq);
    const ringSeq = seq + 1;
    this.requirePersist(ringSeq);
    const commit: CommitMsg = {
      kind: Kind.commit,
      repInc: a.repInc,
      repRound: a.repRound,
      ringSeq,
      members: a.members,
      infos: a.members.map((n) => a.infos.get(n)!),
    };
    for (const y of a.members) if (y !== this.me) this.send(y, commit);
    this.applyCommit(commit, now);
  }

  private onCommit(from: NodeId, m: CommitMsg, now: number): void {
    const a = this.attempt;
    if (this.state === 'commit' && a !== undefined && a.rep === from && a.repInc === m.repInc && a.repRound === m.repRound) {
      if (!sameIds(a.members, m.members)) return this.count('ignoreCommit');
      return this.applyCommit(m, now);
    }
    const rec = this.recovery;
    if (this.state === 'recovery' && rec !== undefined && rec.rep === from && rec.commit.ringSeq === m.ringSeq) {
      // The representative has not seen our READY: say it again.
      this.count('dupCommit');
      if (rec.ready) this.send(from, { kind: Kind.ready, ringSeq: rec.next.id.seq, ringRep: rec.next.id.rep });
      return;
    }
    this.count('ignoreCommit');
  }

  // ---- recovery -----------------------------------------------------------------------------

  /**
   * Everyone coming from the same old ring delivers exactly the old-ring messages 1..F, where F
   * is the last seq before the first gap in what the group holds together (virtual synchrony).
   */
  private applyCommit(c: CommitMsg, now: number): void {
    const a = this.attempt!;
    const mine = c.infos.find((i) => i.node === this.me);
    invariant(mine !== undefined, 'commit without our own state');
    const r = this.ring;
    invariant(
      (r === undefined && mine.hasOld === 0) || (r !== undefined && mine.hasOld === 1 && mine.aru === r.aru &&
        mine.oldSeq === r.id.seq && mine.oldRep === r.id.rep),
      'old-ring state changed between commit info and commit',
    );
    this.requirePersist(c.ringSeq);
    const id: ViewId = { seq: c.ringSeq, rep: a.rep };
    const memberRounds = new Map(c.infos.map((i) => [i.node, { inc: i.inc, round: i.round, primarySeq: i.primarySeq }] as const));
    const next = this.newRing(id, c.members, memberRounds);
    const holders = new Map<number, NodeId>();
    let targetSeq = 0;
    if (r !== undefined) {
      const group = c.infos.filter((i) => i.hasOld === 1 && i.oldSeq === mine.oldSeq && i.oldRep === mine.oldRep);
      const held = group.map((i) => ({ node: i.node, aru: i.aru, recv: new Set(i.recv) }));
      const union = new Set<number>();
      for (const h of held) {
        targetSeq = Math.max(targetSeq, h.aru);
        for (const s of h.recv) union.add(s);
      }
      while (union.has(targetSeq + 1)) targetSeq++;
      for (let s = r.aru + 1; s <= targetSeq; s++) {
        if (r.messages.has(s)) continue;
        const holder = held.find((h) => h.node !== this.me && (h.aru >= s || h.recv.has(s)));
        invariant(holder !== undefined, `no holder for old-ring seq ${s} below the recovery point ${targetSeq}`);
        holders.set(s, holder.node);
      }
      // Our own messages are always at or below our aru (we only originate when we hold every
      // lower seq), so none is left behind the recovery point: self-delivery.
      for (const [s, msg] of r.messages) {
        invariant(!(s > targetSeq && msg.sender === this.me && msg.inc === this.inc), 'own message beyond recovery point');
      }
    }
    this.state = 'recovery';
    this.attempt = undefined;
    this.recovery = { rep: a.rep, commit: c, next, targetSeq, holders, ready: false, readyFrom: new Set() };
    this.arm('formation', now + this.timers.consensusMs);
    this.arm('phaseRetransmit', now + this.timers.tokenRetransmitMs);
    this.requestMissing();
    this.progressRecovery(now);
  }

  private requestMissing(): void {
    const rec = this.recovery!;
    const r = this.ring;
    if (r === undefined || rec.holders.size === 0) return;
    const byHolder = new Map<NodeId, number[]>();
    for (const [s, h] of rec.holders) {
      const list = byHolder.get(h) ?? [];
      if (list.length < recoverRequestSeqsMax) list.push(s);
      byHolder.set(h, list);
    }
    for (const [h, seqs] of byHolder) {
      this.send(h, { kind: Kind.recoverReq, oldSeq: r.id.seq, oldRep: r.id.rep, seqs });
    }
  }

  private onRecoverReq(from: NodeId, m: RecoverReqMsg): void {
    const r = this.ring;
    if (r === undefined || r.id.seq !== m.oldSeq || r.id.rep !== m.oldRep) return this.count('ignoreRecoverReq');
    let chunk: RingMessage[] = [];
    let chunkBytes = 0;
    const flush = (): void => {
      if (chunk.length > 0) this.send(from, { kind: Kind.recoverData, oldSeq: m.oldSeq, oldRep: m.oldRep, msgs: chunk });
      chunk = [];
      chunkBytes = 0;
    };
    for (const s of m.seqs) {
      const msg = r.messages.get(s);
      if (msg === undefined) continue;
      // By bytes as well as count: a chunk the transport cannot carry would stall recovery.
      if (chunk.length > 0 && chunkBytes + msg.payload.length > this.maxPayloadBytes) flush();
      chunk.push(msg);
      chunkBytes += msg.payload.length;
      if (chunk.length >= recoverChunkMessages) flush();
    }
    flush();
  }

  private onRecoverData(m: RecoverDataMsg, now: number): void {
    const rec = this.recovery;
    const r = this.ring;
    if (this.state !== 'recovery' || rec === undefined || r === undefined || r.id.seq !== m.oldSeq || r.id.rep !== m.oldRep) {
      return this.count('ignoreRecoverData');
    }
    for (const msg of m.msgs) {
      if (msg.seq <= r.aru || msg.seq > rec.targetSeq || r.messages.has(msg.seq)) continue;
      r.messages.set(msg.seq, msg);
      rec.holders.delete(msg.seq);
    }
    this.progressRecovery(now);
  }

  /** Delivers recovered old-ring messages (in the OLD view), then reports ready. */
  private progressRecovery(now: number): void {
    const rec = this.recovery!;
    const r = this.ring;
    if (r !== undefined) {
      this.deliverContiguous(r, rec.targetSeq);
      if (r.aru < rec.targetSeq) return;
      invariant(r.aru === rec.targetSeq, 'delivered beyond the recovery point');
    }
    if (rec.ready) return;
    rec.ready = true;
    if (rec.rep === this.me) {
      rec.readyFrom.add(this.me);
      this.maybeInstallAsRep(now);
    } else {
      this.send(rec.rep, { kind: Kind.ready, ringSeq: rec.next.id.seq, ringRep: rec.next.id.rep });
    }
  }

  private onReady(from: NodeId, m: ReadyMsg, now: number): void {
    const rec = this.recovery;
    if (this.state !== 'recovery' || rec === undefined || rec.rep !== this.me) return this.count('ignoreReady');
    if (rec.next.id.seq !== m.ringSeq || rec.next.id.rep !== m.ringRep || !rec.next.members.includes(from)) {
      return this.count('ignoreReady');
    }
    rec.readyFrom.add(from);
    this.maybeInstallAsRep(now);
  }

  /** Every member finished recovery: install, and start the new ring's token. */
  private maybeInstallAsRep(now: number): void {
    const rec = this.recovery!;
    if (!rec.ready || rec.readyFrom.size < rec.next.members.length) return;
    const r = this.install(now);
    if (r.members.length === 1) return;
    this.handleToken(
      { tokenSeq: 1, seq: 0, arus: r.members.map(() => 0), rtr: [], busy: true },
      now,
    );
  }

  private onPhaseRetransmitTimeout(now: number): void {
    if (this.state === 'commit' && this.attempt?.rep === this.me) {
      this.sendCommitReqs();
    } else if (this.state === 'recovery') {
      const rec = this.recovery!;
      if (rec.rep === this.me) {
        for (const y of rec.next.members) if (!rec.readyFrom.has(y)) this.send(y, rec.commit);
      } else if (!rec.ready) {
        this.requestMissing();
      } else {
        this.send(rec.rep, { kind: Kind.ready, ringSeq: rec.next.id.seq, ringRep: rec.next.id.rep });
      }
    } else {
      return;
    }
    this.arm('phaseRetransmit', now + this.timers.tokenRetransmitMs);
  }

  /**
   * Commit or recovery made no progress in consensusMs. The representative gives up on members
   * that did not answer; a member gives up on the representative. Back to gather with that edge.
   */
  private onFormationTimeout(now: number): void {
    const e = this.episode!;
    this.count('formationTimeouts');
    const giveUp: NodeId[] = [];
    if (this.state === 'commit') {
      const a = this.attempt!;
      if (a.rep === this.me) giveUp.push(...a.members.filter((y) => !a.infos.has(y)));
      else giveUp.push(a.rep);
    } else if (this.state === 'recovery') {
      const rec = this.recovery!;
      if (rec.rep === this.me) giveUp.push(...rec.next.members.filter((y) => !rec.readyFrom.has(y)));
      else giveUp.push(rec.rep);
    } else {
      return;
    }
    for (const y of giveUp) if (y !== this.me) e.sets.edges.add(edgeKey(this.me, y));
    this.enterGather(now, 'formationTimeout');
  }

  // ---- operational --------------------------------------------------------------------------

  private newRing(
    id: ViewId,
    members: readonly NodeId[],
    memberRounds: ReadonlyMap<NodeId, { readonly inc: number; readonly round: number; readonly primarySeq: number }>,
  ): RingState {
    const myIndex = members.indexOf(this.me);
    invariant(myIndex >= 0, `ring ${id.seq}/${id.rep} without this node`);
    for (let i = 1; i < members.length; i++) invariant(members[i]! > members[i - 1]!, 'ring members not sorted');
    return {
      id,
      members: [...members],
      myIndex,
      memberRounds,
      messages: new Map(),
      aru: 0,
      highSeq: 0,
      lastTokenSeq: 0,
      tokenOut: undefined,
      held: undefined,
      lastPassMs: undefined,
    };
  }

  private install(now: number): RingState {
    const rec = this.recovery!;
    const r = rec.next;
    invariant(
      this.lastInstalled === undefined || compareViewId(r.id, this.lastInstalled) > 0,
      `view ids must grow: ${r.id.seq}/${r.id.rep} after ${this.lastInstalled?.seq}/${this.lastInstalled?.rep}`,
    );
    invariant(r.id.seq <= this.persistedRingSeq, 'installing a ring seq that was not persisted');
    this.lastInstalled = r.id;
    if (this.episode !== undefined) this.doneEpoch = Math.max(this.doneEpoch, this.episode.epoch);
    // Forget having heard the nodes we just gave up on: merge decisions must rest on hearing
    // that happened after the link broke, not on memories from before.
    for (const k of this.episode?.sets.edges ?? []) {
      const [a, b] = k.split(':').map(Number) as [number, number];
      if (a === this.me) this.heardAtMs.delete(b);
      if (b === this.me) this.heardAtMs.delete(a);
    }
    this.ring = r;
    this.safeReported = 0;
    this.state = 'operational';
    this.episode = undefined;
    this.attempt = undefined;
    this.recovery = undefined;
    this.leftNodes.clear();
    this.disarm('join', 'failToRecv', 'consensus', 'formation', 'phaseRetransmit');
    const view: View = {
      id: r.id,
      members: [...r.members],
      incarnations: r.members.map((m) => r.memberRounds.get(m)?.inc ?? 0),
      primarySeqs: r.members.map((m) => r.memberRounds.get(m)?.primarySeq ?? 0),
    };
    const mine = rec.commit.infos.find((i) => i.node === this.me);
    const transitional =
      mine === undefined || mine.hasOld === 0
        ? undefined
        : rec.commit.infos.filter((i) => i.hasOld === 1 && i.oldSeq === mine.oldSeq && i.oldRep === mine.oldRep).map((i) => i.node).sort((a, b) => a - b);
    this.events.push(transitional === undefined ? { type: 'view', view } : { type: 'view', view, transitional });
    this.count('viewsInstalled');
    if (r.members.length > 1) this.arm('tokenLoss', now + this.tokenTimeoutMs(r.members.length));
    this.arm('mergeDetect', now + this.timers.mergeDetectMs);
    this.sendProbes(now);
    if (r.members.length === 1) this.drainSingleton(r);
    else this.deliverContiguous(r, Infinity);
    return r;
  }

  /** A ring of one needs no token: order is the order of broadcast() calls. */
  private drainSingleton(r: RingState): void {
    while (this.sendQueue.length > 0) {
      const q = this.sendQueue.shift()!;
      const seq = ++r.highSeq;
      r.messages.set(seq, { seq, sender: this.me, inc: this.inc, msgId: q.msgId, payload: q.payload });
      this.deliverContiguous(r, Infinity);
    }
    // Nobody else can ever ask for these: keep none.
    r.messages.clear();
    this.markSafe(r, r.aru);
  }

  private markSafe(r: RingState, seq: number): void {
    if (seq <= this.safeReported) return;
    this.safeReported = seq;
    this.safeMark = { viewId: r.id, seq };
  }

  private deliverContiguous(r: RingState, limit: number): void {
    while (r.aru < limit) {
      let msg = r.messages.get(r.aru + 1);
      if (msg === undefined && this.deliverPastGapOnce) msg = this.skipGap(r, limit);
      if (msg === undefined) return;
      r.aru++;
      this.events.push({
        type: 'deliver',
        delivery: { viewId: r.id, sender: msg.sender, senderIncarnation: msg.inc, msgId: msg.msgId, payload: msg.payload, seq: msg.seq },
      });
      this.count('delivered');
    }
  }

  /** The 'deliver-past-gap' bug: once, treat the next held message beyond a gap as the next one. */
  private skipGap(r: RingState, limit: number): RingMessage | undefined {
    let next: number | undefined;
    for (const seq of r.messages.keys()) if (seq > r.aru + 1 && seq <= limit && (next === undefined || seq < next)) next = seq;
    if (next === undefined) return undefined;
    this.deliverPastGapOnce = false;
    r.aru = next - 1;
    return r.messages.get(next);
  }

  private onToken(from: NodeId, t: TokenMsg, now: number): void {
    this.noteRingSeq(t.ringSeq);
    const rec = this.recovery;
    if (this.state === 'recovery' && rec !== undefined && rec.next.id.seq === t.ringSeq && rec.next.id.rep === t.ringRep) {
      // The first token of the new ring: the representative saw everyone ready.
      if (!rec.ready) return this.count('ignoreTokenNotReady');
      this.install(now);
    }
    const r = this.ring;
    if (this.state !== 'operational' || r === undefined || r.id.seq !== t.ringSeq || r.id.rep !== t.ringRep) {
      return this.count('ignoreToken');
    }
    if (t.arus.length !== r.members.length || t.seq < r.aru) return this.count('dropMalformed');
    this.send(from, { kind: Kind.tokenAck, ringSeq: t.ringSeq, ringRep: t.ringRep, tokenSeq: t.tokenSeq });
    if (t.tokenSeq <= r.lastTokenSeq) return this.count('dropDupToken');
    this.handleToken({ tokenSeq: t.tokenSeq, seq: t.seq, arus: [...t.arus], rtr: [...t.rtr], busy: t.busy === 1 }, now);
  }

  /**
   * The token holder's turn: answer retransmit requests, ask for what we miss, originate queued
   * messages (only if we hold every lower seq — see docs: self-delivery), update our aru, drop
   * messages everyone has, then pass the token on — or hold it if the ring is idle.
   */
  private handleToken(t: TokenDraft, now: number): void {
    const r = this.ring!;
    r.lastTokenSeq = t.tokenSeq;
    // The proof is as old as the rotation: from when we last sent the token on, not from now.
    if (r.lastPassMs !== undefined) this.tokenAcceptedMs = r.lastPassMs;
    r.tokenOut = undefined;
    this.disarm('tokenRetransmit');
    this.arm('tokenLoss', now + this.tokenTimeoutMs(r.members.length));
    if (t.seq > r.highSeq) r.highSeq = t.seq;
    const wasBusy = t.busy;
    let activity = false;

    // Requests at or below everyone's aru are answered already; keep the rest for a later holder.
    const everyoneHas = Math.min(...t.arus);
    const stillWanted: number[] = [];
    const visit = { bytesLeft: this.maxBytesPerToken, sent: 0 };
    for (const s of t.rtr) {
      const msg = r.messages.get(s);
      if (msg !== undefined && visit.sent > 0 && visit.bytesLeft < msg.payload.length) {
        stillWanted.push(s); // over this visit's bytes: a later visit (ours or another holder's) sends it
      } else if (msg !== undefined) {
        visit.bytesLeft -= msg.payload.length;
        visit.sent++;
        this.send('all', { kind: Kind.mcast, ringSeq: r.id.seq, ringRep: r.id.rep, ...msg });
        this.count('retransmitted');
        activity = true;
      } else if (s > everyoneHas && s <= t.seq) {
        stillWanted.push(s);
      }
    }
    t.rtr = stillWanted;
    for (let s = r.aru + 1; s <= t.seq && t.rtr.length < rtrMax; s++) {
      if (!r.messages.has(s) && !t.rtr.includes(s)) t.rtr.push(s);
    }

    t.arus[r.myIndex] = r.aru;
    if (this.originate(r, t, visit) > 0) activity = true;
    t.arus[r.myIndex] = r.aru;

    const safe = Math.min(...t.arus);
    for (const s of r.messages.keys()) if (s <= safe) r.messages.delete(s);
    this.markSafe(r, safe);
    if (t.rtr.length > 0 || this.sendQueue.length > 0 || safe < t.seq) activity = true;

    t.busy = r.myIndex === 0 ? activity : wasBusy || activity;
    if (r.myIndex === 0 && !wasBusy && !activity && this.timers.tokenHoldMs > 0) {
      r.held = t;
      this.arm('tokenHold', now + this.timers.tokenHoldMs);
      return;
    }
    this.passToken(t, now);
  }

  /** Assigns seqs to queued messages. Returns how many. */
  private originate(r: RingState, t: TokenDraft, visit: { bytesLeft: number; sent: number }): number {
    // Originating only while holding every lower seq means our own messages never sit behind a
    // gap, so recovery never strands them (self-delivery) and we never need to resend one.
    if (r.aru !== t.seq) return 0;
    const minAru = Math.min(...t.arus);
    let budget = Math.min(this.maxMessagesPerToken, this.windowMax(r.members.length) - (t.seq - minAru));
    let sent = 0;
    while (budget > 0 && this.sendQueue.length > 0) {
      if (visit.sent > 0 && visit.bytesLeft < this.sendQueue[0]!.payload.length) break;
      const q = this.sendQueue.shift()!;
      visit.bytesLeft -= q.payload.length;
      visit.sent++;
      const seq = ++t.seq;
      const msg: RingMessage = { seq, sender: this.me, inc: this.inc, msgId: q.msgId, payload: q.payload };
      r.messages.set(seq, msg);
      this.send('all', { kind: Kind.mcast, ringSeq: r.id.seq, ringRep: r.id.rep, ...msg });
      budget--;
      sent++;
    }
    if (t.seq > r.highSeq) r.highSeq = t.seq;
    this.deliverContiguous(r, Infinity);
    invariant(r.aru === t.seq, 'originator does not hold its own messages');
    return sent;
  }

  private passToken(t: TokenDraft, now: number): void {
    const r = this.ring!;
    r.held = undefined;
    this.disarm('tokenHold');
    const out: TokenMsg = {
      kind: Kind.token,
      ringSeq: r.id.seq,
      ringRep: r.id.rep,
      tokenSeq: t.tokenSeq + 1,
      seq: t.seq,
      arus: t.arus,
      rtr: t.rtr,
      busy: t.busy ? 1 : 0,
    };
    r.lastTokenSeq = out.tokenSeq;
    r.tokenOut = out;
    r.lastPassMs = now;
    this.send(this.successor(r), out);
    this.arm('tokenRetransmit', now + this.timers.tokenRetransmitMs);
  }

  private successor(r: RingState): NodeId {
    return r.members[(r.myIndex + 1) % r.members.length]!;
  }

  private releaseHeldToken(now: number): void {
    const r = this.ring!;
    const t = r.held!;
    if (this.originate(r, t, { bytesLeft: this.maxBytesPerToken, sent: 0 }) > 0) t.busy = true;
    t.arus[r.myIndex] = r.aru;
    this.passToken(t, now);
  }

  private onTokenHoldTimeout(now: number): void {
    if (this.state === 'operational' && this.ring?.held !== undefined) this.releaseHeldToken(now);
  }

  private onTokenAck(m: TokenAckMsg): void {
    const r = this.ring;
    if (this.state !== 'operational' || r === undefined || r.id.seq !== m.ringSeq || r.id.rep !== m.ringRep) return;
    if (r.tokenOut !== undefined && m.tokenSeq >= r.tokenOut.tokenSeq) {
      r.tokenOut = undefined;
      this.disarm('tokenRetransmit');
    }
  }

  private onTokenRetransmitTimeout(now: number): void {
    const r = this.ring;
    if (this.state !== 'operational' || r?.tokenOut === undefined) return;
    this.count('tokenRetransmits');
    this.send(this.successor(r), r.tokenOut);
    this.arm('tokenRetransmit', now + this.timers.tokenRetransmitMs);
  }

  private onTokenTimeout(now: number): void {
    if (this.state !== 'operational') return;
    this.count('tokenTimeouts');
    this.enterGather(now, 'tokenLoss');
  }

  private onMcast(m: McastMsg): void {
    let target: RingState | undefined;
    if (this.state === 'operational' && this.ring?.id.seq === m.ringSeq && this.ring.id.rep === m.ringRep) {
      target = this.ring;
    } else if (this.state === 'recovery' && this.recovery?.next.id.seq === m.ringSeq && this.recovery.next.id.rep === m.ringRep) {
      // The new ring's first messages can overtake its first token; keep them for after install.
      target = this.recovery.next;
    }
    if (target === undefined) return this.count('ignoreMcast');
    if (m.seq <= target.aru || target.messages.has(m.seq)) return this.count('dropDupMcast');
    if (m.seq > target.aru + this.windowMax(target.members.length)) return this.count('dropMcastBeyondWindow');
    const { kind: _k, ringSeq: _s, ringRep: _r, ...msg } = m;
    target.messages.set(m.seq, msg);
    if (m.seq > target.highSeq) target.highSeq = m.seq;
    if (target === this.ring) this.deliverContiguous(target, Infinity);
  }

  // ---- merge detection and leave ------------------------------------------------------------

  /** True when `heard` (a peer's recently-heard list) covers every node in `members` (and us). */
  private hearsAllOf(heard: readonly NodeId[], members: readonly NodeId[]): boolean {
    const h = new Set(heard);
    return members.every((n) => h.has(n));
  }

  private sendProbe(to: NodeId, now: number): void {
    const r = this.ring;
    if (this.state !== 'operational' || r === undefined) return;
    this.send(to, {
      kind: Kind.probe,
      inc: this.inc,
      ringSeq: r.id.seq,
      ringRep: r.id.rep,
      members: r.members,
      heard: this.heardList(now),
    });
  }

  private sendProbes(now: number): void {
    const r = this.ring!;
    for (const n of this.nodes) if (!r.members.includes(n)) this.sendProbe(n, now);
  }

  private onMergeDetectTimeout(now: number): void {
    if (this.state !== 'operational') return;
    this.sendProbes(now);
    this.arm('mergeDetect', now + this.timers.mergeDetectMs);
  }

  /**
   * Another ring announces itself. Merge only when hearing is two-way between every member of
   * both rings (it heard all of us, we heard all of it): a one-way link would otherwise merge the
   * rings, break the merged ring, split, and merge again forever.
   */
  private onProbe(from: NodeId, m: ProbeMsg, now: number, newlyHeard: boolean): void {
    this.noteRingSeq(m.ringSeq);
    const r = this.ring;
    if (this.state !== 'operational' || r === undefined) return;
    if (m.ringSeq === r.id.seq && m.ringRep === r.id.rep) return this.count('ignoreProbe');
    const weHearThem = m.members.every((n) => this.heardRecently(n, now));
    const theyHearUs = this.hearsAllOf(m.heard, r.members.filter((n) => n !== from));
    if (weHearThem && theyHearUs) return this.enterGather(now, 'merge');
    // Answer a newly heard peer at once instead of a period later: merges take one round trip.
    if (newlyHeard) this.sendProbe(from, now);
  }

  private onLeave(from: NodeId, m: LeaveMsg, now: number): void {
    const known = this.leftNodes.get(from);
    if (known !== undefined && known >= m.inc) return this.count('dropDupLeave');
    this.leftNodes.set(from, m.inc);
    this.heardAtMs.delete(from);
    this.count('leavesHeard');
    switch (this.state) {
      case 'operational':
        if (this.ring!.members.includes(from)) this.enterGather(now, 'leave');
        return;
      case 'gather': {
        this.episode!.sets.left.set(from, m.inc);
        this.setsChanged(now);
        return this.checkConsensus(now);
      }
      case 'commit':
      case 'recovery': {
        const members = this.attempt?.members ?? this.recovery!.commit.members;
        this.episode!.sets.left.set(from, m.inc);
        if (members.includes(from)) this.enterGather(now, 'leave');
        return;
      }
      case 'left':
        return;
    }
  }
}
