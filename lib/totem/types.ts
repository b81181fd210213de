/**
 * The contract between the totem protocol core and whatever drives it (the simulator in
 * lib/sim, the real runtime in lib/runtime). The core is sans-IO: it never reads a clock, opens a
 * socket, sets a timer or draws a random number. Time comes in as `nowMs` (a monotonic
 * millisecond count owned by the driver), input comes in as method calls, and everything the core
 * wants done comes out of `takeOutput()`.
 *
 * Driver loop contract (in this order, every turn):
 *   1. feed inputs: `receive()` for each packet, `tick(now)` when `nextDeadlineMs()` has passed,
 *      API calls (`broadcast`, `leave`);
 *   2. call `takeOutput()` and, IN THIS ORDER: persist `persist` (if set) durably, THEN send
 *      `sends`, THEN hand `events` to the application. Persisting before sending is what keeps
 *      view ids unique across restarts.
 *   3. sleep until `nextDeadlineMs()` or the next packet.
 */

export type NodeId = number;

/** Identifies one ring (view), like corosync's ring id: the representative and a sequence. */
export interface ViewId {
  /** Strictly grows across the life of the cluster; persisted so a restart never reuses one. */
  readonly seq: number;
  /** The node that formed the view (its representative). Makes ids unique across partitions. */
  readonly rep: NodeId;
}

export interface View {
  readonly id: ViewId;
  /** Sorted ascending, no duplicates, always includes the node that installs it. */
  readonly members: readonly NodeId[];
  /**
   * incarnations[i] is members[i]'s incarnation as the ring's commit recorded it: the same at
   * every member. A restarted node has a larger one than before.
   */
  readonly incarnations?: readonly number[];
  /**
   * primarySeqs[i] is the newest ring seq that members[i] had seen its layer above count as
   * primary (quorate) when this ring was committed (TotemCore.notePrimary), 0 for none: the same
   * at every member. Tells every member alike who comes from the newest primary component.
   */
  readonly primarySeqs?: readonly number[];
}

/** One application message delivered in agreed order. */
export interface Delivery {
  /** The view in which it is delivered (every member delivering it does so in this view). */
  readonly viewId: ViewId;
  readonly sender: NodeId;
  /** Sender's incarnation when it broadcast the message. */
  readonly senderIncarnation: number;
  /** Sender-local id returned by `broadcast()`; (sender, senderIncarnation, msgId) is unique. */
  readonly msgId: number;
  readonly payload: Uint8Array;
  /**
   * Its place in the order of its ring (viewId's ring), for comparing with TotemOutput.safe.
   * Optional only for drivers and tests that build deliveries by hand.
   */
  readonly seq?: number;
}

/** "Every member of ring `viewId` holds every message of that ring up to `seq`." */
export interface SafeMark {
  readonly viewId: ViewId;
  readonly seq: number;
}

export type TotemEvent =
  | {
      readonly type: 'view';
      readonly view: View;
      /**
       * Members that come from this node's previous ring (the EVS transitional set), this node
       * included; they delivered exactly the same messages of that ring. Absent for a first ring.
       */
      readonly transitional?: readonly NodeId[];
    }
  | { readonly type: 'deliver'; readonly delivery: Delivery };

/** A protocol message as the core emits and accepts it. The wire layer encodes it. */
export type TotemMessage = { readonly kind: number } & Record<string, unknown>;

export interface Send {
  /** A single node, or every other configured node ('all' — the ring's multicast). */
  readonly to: NodeId | 'all';
  readonly msg: TotemMessage;
}

export interface TotemOutput {
  readonly sends: readonly Send[];
  readonly events: readonly TotemEvent[];
  /** When set, the driver must store it durably before sending anything in `sends`. */
  readonly persist: { readonly ringSeq: number } | undefined;
  /**
   * Set when a new token of the installed ring was accepted since the last takeOutput(): the
   * time (a `nowMs` given earlier) at which this node last passed the token on. The accepted
   * token has been all the way round since, so the ring was intact THEN — not necessarily now:
   * a token can wait in a socket buffer while the process is frozen. Leader leases are renewed
   * from this time. Duplicated and stale tokens never set it.
   */
  readonly tokenAcceptedMs?: number | undefined;
  /**
   * Set when more of the installed ring became safe since the last takeOutput(): every member
   * has received, delivered and (by the driver contract, before it passed the token on) acted on
   * each message of that ring up to this seq. Agreed delivery comes before this, as soon as this
   * node holds every lower message; a cut-off member may have delivered what nobody else has.
   * A ring of one is safe as it delivers.
   */
  readonly safe?: SafeMark | undefined;
}

export interface TotemTimers {
  /** No token seen for this long: the ring is declared broken and membership starts. */
  tokenTimeoutMs: number;
  /** The token holder resends the token if it sees no sign the successor got it. */
  tokenRetransmitMs: number;
  /** How long the token holder may keep the token before passing it when idle (0 = at once). */
  tokenHoldMs: number;
  /** Resend of join messages while gathering. */
  joinMs: number;
  /** Gathering gives up on nodes that have not agreed after this long. */
  consensusMs: number;
  /** How often an operational ring announces itself so separate partitions find each other. */
  mergeDetectMs: number;
  /** Nodes not heard from (in either direction) for this long are excluded while gathering. */
  failToRecvMs: number;
  /**
   * Optional (default 0): added to tokenTimeoutMs for every member beyond two, because one
   * rotation of the token takes one hop per member (corosync's token_coefficient).
   */
  tokenPerMemberMs?: number;
}

export interface TotemConfig {
  readonly nodeId: NodeId;
  /** Distinguishes this run of the node from earlier runs (new on every restart). */
  readonly incarnation: number;
  /** All nodes that may ever be members (corosync's nodelist). Messages from others are ignored. */
  readonly nodes: readonly NodeId[];
  /** The last persisted ring seq (0 on first start). */
  readonly ringSeq: number;
  readonly timers: TotemTimers;
  /** Upper bound on messages queued by broadcast() and not yet ordered. */
  readonly maxSendQueue: number;
  /** Upper bound on new messages a node may originate per token visit (flow control). */
  readonly maxMessagesPerToken: number;
  /**
   * Optional (default: no limit): the largest payload broadcast() accepts. The transport below
   * cannot carry more, and a message it cannot carry must be refused before it takes a seq, or
   * every member would wait for it forever. Also bounds the payload bytes of one recovery chunk.
   */
  readonly maxPayloadBytes?: number;
  /**
   * Optional (default: no limit): payload bytes a node sends per token visit, retransmissions and
   * new messages together (at least one message always goes). Without it, a visit could burst
   * megabytes of large-message fragments at once and overflow the receivers' socket buffers,
   * turning into more loss and more retransmission.
   */
  readonly maxBytesPerToken?: number;
  /** Simulator only: bugs the checkers must catch (lib/sim/bugs.ts); unknown names do nothing. */
  readonly injectedBugs?: ReadonlySet<string>;
}

export type BroadcastResult =
  | { readonly ok: true; readonly msgId: number }
  | { readonly ok: false; readonly reason: 'queue-full' | 'left' }
  | { readonly ok: false; readonly reason: 'too-large'; readonly maxPayloadBytes: number };

export interface TotemCore {
  /** Input: a protocol message from `from`. Malformed messages are counted and ignored. */
  receive(from: NodeId, msg: TotemMessage, nowMs: number): void;
  /** Input: time has passed. Fires every timer whose deadline is <= nowMs. */
  tick(nowMs: number): void;
  /** Input: queue an application message for agreed-order delivery. Never drops silently. */
  broadcast(payload: Uint8Array, nowMs: number): BroadcastResult;
  /** Input: leave the group gracefully so others form a new view without waiting for timeouts. */
  leave(nowMs: number): void;
  /**
   * Input (optional for a core): the layer above counts the installed view with this ring seq
   * as primary (quorate). Carried in this node's commit info, so the next view tells its
   * members which of them were in the newest primary component; a node that was frozen or cut
   * off while the others went on is then not mistaken for the longest-running member.
   */
  notePrimary?(ringSeq: number): void;
  /** Output: everything produced since the last call. */
  takeOutput(): TotemOutput;
  /** The earliest time `tick` must be called, or undefined if no timer is armed. */
  nextDeadlineMs(): number | undefined;
  /** Read-only state for status pages and checkers. */
  status(): TotemStatus;
}

export interface TotemStatus {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly state: 'gather' | 'commit' | 'recovery' | 'operational' | 'left';
  readonly view: View | undefined;
  readonly sendQueueLength: number;
  readonly counters: Readonly<Record<string, number>>;
}
