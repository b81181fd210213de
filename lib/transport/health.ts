/**
 * Per-(peer, link) health, as knet keeps it and `corosync-cfgtool -s` shows it.
 *
 * Sans-IO: the monitor never reads a clock or sets a timer. The transport tells it what it heard
 * (`heard`), what it sent (`sent`) and what time it is (`tick`); `tick` answers with the pings to
 * send and the health changes to report.
 *
 * Rules:
 * - A (peer, link) is healthy while an authenticated frame from that peer arrived on that link
 *   within `timeoutMs`. It starts faulty ("never heard"): a link is trusted only once it has
 *   carried a frame, so the first sends fall back to every link until then.
 * - It turns healthy again on the first authenticated frame; a link that carries anything at all
 *   is better than none, and the sender already fans out over every healthy link.
 * - A ping is due for a (peer, link) when we sent nothing to that peer on that link for `pingMs`.
 *   Pings keep the PEER's view of the link fresh; the peer pings us the same way, so no reply is
 *   needed. Application traffic counts as a ping, which keeps a busy cluster ping-free.
 * - A stall (the gap between two ticks above `stallMs`) suspends fault detection for that one tick:
 *   the frames that queued in the socket while this process was frozen are read right after the
 *   timer phase, and must get a chance to count before a peer is declared silent. A link that
 *   really died during the stall is declared faulty by the next tick.
 */

export interface LinkHealthOptions {
  /** Every peer node id (not the local node). */
  readonly peers: readonly number[];
  readonly linkCount: number;
  readonly pingMs: number;
  readonly timeoutMs: number;
  readonly nowMs: number;
  /** Default: half of `timeoutMs`. */
  readonly stallMs?: number;
}

export interface PeerLinkHealth {
  readonly node: number;
  readonly healthy: boolean;
  /** `null` when nothing was ever heard from this peer on this link. */
  readonly lastHeardAgoMs: number | null;
}

export interface HealthChange {
  readonly node: number;
  readonly link: number;
  readonly healthy: boolean;
}

export interface PingWork {
  readonly node: number;
  readonly link: number;
}

export interface HealthTick {
  readonly pings: PingWork[];
  readonly changes: HealthChange[];
  /** True when this tick saw a stall and skipped fault detection. */
  readonly stalled: boolean;
}

export class LinkHealthMonitor {
  readonly linkCount: number;
  readonly pingMs: number;
  readonly timeoutMs: number;
  readonly stallMs: number;
  readonly #peers: readonly number[];
  readonly #indexOfPeer = new Map<number, number>();
  /** Indexed by peerIndex * linkCount + link. -Infinity means never. */
  readonly #lastHeardMs: Float64Array;
  readonly #lastSentMs: Float64Array;
  readonly #healthy: Uint8Array;
  /** Per peer: the links healthy right now, rebuilt on each change so `send` does not allocate. */
  readonly #healthyLinks: number[][];
  readonly #allLinks: readonly number[];
  #lastTickMs: number;
  #stalls = 0;

  constructor(options: LinkHealthOptions) {
    if (!Number.isInteger(options.linkCount) || options.linkCount < 1) {
      throw new RangeError(`linkCount must be a positive integer, got ${options.linkCount}`);
    }
    if (!(options.pingMs > 0) || !(options.timeoutMs > 0)) {
      throw new RangeError('pingMs and timeoutMs must be positive');
    }
    this.linkCount = options.linkCount;
    this.pingMs = options.pingMs;
    this.timeoutMs = options.timeoutMs;
    this.stallMs = options.stallMs ?? options.timeoutMs / 2;
    this.#peers = [...options.peers];
    this.#peers.forEach((node, index) => {
      if (this.#indexOfPeer.has(node)) throw new RangeError(`peer ${node} listed twice`);
      this.#indexOfPeer.set(node, index);
    });
    const size = this.#peers.length * this.linkCount;
    this.#lastHeardMs = new Float64Array(size).fill(-Infinity);
    this.#lastSentMs = new Float64Array(size).fill(-Infinity);
    this.#healthy = new Uint8Array(size);
    this.#healthyLinks = this.#peers.map(() => []);
    this.#allLinks = Array.from({ length: this.linkCount }, (_, link) => link);
    this.#lastTickMs = options.nowMs;
  }

  get peers(): readonly number[] {
    return this.#peers;
  }

  /** How many ticks skipped fault detection because this process had stalled. */
  get stalls(): number {
    return this.#stalls;
  }

  /**
   * An authenticated frame from `node` arrived on `link`. Returns the change when this turned
   * the (peer, link) healthy. Unknown peers are ignored: the wire already decided who may talk.
   */
  heard(node: number, link: number, nowMs: number): HealthChange | undefined {
    const slot = this.#slot(node, link);
    if (slot < 0) return undefined;
    if (nowMs > this.#lastHeardMs[slot]!) this.#lastHeardMs[slot] = nowMs;
    if (this.#healthy[slot] === 1) return undefined;
    this.#healthy[slot] = 1;
    this.#rebuildHealthyLinks(this.#indexOfPeer.get(node)!);
    return { node, link, healthy: true };
  }

  /** Something was sent to `node` on `link`; it stands in for a ping. */
  sent(node: number, link: number, nowMs: number): void {
    const slot = this.#slot(node, link);
    if (slot >= 0 && nowMs > this.#lastSentMs[slot]!) this.#lastSentMs[slot] = nowMs;
  }

  /**
   * Advances time. The returned pings are taken as sent (the caller must send them now): that
   * keeps a failing send from turning into a ping storm.
   */
  tick(nowMs: number): HealthTick {
    const stalled = nowMs - this.#lastTickMs > this.stallMs;
    this.#lastTickMs = nowMs;
    if (stalled) this.#stalls += 1;
    const pings: PingWork[] = [];
    const changes: HealthChange[] = [];
    for (let peerIndex = 0; peerIndex < this.#peers.length; peerIndex++) {
      const node = this.#peers[peerIndex]!;
      let changed = false;
      for (let link = 0; link < this.linkCount; link++) {
        const slot = peerIndex * this.linkCount + link;
        if (!stalled && this.#healthy[slot] === 1 && nowMs - this.#lastHeardMs[slot]! >= this.timeoutMs) {
          this.#healthy[slot] = 0;
          changed = true;
          changes.push({ node, link, healthy: false });
        }
        if (nowMs - this.#lastSentMs[slot]! >= this.pingMs) {
          this.#lastSentMs[slot] = nowMs;
          pings.push({ node, link });
        }
      }
      if (changed) this.#rebuildHealthyLinks(peerIndex);
    }
    return { pings, changes, stalled };
  }

  isHealthy(node: number, link: number): boolean {
    const slot = this.#slot(node, link);
    return slot >= 0 && this.#healthy[slot] === 1;
  }

  /**
   * The links to send to `node` on: the healthy ones, or every link when none is healthy (a
   * faulty verdict may be stale, and sending on a dead link costs less than not sending at all).
   * The array is shared; do not modify it.
   */
  sendLinks(node: number): readonly number[] {
    const peerIndex = this.#indexOfPeer.get(node);
    if (peerIndex === undefined) return this.#allLinks;
    const healthy = this.#healthyLinks[peerIndex]!;
    return healthy.length > 0 ? healthy : this.#allLinks;
  }

  /** Every peer's health on `link`, for status displays. */
  linkPeers(link: number, nowMs: number): PeerLinkHealth[] {
    return this.#peers.map((node, peerIndex) => {
      const slot = peerIndex * this.linkCount + link;
      const lastHeardMs = this.#lastHeardMs[slot]!;
      return {
        node,
        healthy: this.#healthy[slot] === 1,
        lastHeardAgoMs: lastHeardMs === -Infinity ? null : Math.max(0, nowMs - lastHeardMs),
      };
    });
  }

  #slot(node: number, link: number): number {
    const peerIndex = this.#indexOfPeer.get(node);
    if (peerIndex === undefined || !(link >= 0 && link < this.linkCount)) return -1;
    return peerIndex * this.linkCount + link;
  }

  #rebuildHealthyLinks(peerIndex: number): void {
    const links: number[] = [];
    for (let link = 0; link < this.linkCount; link++) {
      if (this.#healthy[peerIndex * this.linkCount + link] === 1) links.push(link);
    }
    this.#healthyLinks[peerIndex] = links;
  }
}
