/**
 * Reassembly of fragmented messages, bounded in memory and in time.
 *
 * Memory is accounted, not just payload: each pending message costs PENDING_OVERHEAD_BYTES plus
 * 8 bytes per expected fragment (its slot), and each held fragment its length plus
 * HELD_FRAGMENT_OVERHEAD_BYTES. Without that, a sender could pin thousands of tiny partial
 * messages whose bookkeeping outweighs their bytes. When adding a fragment would pass
 * `maxBytes`, the oldest other pending messages are evicted until it fits.
 *
 * Time comes in as `nowMs`; a pending message expires `timeoutMs` after its FIRST fragment
 * arrived (a fixed lifetime, so a slow drip of fragments cannot keep it alive forever).
 */
import { FRAGMENT_OVERHEAD_BYTES } from './frame.js';

export const PENDING_OVERHEAD_BYTES = 256;
export const HELD_FRAGMENT_OVERHEAD_BYTES = 64;
/** Smallest maxDatagramBytes a Wire accepts; also what bounds a peer's fragment count. */
export const MIN_DATAGRAM_BYTES = 256;
const MIN_CHUNK_BYTES = MIN_DATAGRAM_BYTES - FRAGMENT_OVERHEAD_BYTES;

/**
 * Most fragments a message of `maxMessageBytes` can need, even from a peer configured with the
 * smallest datagrams allowed; peers' datagram sizes may differ, so the local one cannot be used.
 */
export function maxFragmentCountFor(maxMessageBytes: number): number {
  return Math.ceil(maxMessageBytes / MIN_CHUNK_BYTES);
}

/** Smallest maxReassemblyBytes that can always hold one largest message. */
export function minReassemblyBytesFor(maxMessageBytes: number): number {
  const count = maxFragmentCountFor(maxMessageBytes);
  return maxMessageBytes + PENDING_OVERHEAD_BYTES + count * (8 + HELD_FRAGMENT_OVERHEAD_BYTES);
}

export type DiscardReason = 'reassembly-timeout' | 'oversize' | 'malformed';
export type DiscardCause = 'expired' | 'evicted' | 'restarted' | 'oversize' | 'undecodable';

interface Pending {
  readonly key: string;
  readonly from: number;
  readonly incarnation: number;
  readonly count: number;
  readonly createdMs: number;
  readonly chunks: (Buffer | undefined)[];
  have: number;
  payloadBytes: number;
  accountedBytes: number;
}

export type AddOutcome =
  | { status: 'partial' }
  | { status: 'complete'; payload: Buffer; fragments: number }
  | { status: 'dropped'; reason: 'oversize' | 'malformed' };

const PARTIAL: AddOutcome = Object.freeze({ status: 'partial' });
const DROP_OVERSIZE: AddOutcome = Object.freeze({ status: 'dropped', reason: 'oversize' });
const DROP_MALFORMED: AddOutcome = Object.freeze({ status: 'dropped', reason: 'malformed' });

export interface ReassemblerOptions {
  maxMessageBytes: number;
  maxBytes: number;
  timeoutMs: number;
  /**
   * Told about every pending message thrown away, with how many of its fragments had been
   * held, so the owner can move those frames from 'partial' to a drop bucket.
   */
  onDiscard: (heldFragments: number, reason: DiscardReason, cause: DiscardCause) => void;
}

export class Reassembler {
  readonly #maxMessageBytes: number;
  readonly #maxFragmentCount: number;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #onDiscard: ReassemblerOptions['onDiscard'];
  /** Insertion order is creation order, which eviction relies on to find the oldest. */
  readonly #pending = new Map<string, Pending>();
  /** Pending messages per sender, so a restart only scans when there is something to drop. */
  readonly #pendingBySender = new Map<number, number>();
  #bytes = 0;
  #heldFragments = 0;

  constructor(options: ReassemblerOptions) {
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#maxFragmentCount = maxFragmentCountFor(options.maxMessageBytes);
    this.#maxBytes = options.maxBytes;
    this.#timeoutMs = options.timeoutMs;
    this.#onDiscard = options.onDiscard;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  get heldFragments(): number {
    return this.#heldFragments;
  }

  /**
   * Adds one authenticated, replay-checked fragment. `chunk` may be a view into a scratch
   * buffer: it is copied when held.
   */
  add(
    from: number,
    incarnation: number,
    counter: number,
    index: number,
    count: number,
    chunk: Uint8Array,
    nowMs: number,
  ): AddOutcome {
    if (count < 2 || index >= count || chunk.length === 0 || counter < index) return DROP_MALFORMED;
    if (count > this.#maxFragmentCount) return DROP_OVERSIZE;
    // Every fragment but the last is full-sized, so a non-last one tells the least total size.
    if (index < count - 1 && (count - 1) * chunk.length + 1 > this.#maxMessageBytes) return DROP_OVERSIZE;

    // Fragments of one message carry consecutive counters, so counter - index names the message
    // uniquely within (sender, incarnation) without sending a message id.
    const key = `${from}:${counter - index}`;
    let pending = this.#pending.get(key);
    if (pending !== undefined && pending.incarnation !== incarnation) {
      // Cannot happen: a newer incarnation discards the older one's pending messages first.
      this.#discard(pending, 'reassembly-timeout', 'restarted');
      pending = undefined;
    }
    if (pending !== undefined) {
      if (pending.count !== count || pending.chunks[index] !== undefined) return DROP_MALFORMED;
      if (pending.payloadBytes + chunk.length > this.#maxMessageBytes) {
        this.#discard(pending, 'oversize', 'oversize');
        return DROP_OVERSIZE;
      }
    }

    const fragmentCost = chunk.length + HELD_FRAGMENT_OVERHEAD_BYTES;
    const newCost = pending === undefined ? PENDING_OVERHEAD_BYTES + 8 * count : 0;
    const needed = fragmentCost + newCost;
    if (needed + (pending === undefined ? 0 : pending.accountedBytes) > this.#maxBytes) return DROP_OVERSIZE;
    if (this.#bytes + needed > this.#maxBytes) this.#evictFor(needed, pending);

    if (pending === undefined) {
      pending = {
        key,
        from,
        incarnation,
        count,
        createdMs: nowMs,
        chunks: new Array<Buffer | undefined>(count),
        have: 0,
        payloadBytes: 0,
        accountedBytes: newCost,
      };
      this.#pending.set(key, pending);
      this.#pendingBySender.set(from, (this.#pendingBySender.get(from) ?? 0) + 1);
      this.#bytes += newCost;
    }

    if (pending.have === count - 1) {
      // The last missing fragment: assemble straight from the held chunks and this view.
      const payload = Buffer.allocUnsafe(pending.payloadBytes + chunk.length);
      let offset = 0;
      for (let i = 0; i < count; i++) {
        const part = i === index ? chunk : pending.chunks[i]!;
        payload.set(part, offset);
        offset += part.length;
      }
      const fragments = pending.have + 1;
      this.#remove(pending);
      return { status: 'complete', payload, fragments };
    }

    const held = Buffer.allocUnsafeSlow(chunk.length);
    held.set(chunk);
    pending.chunks[index] = held;
    pending.have++;
    pending.payloadBytes += chunk.length;
    pending.accountedBytes += fragmentCost;
    this.#bytes += fragmentCost;
    this.#heldFragments++;
    return PARTIAL;
  }

  /** Drops every pending message older than the timeout. */
  expire(nowMs: number): void {
    for (const pending of this.#pending.values()) {
      // `!(a < b)` rather than `a >= b` so a NaN time expires rather than pins the message.
      if (!(nowMs - pending.createdMs < this.#timeoutMs)) this.#discard(pending, 'reassembly-timeout', 'expired');
    }
  }

  /** A sender restarted: its older incarnation's messages can never complete. */
  dropSender(from: number, olderThanIncarnation: number): void {
    if ((this.#pendingBySender.get(from) ?? 0) === 0) return;
    for (const pending of this.#pending.values()) {
      if (pending.from === from && pending.incarnation < olderThanIncarnation) {
        this.#discard(pending, 'reassembly-timeout', 'restarted');
      }
    }
  }

  #evictFor(needed: number, keep: Pending | undefined): void {
    for (const pending of this.#pending.values()) {
      if (this.#bytes + needed <= this.#maxBytes) return;
      if (pending !== keep) this.#discard(pending, 'reassembly-timeout', 'evicted');
    }
  }

  #discard(pending: Pending, reason: DiscardReason, cause: DiscardCause): void {
    this.#remove(pending);
    this.#onDiscard(pending.have, reason, cause);
  }

  #remove(pending: Pending): void {
    this.#pending.delete(pending.key);
    const left = (this.#pendingBySender.get(pending.from) ?? 1) - 1;
    if (left === 0) this.#pendingBySender.delete(pending.from);
    else this.#pendingBySender.set(pending.from, left);
    this.#bytes -= pending.accountedBytes;
    this.#heldFragments -= pending.have;
  }
}
