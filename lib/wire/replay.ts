/**
 * Replay protection for one sender: a sliding window over its frame counter.
 *
 * The window covers the `size` counters ending at the highest one accepted. Each slot remembers
 * the link (plus one; 0 = not seen) the first accepted copy of that counter came in on, which is
 * what tells a redundant-link copy ('duplicate', benign) from a replay on the same link. Memory
 * is fixed at construction: two bytes per slot, whatever the sender does.
 *
 * Call `check` only for frames that authenticated: an unauthenticated frame must never move the
 * window, or a forger could push it forward and make real frames look old.
 */

export const enum ReplayVerdict {
  Fresh = 0,
  Replay = 1,
  Duplicate = 2,
  /** Incarnation lower than the newest seen for this sender. */
  OldIncarnation = 3,
}

/** Link ids are small interface indexes; anything else is folded onto link 0. */
export const MAX_LINK_ID = 0xfffe;

export function normalizeLinkId(linkId: number | undefined): number {
  return typeof linkId === 'number' && Number.isInteger(linkId) && linkId >= 0 && linkId <= MAX_LINK_ID ? linkId : 0;
}

export class ReplayWindow {
  readonly size: number;
  #incarnation = 0;
  /** Highest counter accepted in the current incarnation; -1 before the first. */
  #highest = -1;
  readonly #slots: Uint16Array;

  /** `floor`: the newest incarnation known from before a restart; older ones are replays. */
  constructor(size: number, floor = 0) {
    this.size = size;
    this.#incarnation = floor;
    this.#slots = new Uint16Array(size);
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  /**
   * Whether accepting (incarnation, counter) would start a newer incarnation, which discards the
   * sender's older state. Read-only, so callers can act before `check` commits.
   */
  isNewIncarnation(incarnation: number): boolean {
    return incarnation > this.#incarnation;
  }

  /** Classifies an authenticated frame and, when fresh, records it. */
  check(incarnation: number, counter: number, linkId: number): ReplayVerdict {
    if (incarnation < this.#incarnation) return ReplayVerdict.OldIncarnation;
    if (incarnation > this.#incarnation) {
      // A restarted sender: its counters begin again, so the old window means nothing.
      this.#incarnation = incarnation;
      this.#highest = -1;
      this.#slots.fill(0);
    }
    const mark = linkId + 1;
    const size = this.size;
    if (counter > this.#highest) {
      const gap = counter - this.#highest;
      if (this.#highest < 0 || gap >= size) {
        this.#slots.fill(0);
      } else {
        // Counters skipped over (lost or still in flight) become unseen slots inside the window.
        for (let c = this.#highest + 1; c < counter; c++) this.#slots[c % size] = 0;
      }
      this.#slots[counter % size] = mark;
      this.#highest = counter;
      return ReplayVerdict.Fresh;
    }
    if (counter <= this.#highest - size) return ReplayVerdict.Replay;
    const slot = counter % size;
    const seen = this.#slots[slot]!;
    if (seen === 0) {
      this.#slots[slot] = mark;
      return ReplayVerdict.Fresh;
    }
    return seen === mark ? ReplayVerdict.Replay : ReplayVerdict.Duplicate;
  }
}
