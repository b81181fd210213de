/**
 * Large messages under the ring's own order: a payload over FRAGMENT_CHUNK_BYTES is split into
 * totem messages of that size, and put back together on delivery.
 *
 * Why under totem and not in the wire: each fragment gets its own seq, so a lost datagram costs
 * the retransmission of one fragment (a few datagrams), not of the whole message. The wire's own
 * fragmentation resends a whole message for one lost datagram, which a message of hundreds of
 * datagrams never survives under load.
 *
 * Takes: payloads to split; deliveries (in agreed order) and views.
 * Emits: whole payloads, at the point of agreed order where their last fragment is delivered, so
 * every member that delivers a large message delivers it at the same place in the order.
 * Must never: hand out a message with a fragment missing, or hold more than one partial message
 * per sender (one sender's fragments are contiguous in its send queue, and totem delivers one
 * sender's messages in the order it sent them).
 *
 * Fragment layout (released format: never change, a new layout takes a new version byte):
 *   0  1  0xC1, a byte msgpack never uses, so a fragment is never mistaken for a msgpack payload
 *         (and an older sanode, which unpacks every payload, reads it as nothing and ignores it)
 *   1  1  version (1)
 *   2  4  message key (per sender, grows by one per large message; u32, wraps)
 *   6  4  index
 *   10 4  count
 *   14 .. the slice
 * A payload of the application's that starts with 0xC1 is sent as a fragment 0 of 1, so the
 * first byte alone tells the two apart.
 */
export const FRAGMENT_MARK = 0xc1;
const FRAGMENT_VERSION = 1;
const HEADER_BYTES = 14;
/** 14 datagrams at the wire's default 1200: small enough that one loss costs little. */
export const FRAGMENT_CHUNK_BYTES = 16 * 1024;
/** Default bound on one large message (and on what one sender's partial message may hold). */
export const DEFAULT_MAX_LARGE_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Anything over one chunk goes as fragments, not only what one wire message cannot carry: a
 * 200 KB totem message is 170 datagrams, each retransmission a burst the receiver's socket
 * buffer drops part of, so it is lost again every time (measured: never delivered, in one
 * process on loopback).
 */
export function needsFragments(payload: Uint8Array): boolean {
  return payload.length > FRAGMENT_CHUNK_BYTES || payload[0] === FRAGMENT_MARK;
}

export function fragmentCount(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / FRAGMENT_CHUNK_BYTES));
}

export function splitPayload(payload: Uint8Array, key: number): Uint8Array[] {
  const count = fragmentCount(payload.length);
  const out: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const slice = payload.subarray(index * FRAGMENT_CHUNK_BYTES, (index + 1) * FRAGMENT_CHUNK_BYTES);
    const fragment = new Uint8Array(HEADER_BYTES + slice.length);
    const view = new DataView(fragment.buffer);
    fragment[0] = FRAGMENT_MARK;
    fragment[1] = FRAGMENT_VERSION;
    view.setUint32(2, key >>> 0);
    view.setUint32(6, index);
    view.setUint32(10, count);
    fragment.set(slice, HEADER_BYTES);
    out.push(fragment);
  }
  return out;
}

export interface DefragmenterStats {
  /** Large messages put back together. */
  assembled: number;
  /** Partial messages given up: a gap (cannot happen with totem's guarantees), the sender left, or too large. */
  abandoned: number;
  /** Fragments that fit no message (bad header, another version, not the next index). */
  dropped: number;
}

export class Defragmenter {
  readonly #maxBytes: number;
  readonly #partial = new Map<number, { incarnation: number; key: number; next: number; count: number; bytes: number; slices: Uint8Array[] }>();
  readonly stats: DefragmenterStats = { assembled: 0, abandoned: 0, dropped: 0 };

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /**
   * The whole payload when `payload` completes one (or is not a fragment at all), else undefined.
   * `incarnation` is the sender's: a restarted sender never finishes its earlier run's message.
   */
  accept(sender: number, payload: Uint8Array, incarnation = 0): Uint8Array | undefined {
    if (payload[0] !== FRAGMENT_MARK) return payload;
    if (payload.length < HEADER_BYTES || payload[1] !== FRAGMENT_VERSION) {
      this.stats.dropped++;
      return undefined;
    }
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const key = view.getUint32(2);
    const index = view.getUint32(6);
    const count = view.getUint32(10);
    const slice = payload.subarray(HEADER_BYTES);
    let partial = this.#partial.get(sender);
    if (index === 0) {
      if (partial !== undefined) this.stats.abandoned++;
      partial = { incarnation, key, next: 0, count, bytes: 0, slices: [] };
      this.#partial.set(sender, partial);
    }
    if (partial === undefined || partial.incarnation !== incarnation || partial.key !== key || partial.next !== index || partial.count !== count || count === 0) {
      // Cannot happen under totem's guarantees; if it does, the partial message can never be
      // whole, so it goes too rather than wait for an index 0.
      this.stats.dropped++;
      if (partial !== undefined) {
        this.#partial.delete(sender);
        this.stats.abandoned++;
      }
      return undefined;
    }
    partial.bytes += slice.length;
    if (partial.bytes > this.#maxBytes) {
      this.#partial.delete(sender);
      this.stats.abandoned++;
      return undefined;
    }
    partial.slices.push(slice);
    partial.next++;
    if (partial.next < partial.count) return undefined;
    this.#partial.delete(sender);
    this.stats.assembled++;
    const whole = new Uint8Array(partial.bytes);
    let offset = 0;
    for (const s of partial.slices) {
      whole.set(s, offset);
      offset += s.length;
    }
    return whole;
  }

  /** A new view: a sender that is not in it will never send the rest of its message. */
  onView(members: readonly number[]): void {
    for (const sender of [...this.#partial.keys()]) {
      if (!members.includes(sender)) {
        this.#partial.delete(sender);
        this.stats.abandoned++;
      }
    }
  }
}
