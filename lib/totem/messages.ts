/**
 * Totem wire messages: plain objects `{ kind, ... }` that msgpackr encodes as maps.
 *
 * MESSAGE KIND NUMBERS ARE APPEND-ONLY. A released number never changes meaning and is never
 * reused: nodes of different versions share one cluster during a rolling upgrade, and a reused
 * number would be parsed as the wrong shape. Add new kinds at the end.
 *
 * Every parser here is defensive: the network (or a buggy peer) may hand us anything. A parser
 * returns `undefined` for a bad shape; the core counts it and drops it. Parsers never throw.
 */
import type { NodeId, TotemMessage } from './types.js';

export const Kind = {
  join: 1,
  commitReq: 2,
  commitInfo: 3,
  commit: 4,
  recoverReq: 5,
  recoverData: 6,
  ready: 7,
  token: 8,
  tokenAck: 9,
  mcast: 10,
  probe: 11,
  leave: 12,
} as const;

/** Bounds on list lengths a peer may send us; anything longer is malformed. */
const listLengthMax = 1 << 16;
const keyLengthMax = 1 << 20;

export interface JoinMsg {
  readonly kind: typeof Kind.join;
  readonly inc: number;
  /** Sender's gather round: grows every time it (re)enters gather in this incarnation. */
  readonly round: number;
  /** Grows every time the sender's sets change within a round, to keep only its newest join. */
  readonly ver: number;
  /** The gather episode the sets belong to (see core.ts, Episode). */
  readonly epoch: number;
  readonly ringSeq: number;
  readonly proc: readonly NodeId[];
  /** Flat list of unordered pairs [a0, b0, a1, b1, ...]: "a and b cannot share a ring". */
  readonly edges: readonly NodeId[];
  /** Flat list of [node, incarnation] pairs that left gracefully. */
  readonly left: readonly number[];
  /** Nodes the sender heard from recently (for merge decisions). */
  readonly heard: readonly NodeId[];
  /**
   * Nodes whose joins the sender received in this gather episode. Consensus needs every pair
   * of the group to have heard each other's joins, so a one-way link between two members is
   * caught in gather and not after the ring is formed.
   */
  readonly joinedFrom: readonly NodeId[];
  /** Nodes known (to the sender, transitively) to have sent a join in this episode. */
  readonly joined: readonly NodeId[];
  /**
   * Flat list of [node, incarnation] pairs: a node whose graceful leave the sender has seen
   * superseded, and the newest incarnation it knows of that node. Without it, a node that never
   * heard the restarted incarnation (it was cut off or frozen while that run lived) keeps the old
   * leave in its sets, the nodes that did hear it drop that entry, and the two never agree on one
   * set again (simulator seed 89639). Absent in joins of older versions: read as empty.
   */
  readonly newer?: readonly number[];
}

export interface CommitReqMsg {
  readonly kind: typeof Kind.commitReq;
  readonly inc: number;
  readonly round: number;
  /** The canonical gather sets the representative reached consensus on. */
  readonly key: string;
  readonly members: readonly NodeId[];
}

export interface OldRingInfo {
  readonly node: NodeId;
  readonly inc: number;
  readonly round: number;
  readonly maxRingSeq: number;
  /** 1 when the node has an installed ring to recover, 0 for a fresh node. */
  readonly hasOld: number;
  readonly oldSeq: number;
  readonly oldRep: NodeId;
  /** Old-ring seqs 1..aru are received (and delivered) by this node. */
  readonly aru: number;
  /** Old-ring seqs above aru that this node holds. */
  readonly recv: readonly number[];
  /** See TotemCore.notePrimary: the newest ring seq the layer above found primary (0: none). */
  readonly primarySeq: number;
}

export interface CommitInfoMsg extends OldRingInfo {
  readonly kind: typeof Kind.commitInfo;
  readonly repInc: number;
  readonly repRound: number;
}

export interface CommitMsg {
  readonly kind: typeof Kind.commit;
  readonly repInc: number;
  readonly repRound: number;
  readonly ringSeq: number;
  readonly members: readonly NodeId[];
  readonly infos: readonly OldRingInfo[];
}

export interface RecoverReqMsg {
  readonly kind: typeof Kind.recoverReq;
  readonly oldSeq: number;
  readonly oldRep: NodeId;
  readonly seqs: readonly number[];
}

export interface RingMessage {
  readonly seq: number;
  readonly sender: NodeId;
  readonly inc: number;
  readonly msgId: number;
  readonly payload: Uint8Array;
}

export interface RecoverDataMsg {
  readonly kind: typeof Kind.recoverData;
  readonly oldSeq: number;
  readonly oldRep: NodeId;
  readonly msgs: readonly RingMessage[];
}

export interface ReadyMsg {
  readonly kind: typeof Kind.ready;
  readonly ringSeq: number;
  readonly ringRep: NodeId;
}

export interface TokenMsg {
  readonly kind: typeof Kind.token;
  readonly ringSeq: number;
  readonly ringRep: NodeId;
  /** Grows by one per hop: lets a node drop duplicated and stale tokens. */
  readonly tokenSeq: number;
  /** Highest seq assigned on this ring so far. */
  readonly seq: number;
  /** Per member (ring order), the highest seq up to which it received everything. */
  readonly arus: readonly number[];
  /** Seqs some member is missing (retransmit requests). */
  readonly rtr: readonly number[];
  /** 1 when anything happened since the representative last saw the token. */
  readonly busy: number;
}

export interface TokenAckMsg {
  readonly kind: typeof Kind.tokenAck;
  readonly ringSeq: number;
  readonly ringRep: NodeId;
  readonly tokenSeq: number;
}

export interface McastMsg extends RingMessage {
  readonly kind: typeof Kind.mcast;
  readonly ringSeq: number;
  readonly ringRep: NodeId;
}

export interface ProbeMsg {
  readonly kind: typeof Kind.probe;
  readonly inc: number;
  readonly ringSeq: number;
  readonly ringRep: NodeId;
  readonly members: readonly NodeId[];
  readonly heard: readonly NodeId[];
}

export interface LeaveMsg {
  readonly kind: typeof Kind.leave;
  readonly inc: number;
}

export type ParsedMsg =
  | JoinMsg
  | CommitReqMsg
  | CommitInfoMsg
  | CommitMsg
  | RecoverReqMsg
  | RecoverDataMsg
  | ReadyMsg
  | TokenMsg
  | TokenAckMsg
  | McastMsg
  | ProbeMsg
  | LeaveMsg;

/** Messages that carry the sending node's own incarnation (used to drop a dead run's leftovers). */
export function senderIncarnation(m: ParsedMsg): number | undefined {
  switch (m.kind) {
    case Kind.join:
    case Kind.commitReq:
    case Kind.commitInfo:
    case Kind.probe:
    case Kind.leave:
      return m.inc;
    default:
      return undefined;
  }
}

export function asWire(m: ParsedMsg): TotemMessage {
  return m as unknown as TotemMessage;
}

// ---- shape checks ----------------------------------------------------------------------------

type Rec = Record<string, unknown>;

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isFlag(v: unknown): v is number {
  return v === 0 || v === 1;
}

function isUintList(v: unknown, lengthMax = listLengthMax): v is number[] {
  if (!Array.isArray(v) || v.length > lengthMax) return false;
  for (const x of v) if (!isUint(x)) return false;
  return true;
}

/** A list of node ids that are all configured. */
function isIdList(v: unknown, nodes: ReadonlySet<NodeId>): v is NodeId[] {
  if (!isUintList(v)) return false;
  for (const x of v) if (!nodes.has(x)) return false;
  return true;
}

function isSortedUniqueIds(v: unknown, nodes: ReadonlySet<NodeId>): v is NodeId[] {
  if (!isIdList(v, nodes) || v.length === 0) return false;
  for (let i = 1; i < v.length; i++) if (v[i]! <= v[i - 1]!) return false;
  return true;
}

function isPayload(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function hasUints(r: Rec, fields: readonly string[]): boolean {
  for (const f of fields) if (!isUint(r[f])) return false;
  return true;
}

function parseRingMessage(r: Rec, nodes: ReadonlySet<NodeId>): RingMessage | undefined {
  if (!hasUints(r, ['seq', 'sender', 'inc', 'msgId']) || !isPayload(r.payload)) return undefined;
  if (!nodes.has(r.sender as number) || (r.seq as number) === 0) return undefined;
  return {
    seq: r.seq as number,
    sender: r.sender as number,
    inc: r.inc as number,
    msgId: r.msgId as number,
    payload: r.payload,
  };
}

function parseOldRingInfo(r: Rec, nodes: ReadonlySet<NodeId>): OldRingInfo | undefined {
  if (!hasUints(r, ['node', 'inc', 'round', 'maxRingSeq', 'oldSeq', 'oldRep', 'aru', 'primarySeq'])) return undefined;
  if (!isFlag(r.hasOld) || !isUintList(r.recv) || !nodes.has(r.node as number)) return undefined;
  return {
    node: r.node as number,
    inc: r.inc as number,
    round: r.round as number,
    maxRingSeq: r.maxRingSeq as number,
    hasOld: r.hasOld,
    oldSeq: r.oldSeq as number,
    oldRep: r.oldRep as number,
    aru: r.aru as number,
    recv: r.recv,
    primarySeq: r.primarySeq as number,
  };
}

/** Parses and validates one message; `undefined` means malformed (unknown kind or bad shape). */
export function parseMessage(msg: unknown, nodes: ReadonlySet<NodeId>): ParsedMsg | undefined {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return undefined;
  const r = msg as Rec;
  switch (r.kind) {
    case Kind.join: {
      if (!hasUints(r, ['inc', 'round', 'ver', 'epoch', 'ringSeq'])) return undefined;
      if (!isIdList(r.proc, nodes) || !isIdList(r.edges, nodes) || !isIdList(r.heard, nodes)) return undefined;
      if (!isIdList(r.joinedFrom, nodes) || !isIdList(r.joined, nodes)) return undefined;
      if (r.edges.length % 2 !== 0 || !isUintList(r.left) || r.left.length % 2 !== 0) return undefined;
      for (let i = 0; i < r.left.length; i += 2) if (!nodes.has(r.left[i]!)) return undefined;
      if (r.newer !== undefined) {
        if (!isUintList(r.newer) || r.newer.length % 2 !== 0) return undefined;
        for (let i = 0; i < r.newer.length; i += 2) if (!nodes.has(r.newer[i]!)) return undefined;
      }
      return r as unknown as JoinMsg;
    }
    case Kind.commitReq: {
      if (!hasUints(r, ['inc', 'round'])) return undefined;
      if (typeof r.key !== 'string' || r.key.length > keyLengthMax) return undefined;
      if (!isSortedUniqueIds(r.members, nodes)) return undefined;
      return r as unknown as CommitReqMsg;
    }
    case Kind.commitInfo: {
      if (!hasUints(r, ['repInc', 'repRound'])) return undefined;
      const info = parseOldRingInfo(r, nodes);
      if (info === undefined) return undefined;
      return { kind: Kind.commitInfo, repInc: r.repInc as number, repRound: r.repRound as number, ...info };
    }
    case Kind.commit: {
      if (!hasUints(r, ['repInc', 'repRound', 'ringSeq'])) return undefined;
      if (!isSortedUniqueIds(r.members, nodes) || !Array.isArray(r.infos)) return undefined;
      if (r.infos.length !== r.members.length) return undefined;
      const infos: OldRingInfo[] = [];
      for (let i = 0; i < r.infos.length; i++) {
        const raw = r.infos[i] as unknown;
        if (typeof raw !== 'object' || raw === null) return undefined;
        const info = parseOldRingInfo(raw as Rec, nodes);
        if (info === undefined || info.node !== r.members[i]) return undefined;
        infos.push(info);
      }
      return {
        kind: Kind.commit,
        repInc: r.repInc as number,
        repRound: r.repRound as number,
        ringSeq: r.ringSeq as number,
        members: r.members,
        infos,
      };
    }
    case Kind.recoverReq: {
      if (!hasUints(r, ['oldSeq', 'oldRep']) || !isUintList(r.seqs)) return undefined;
      return r as unknown as RecoverReqMsg;
    }
    case Kind.recoverData: {
      if (!hasUints(r, ['oldSeq', 'oldRep']) || !Array.isArray(r.msgs) || r.msgs.length > listLengthMax) return undefined;
      const msgs: RingMessage[] = [];
      for (const raw of r.msgs as unknown[]) {
        if (typeof raw !== 'object' || raw === null) return undefined;
        const m = parseRingMessage(raw as Rec, nodes);
        if (m === undefined) return undefined;
        msgs.push(m);
      }
      return { kind: Kind.recoverData, oldSeq: r.oldSeq as number, oldRep: r.oldRep as number, msgs };
    }
    case Kind.ready: {
      if (!hasUints(r, ['ringSeq', 'ringRep'])) return undefined;
      return r as unknown as ReadyMsg;
    }
    case Kind.token: {
      if (!hasUints(r, ['ringSeq', 'ringRep', 'tokenSeq', 'seq']) || !isFlag(r.busy)) return undefined;
      if (!isUintList(r.arus) || !isUintList(r.rtr)) return undefined;
      return r as unknown as TokenMsg;
    }
    case Kind.tokenAck: {
      if (!hasUints(r, ['ringSeq', 'ringRep', 'tokenSeq'])) return undefined;
      return r as unknown as TokenAckMsg;
    }
    case Kind.mcast: {
      if (!hasUints(r, ['ringSeq', 'ringRep'])) return undefined;
      const m = parseRingMessage(r, nodes);
      if (m === undefined) return undefined;
      return { kind: Kind.mcast, ringSeq: r.ringSeq as number, ringRep: r.ringRep as number, ...m };
    }
    case Kind.probe: {
      if (!hasUints(r, ['inc', 'ringSeq', 'ringRep'])) return undefined;
      if (!isSortedUniqueIds(r.members, nodes) || !isIdList(r.heard, nodes)) return undefined;
      return r as unknown as ProbeMsg;
    }
    case Kind.leave: {
      if (!isUint(r.inc)) return undefined;
      return r as unknown as LeaveMsg;
    }
    default:
      return undefined;
  }
}
