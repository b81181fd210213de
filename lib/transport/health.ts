/**
 * Per-(peer, link) health, as knet keeps it and `corosync-cfgtool -s` shows it.
 *
 * Sans-IO: the monitor never reads a clock or sets a timer. The transport tells it what it heard
 * (`heard`), what it sent (`sent`) and what time it is (`tick`); `tick` answers with the pings to
 * send and the health changes to report.
 *
 * Rules:
 * - A (peer, link) is healthy while an authenticated frame from that peer arrived on that link
 *   within `timeoutMs` AND, when the peer reports what it hears (`reported`, from its pings),
 *   its latest report within `timeoutMs` says it hears us there. A link that carries only one
 *   way (a mistyped address, a one-way firewall rule) is not healthy: receiving proves half of it.
 *   It starts faulty ("never heard"): a link is trusted only once it has carried a frame, so the
 *   first sends fall back to every link until then. A peer that never reports (an older
 *   version) is judged on what we hear alone, since the other direction cannot be known.
 * - It turns healthy again on the first authenticated frame; a link that carries anything at all
 *   is better than none, and the sender already fans out over every healthy link.
 * - A ping is due for a (peer, link) when we sent nothing to that peer on that link for `pingMs`.
 *   Pings keep the PEER's view of the link fresh; the peer pings us the same way, so no reply is
 *   needed. Application traffic counts as a ping, except that a ping also carries our report of
 *   whom we hear, so a busy (peer, link) still gets one every `timeoutMs / 3`: three reports per
 *   timeout, so one lost report does not turn a good link faulty.
 * - A stall (the gap between two ticks above `stallMs`, or a tick that runs more than `stallMs`
 *   after the time it was scheduled for) suspends fault detection for that one tick:
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
  /**
   * Whether the peer's latest report (within timeoutMs) says it hears us on this link; `null`
   * when it never reported, so only the direction towards us is known.
   */
  readonly hearsUs: boolean | null;
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
  readonly #lastPingMs: Float64Array;
  /** When the peer last reported hearing us; -Infinity when its latest report said it did not. */
  readonly #lastHeardByPeerMs: Float64Array;
  /** 1 once the peer has sent a report: from then on the other direction is known. */
  readonly #reports: Uint8Array;
  readonly #reportEveryMs: number;
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
    this.#lastPingMs = new Float64Array(size).fill(-Infinity);
    this.#lastHeardByPeerMs = new Float64Array(size).fill(-Infinity);
    this.#reports = new Uint8Array(size);
    this.#reportEveryMs = this.timeoutMs / 3;
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
    return this.#update(slot, node, link, nowMs, false);
  }

  /**
   * `node`'s ping on `link` reported whether it heard us there within its timeout. Returns the
   * change when this turned the (peer, link) healthy or faulty.
   */
  reported(node: number, link: number, hearsUs: boolean, nowMs: number): HealthChange | undefined {
    const slot = this.#slot(node, link);
    if (slot < 0) return undefined;
    this.#reports[slot] = 1;
    if (!hearsUs) this.#lastHeardByPeerMs[slot] = -Infinity;
    else if (nowMs > this.#lastHeardByPeerMs[slot]!) this.#lastHeardByPeerMs[slot] = nowMs;
    return this.#update(slot, node, link, nowMs, false);
  }

  /** The peers heard on `link` within timeoutMs: the report our pings carry. */
  heardOn(link: number, nowMs: number): number[] {
    const heard: number[] = [];
    if (!(link >= 0 && link < this.linkCount)) return heard;
    this.#peers.forEach((node, peerIndex) => {
      if (nowMs - this.#lastHeardMs[peerIndex * this.linkCount + link]! < this.timeoutMs) heard.push(node);
    });
    return heard;
  }

  /**
   * Whether a report to `node` on `link` is at least half due: then one riding on a frame that
   * goes there anyway (the transport's bundles) saves a ping of its own later.
   */
  reportWanted(node: number, link: number, nowMs: number): boolean {
    const slot = this.#slot(node, link);
    return slot >= 0 && nowMs - this.#lastPingMs[slot]! >= this.#reportEveryMs / 2;
  }

  /** A report went to `node` on `link` inside another frame: it counts as that slot's ping. */
  reportSent(node: number, link: number, nowMs: number): void {
    const slot = this.#slot(node, link);
    if (slot < 0) return;
    if (nowMs > this.#lastSentMs[slot]!) this.#lastSentMs[slot] = nowMs;
    if (nowMs > this.#lastPingMs[slot]!) this.#lastPingMs[slot] = nowMs;
  }

  /** Something was sent to `node` on `link`; it stands in for a ping. */
  sent(node: number, link: number, nowMs: number): void {
    const slot = this.#slot(node, link);
    if (slot >= 0 && nowMs > this.#lastSentMs[slot]!) this.#lastSentMs[slot] = nowMs;
  }

  /**
   * The earliest time a tick has something to do: a ping falls due, or a healthy (peer, link)
   * would turn faulty if nothing more is heard. A caller that ticks then, instead of on a fixed
   * period, wakes only when there is work (at rest, a few times a second instead of forty) and
   * sees a fault exactly at its timeout. Heard frames and sends only move these times later, so
   * a timer armed for this value is never late; at worst it finds nothing to do and re-arms.
   */
  nextDueMs(): number {
    let due = Infinity;
    for (let slot = 0; slot < this.#healthy.length; slot++) {
      const ping = Math.min(this.#lastSentMs[slot]! + this.pingMs, this.#lastPingMs[slot]! + this.#reportEveryMs);
      if (ping < due) due = ping;
      if (this.#healthy[slot] === 1) {
        const silent = this.#lastHeardMs[slot]! + this.timeoutMs;
        if (silent < due) due = silent;
        if (this.#reports[slot] === 1) {
          const unheard = this.#lastHeardByPeerMs[slot]! + this.timeoutMs;
          if (unheard < due) due = unheard;
        }
      }
    }
    return due;
  }

  /**
   * Advances time. The returned pings are taken as sent (the caller must send them now): that
   * keeps a failing send from turning into a ping storm. `scheduledMs`: when the caller's timer
   * was due; a tick that runs more than `stallMs` after it is a stall, like a long gap between
   * ticks (which is all a fixed-period caller can tell).
   */
  tick(nowMs: number, scheduledMs?: number): HealthTick {
    const stalled = nowMs - this.#lastTickMs > this.stallMs || (scheduledMs !== undefined && nowMs - scheduledMs > this.stallMs);
    this.#lastTickMs = nowMs;
    if (stalled) this.#stalls += 1;
    const pings: PingWork[] = [];
    const changes: HealthChange[] = [];
    for (let peerIndex = 0; peerIndex < this.#peers.length; peerIndex++) {
      const node = this.#peers[peerIndex]!;
      for (let link = 0; link < this.linkCount; link++) {
        const slot = peerIndex * this.linkCount + link;
        const change = this.#update(slot, node, link, nowMs, stalled);
        if (change !== undefined) changes.push(change);
        if (nowMs - this.#lastSentMs[slot]! >= this.pingMs || nowMs - this.#lastPingMs[slot]! >= this.#reportEveryMs) {
          this.#lastSentMs[slot] = nowMs;
          this.#lastPingMs[slot] = nowMs;
          pings.push({ node, link });
        }
      }
    }
    return { pings, changes, stalled };
  }

  /**
   * Re-judges one (peer, link) at `nowMs`. While `stalled`, it may turn healthy but not faulty:
   * the silence may be our own freeze.
   */
  #update(slot: number, node: number, link: number, nowMs: number, stalled: boolean): HealthChange | undefined {
    const hearing = nowMs - this.#lastHeardMs[slot]! < this.timeoutMs;
    const heardBack = this.#reports[slot] === 0 || nowMs - this.#lastHeardByPeerMs[slot]! < this.timeoutMs;
    const healthy = hearing && heardBack;
    if (healthy === (this.#healthy[slot] === 1)) return undefined;
    if (!healthy && stalled) return undefined;
    this.#healthy[slot] = healthy ? 1 : 0;
    this.#rebuildHealthyLinks(Math.floor(slot / this.linkCount));
    return { node, link, healthy };
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
        hearsUs: this.#reports[slot] === 0 ? null : nowMs - this.#lastHeardByPeerMs[slot]! < this.timeoutMs,
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
