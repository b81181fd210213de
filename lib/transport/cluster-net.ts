/**
 * ClusterNet: the wire layer over one to eight redundant UDP links. This is the network port the
 * runtime gives totem.
 *
 * Send: seal once, then send the same datagrams on every link healthy for the peer (every link
 * when none is healthy). The wire accepts the first copy and reports the others as 'duplicate',
 * so redundancy costs bandwidth, never a double delivery.
 *
 * Receive: datagram → wire.open(bytes, now, link) → the health monitor notes (peer, link) for
 * anything authenticated (a message, a fragment, a duplicate) → complete application messages
 * addressed to this node go out as 'message'. Pings stop here.
 *
 * Must never: throw out of the receive path (a throwing 'message' listener is counted and logged,
 * the socket loop goes on), throw from a send on a transient network error, or hand a ping, a
 * frame of our own or a frame addressed to another node to the application.
 *
 * Envelope, inside the sealed (authenticated) message: [kind, dest, payload?]. `dest` is the
 * addressed node, 0 for all. In mcast mode every frame goes to the group, and `dest` is how a
 * node knows a frame was meant for someone else; in udpu mode it guards against a misconfigured
 * address delivering to the wrong node.
 */
import { EventEmitter } from 'eventemitter3';
import { Packr } from 'msgpackr';
import { performance } from 'node:perf_hooks';
import { ConfigError, SanodeError } from '../errors/index.js';
import { Wire, type WireOptions } from '../wire/index.js';
import {
  DEFAULT_LINK_PING_MS,
  DEFAULT_LINK_TIMEOUT_MS,
  validateLinks,
  validateNodes,
  validatePositiveMs,
  type NodeAddress,
  type ResolvedNode,
} from './config.js';
import { LinkHealthMonitor, type HealthChange, type PeerLinkHealth } from './health.js';
import { UdpLink, type LinkConfig, type LinkCounters, type LinkMode } from './udp-link.js';

export type { LinkConfig, NodeAddress };

/** Envelope kinds. Append-only: a released number never changes meaning. */
const KIND_APP = 0;
const KIND_PING = 1;
/**
 * Several application messages in one sealed datagram: [2, 0, shapes, items, report?]. `shapes`
 * lists key lists; `items` is flat triples [dest, shape, value]: shape -1 means value is the
 * message as it is, shape i >= 0 that value lists the values of an object with keys shapes[i],
 * in order. `report`, when present, is what a ping's third element is: whom the sender hears.
 */
const KIND_BUNDLE = 2;
const DEST_ALL = 0;
/**
 * Capability bits, the fourth element of a ping. A node bundles only for peers whose latest ping
 * said CAP_BUNDLE: an older node would count a bundle as malformed and lose every message in it,
 * so a rolling upgrade keeps working (such a peer gets one datagram per message, as before).
 */
const CAP_BUNDLE = 0x01;
/**
 * The widest bundle header: fixarray(4), kind, dest, array16 headers of the shapes and of the
 * items. Reserved up front so a bundle's size is known exactly before it is sealed and it never
 * needs the wire's fragments.
 */
const BUNDLE_HEADER_MAX = 9;
/** Shape indexes stay one byte (positive fixint); a bundle needing more shapes starts another. */
const BUNDLE_SHAPES_MAX = 127;
/** Objects with more keys than this go as they are. */
const SHAPE_KEYS_MAX = 64;
/** Encoded shapes remembered across batches; totem has about a dozen. */
const SHAPE_CACHE_MAX = 256;

/** One message of a turn, for sendBatch(): the same arguments send() takes. */
export interface OutgoingMessage {
  readonly to: number | 'all';
  readonly msg: unknown;
}

export interface ClusterNetOptions {
  wire: WireOptions;
  /** One to eight links (corosync rings / knet links). */
  links: LinkConfig[];
  /** Every node of the cluster, this one included. */
  nodes: NodeAddress[];
  /** Ping a (peer, link) after this long without sending to it. Default 100 ms. */
  linkPingMs?: number;
  /** Declare a (peer, link) faulty after this long without hearing from it. Default 500 ms. */
  linkTimeoutMs?: number;
  /** Monotonic milliseconds. Default performance.now. */
  now?: () => number;
  /**
   * Where to report what must not crash the receive loop (a throwing 'message' listener).
   * Default: process.emitWarning, at most once a second.
   */
  log?: (message: string, error: unknown) => void;
  /**
   * Called synchronously, before the frame is acted on, the first time a peer's incarnation newer
   * than any seen (or than its wire.incarnationFloors entry) authenticates: persist it there, so
   * replay protection survives this node's restart. A throw is reported and the frame still used.
   */
  onPeerIncarnation?: (node: number, incarnation: number) => void;
  /**
   * Pack the messages of one sendBatch() to the same peers into one datagram where they fit
   * (default true). Off: one datagram per message, as send() does, for comparisons and for a
   * peer that must not see bundles.
   */
  bundle?: boolean;
}

export interface LinkStatus {
  link: number;
  mode: LinkMode;
  /** What this link is bound to: "addr:port", or "ifaceAddr -> group:port" for mcast. */
  local: string;
  peers: PeerLinkHealth[];
  sendErrors: number;
  sendErrorsByCode: Record<string, number>;
  lastSendError: string | undefined;
  /** Datagrams received / sent on this link's socket. */
  rx: number;
  tx: number;
}

/** What changed, passed with a 'link' event. */
export type LinkChange = HealthChange;

export interface ClusterNetStats {
  wire: ReturnType<Wire['stats']>;
  links: (LinkCounters & { link: number })[];
  /** Application messages handed to 'message' listeners. */
  delivered: number;
  pingsReceived: number;
  /**
   * Our own frames looped back by multicast, when the wire hands them over (today's wire drops
   * them first, as 'unknown-node', since it never lists itself as a peer).
   */
  ownFrames: number;
  /** Authenticated frames addressed to another node (normal in mcast mode). */
  notForUs: number;
  /** Authenticated but not a ClusterNet envelope: a newer or foreign sender. */
  malformed: number;
  listenerErrors: number;
  messagesSent: number;
  pingsSent: number;
  /** Datagrams sent carrying several messages, and the messages they carried. */
  bundlesSent: number;
  bundledMessages: number;
  /** Bundles received and unpacked (a malformed one counts in `malformed` instead). */
  bundlesReceived: number;
  /** Bundles sent carrying a link report, each standing in for a ping. */
  reportsInBundles: number;
  /** Ticks that skipped fault detection because this process had stalled. */
  stalls: number;
}

/**
 * Frames that carry this cluster's id and a configured node id but fail authentication: almost
 * always a node started with another key (or the other security mode), else a forger.
 */
export interface AuthFailureWarning {
  readonly code: 'SANODE_KEY_MISMATCH';
  /** Where the frames come from ("addr:port", as the socket saw it). */
  readonly address: string;
  /** The node id the frames claim (unauthenticated, so a claim). */
  readonly node: number;
  readonly cause: 'key' | 'security-mode';
  /** Frames from this address that failed authentication so far. */
  readonly frames: number;
  readonly message: string;
}

export interface AuthFailureSource {
  readonly address: string;
  readonly node: number;
  readonly cause: AuthFailureWarning['cause'];
  readonly frames: number;
  readonly lastAgoMs: number;
}

/** A source that keeps failing is warned about again after this long, not once per frame. */
export const AUTH_WARNING_INTERVAL_MS = 30_000;
/** Sources remembered for status; a flood from many spoofed addresses cannot grow it further. */
const AUTH_SOURCES_MAX = 32;

export interface ClusterNetEvents {
  message: (from: number, message: unknown, incarnation: number) => void;
  /**
   * After the 'message' events of one datagram (a bundle has several): a listener that feeds a
   * state machine per message can act on its output once per datagram, so what it sends in
   * answer to a whole bundle goes out bundled too.
   */
  batch: (count: number) => void;
  link: (status: LinkStatus, change: LinkChange) => void;
  /** Rate-limited per source address (AUTH_WARNING_INTERVAL_MS). */
  warning: (warning: AuthFailureWarning) => void;
}

export class ClusterNet extends EventEmitter<ClusterNetEvents> {
  readonly nodeId: number;
  readonly #wire: Wire;
  readonly #links: UdpLink[] = [];
  readonly #nodes = new Map<number, ResolvedNode>();
  readonly #peerIds: readonly number[];
  readonly #health: LinkHealthMonitor;
  readonly #now: () => number;
  readonly #log: (message: string, error: unknown) => void;
  readonly #onPeerIncarnation: ((node: number, incarnation: number) => void) | undefined;
  /** Newest authenticated incarnation per peer. */
  readonly #peerIncarnations = new Map<number, number>();
  readonly #authFailures = new Map<string, { node: number; cause: AuthFailureWarning['cause']; frames: number; lastMs: number; warnedMs: number }>();
  #timer: NodeJS.Timeout | undefined;
  #timerDueMs = Infinity;
  /** How often partial reassemblies are checked while there are any. */
  readonly #tickMs: number;
  #closed = false;
  #lastLogMs = -Infinity;
  readonly #bundle: boolean;
  /** Peers whose latest ping announced CAP_BUNDLE (forgotten when a peer restarts). */
  readonly #bundlePeers = new Set<number>();
  /** Encodes items apart (to size bundles); the wire seals the bytes without encoding again. */
  readonly #packr = new Packr({ useRecords: false, mapsAsObjects: true });
  readonly #bundleScratch: Buffer;
  readonly #shapes = new Map<string, Shape>();
  readonly #counts = {
    delivered: 0,
    pingsReceived: 0,
    ownFrames: 0,
    notForUs: 0,
    malformed: 0,
    listenerErrors: 0,
    messagesSent: 0,
    pingsSent: 0,
    bundlesSent: 0,
    bundledMessages: 0,
    bundlesReceived: 0,
    reportsInBundles: 0,
  };

  private constructor(options: ClusterNetOptions, links: LinkConfig[], nodes: ResolvedNode[], pingMs: number, timeoutMs: number) {
    super();
    // A quarter of the shortest timer, as the fixed health tick was: reassemblies expire within
    // their timeout + 25%.
    this.#tickMs = Math.max(1, Math.min(pingMs, timeoutMs) / 4);
    this.nodeId = options.wire.nodeId;
    this.#wire = new Wire(options.wire);
    for (const node of nodes) this.#nodes.set(node.id, node);
    this.#peerIds = nodes.map((node) => node.id).filter((id) => id !== this.nodeId);
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log ?? ((message, error) => process.emitWarning(`${message}: ${String(error)}`, 'SanodeTransportWarning'));
    this.#onPeerIncarnation = options.onPeerIncarnation;
    this.#bundle = options.bundle ?? true;
    this.#bundleScratch = Buffer.allocUnsafe(this.#wire.maxUnfragmentedBytes);
    for (const [node, incarnation] of options.wire.incarnationFloors ?? []) this.#peerIncarnations.set(node, incarnation);
    this.#health = new LinkHealthMonitor({
      peers: this.#peerIds,
      linkCount: links.length,
      pingMs,
      timeoutMs,
      nowMs: this.#now(),
    });
  }

  /** Validates the options (ConfigError naming the field) and binds every link. */
  static async open(options: ClusterNetOptions): Promise<ClusterNet> {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'expected an object');
    if (typeof options.wire !== 'object' || options.wire === null) throw new ConfigError('wire', 'expected the wire options');
    const links = validateLinks(options.links);
    const nodes = validateNodes(options.nodes, links, options.wire.nodeId);
    const pingMs = validatePositiveMs(options.linkPingMs, 'linkPingMs', DEFAULT_LINK_PING_MS);
    const timeoutMs = validatePositiveMs(options.linkTimeoutMs, 'linkTimeoutMs', DEFAULT_LINK_TIMEOUT_MS);
    if (timeoutMs <= pingMs) {
      throw new ConfigError(
        'linkTimeoutMs',
        `${timeoutMs} must be greater than linkPingMs (${pingMs}), or an idle link is declared faulty between two pings; use at least 3 × linkPingMs`,
      );
    }
    if (options.now !== undefined && typeof options.now !== 'function') throw new ConfigError('now', 'expected a function returning monotonic milliseconds');
    if (options.bundle !== undefined && typeof options.bundle !== 'boolean') throw new ConfigError('bundle', `expected true or false, got ${String(options.bundle)}`);
    const net = new ClusterNet(options, links, nodes, pingMs, timeoutMs);
    try {
      for (let index = 0; index < links.length; index++) {
        net.#links.push(await UdpLink.open(index, links[index]!, net.#onDatagram));
      }
    } catch (error) {
      await net.close();
      throw error;
    }
    // Ping at once: links become healthy one round trip after start, not one tick later. The
    // tick arms the timer for the next time the health monitor has work (not a fixed period:
    // at rest every wake-up of an idle process costs more than the work it does).
    net.#tick();
    return net;
  }

  /**
   * Sends `message` to one node or to every other node. Seals once; throws SANODE_MESSAGE_TOO_LARGE
   * (from the wire), SANODE_TRANSPORT_CLOSED after close, a ConfigError for an unknown node.
   * Sending to this node itself does nothing: totem delivers its own messages locally.
   */
  send(message: unknown, to: number | 'all'): void {
    if (this.#closed) throw new SanodeError('SANODE_TRANSPORT_CLOSED', 'send() after close(): this ClusterNet is closed; open a new one');
    if (to !== 'all' && !this.#nodes.has(to)) {
      throw new ConfigError('to', `node ${String(to)} is not in nodes; send to one of ${[...this.#nodes.keys()].join(', ')} or 'all'`);
    }
    if (to === this.nodeId) return;
    const datagrams = this.#wire.seal([KIND_APP, to === 'all' ? DEST_ALL : to, message]);
    this.#counts.messagesSent += 1;
    this.#transmit(to === 'all' ? this.#peerIds : [to], datagrams);
  }

  /**
   * Sends the messages of one turn, in order. Consecutive messages for peers that unpack bundles
   * go out packed, as many as fit in one unfragmented datagram (the wire's maxDatagramBytes):
   * one encryption and one syscall per peer for the lot instead of one per message. A bundle
   * goes to every peer any of its messages is for; each message carries its own destination and
   * a peer drops what is not for it (counted as notForUs), as mcast mode always has. A message
   * too large to share a datagram goes alone, after the bundle before it, so order holds.
   *
   * Throws SANODE_TRANSPORT_CLOSED after close. A message that cannot go (an unknown node, over
   * maxMessageBytes, unencodable) is passed to `onError` with its index and the others still go;
   * without `onError` the first such error is thrown once everything else was sent.
   */
  sendBatch(messages: readonly OutgoingMessage[], onError?: (error: unknown, index: number) => void): void {
    if (this.#closed) throw new SanodeError('SANODE_TRANSPORT_CLOSED', 'sendBatch() after close(): this ClusterNet is closed; open a new one');
    let firstError: { error: unknown } | undefined;
    const fail = (error: unknown, index: number): void => {
      if (onError !== undefined) onError(error, index);
      else firstError ??= { error };
    };
    const bundle = new BundleBuilder(this.#wire.maxUnfragmentedBytes);
    const flushBundle = (): void => {
      if (bundle.count === 0) return;
      try {
        this.#sendBundle(bundle);
      } catch (error) {
        // Only an exhausted frame counter gets here (the size was checked); report it per message.
        for (const index of bundle.indexes) fail(error, index);
      }
      bundle.clear();
    };
    for (let index = 0; index < messages.length; index++) {
      const { to, msg } = messages[index]!;
      if (to !== 'all' && !this.#nodes.has(to)) {
        fail(new ConfigError('to', `node ${String(to)} is not in nodes; send to one of ${[...this.#nodes.keys()].join(', ')} or 'all'`), index);
        continue;
      }
      if (to === this.nodeId) continue;
      const peers = to === 'all' ? this.#peerIds : [to];
      const dest = to === 'all' ? DEST_ALL : to;
      try {
        const item = this.#bundle && peers.every((peer) => this.#bundlePeers.has(peer)) ? this.#encodeItem(msg) : undefined;
        if (item !== undefined && !bundle.fits(item)) flushBundle();
        if (item === undefined || !bundle.fits(item)) {
          // Not for bundles, or too large to share a datagram even alone: on its own, as send() does.
          flushBundle();
          const datagrams = this.#wire.seal([KIND_APP, dest, msg]);
          this.#counts.messagesSent += 1;
          this.#transmit(peers, datagrams);
          continue;
        }
        bundle.add(item, dest, peers, index);
      } catch (error) {
        fail(error, index);
      }
    }
    flushBundle();
    if (firstError !== undefined) throw firstError.error;
  }

  /**
   * A plain object goes as the list of its values under a shape (its keys) named once per
   * bundle: totem's messages are small objects of a few shapes, and their keys were most of
   * their bytes and of their decoding time. Anything else goes as it is.
   */
  #encodeItem(msg: unknown): BundleItem {
    if (typeof msg === 'object' && msg !== null && Object.getPrototypeOf(msg) === Object.prototype) {
      const keys = Object.keys(msg);
      if (keys.length > 0 && keys.length <= SHAPE_KEYS_MAX && !keys.includes('__proto__')) {
        const signature = keys.join('\0');
        let shape = this.#shapes.get(signature);
        if (shape === undefined) {
          if (this.#shapes.size >= SHAPE_CACHE_MAX) this.#shapes.clear();
          shape = { signature, keys, encoded: Uint8Array.from(this.#packr.pack(keys)) };
          this.#shapes.set(signature, shape);
        }
        const values = new Array<unknown>(keys.length);
        for (let k = 0; k < keys.length; k++) values[k] = (msg as Record<string, unknown>)[keys[k]!];
        return { shape, body: this.#packr.pack(values) };
      }
    }
    return { shape: undefined, body: this.#packr.pack(msg) };
  }

  /**
   * Seals the bundle ([KIND_BUNDLE, 0, shapes, items, report?]) into one frame and sends it to
   * its peers. With a single link, the link report a ping would carry (whom we hear) rides along
   * when one is half due for a peer the bundle goes to: at rest the token's bundles then stand in
   * for the pings, and each one not sent is a wake-up saved on both sides. With several links the
   * wire decodes only the first copy of a frame, so a report could not tell which link it proves;
   * there the pings go on their own, as before.
   */
  #sendBundle(bundle: BundleBuilder): void {
    const nowMs = this.#now();
    const peers = [...bundle.targets];
    let report: Uint8Array | undefined;
    if (this.#links.length === 1 && peers.some((peer) => this.#health.reportWanted(peer, 0, nowMs))) {
      report = this.#packr.pack(this.#health.heardOn(0, nowMs));
      if (!bundle.fitsReport(report)) report = undefined;
    }
    const envelope = bundle.write(this.#bundleScratch, report);
    if (report !== undefined) {
      for (const peer of peers) this.#health.reportSent(peer, 0, nowMs);
      this.#counts.reportsInBundles += 1;
      // The ping the timer was armed for is not owed any more: re-arm, or it wakes us for nothing.
      this.#armTimer(nowMs);
    }
    // The wire encrypts (or checksums) out of the scratch into a new frame: reusing it is safe.
    const datagrams = this.#wire.sealEncoded(envelope);
    this.#counts.bundlesSent += 1;
    this.#counts.bundledMessages += bundle.count;
    this.#counts.messagesSent += bundle.count;
    this.#transmit(peers, datagrams);
  }

  #transmit(targets: readonly number[], datagrams: readonly Uint8Array[]): void {
    const nowMs = this.#now();
    for (const link of this.#links) {
      if (link.config.mode === 'mcast') {
        if (targets.some((peer) => this.#health.sendLinks(peer).includes(link.index))) this.#sendGroup(link, datagrams, nowMs);
        continue;
      }
      for (const peer of targets) {
        if (this.#health.sendLinks(peer).includes(link.index)) this.#sendPeer(link, peer, datagrams, nowMs);
      }
    }
  }

  linkStatus(): LinkStatus[] {
    const nowMs = this.#now();
    return this.#links.map((link) => this.#statusOf(link, nowMs));
  }

  stats(): ClusterNetStats {
    return {
      wire: this.#wire.stats(),
      links: this.#links.map((link) => ({
        link: link.index,
        ...link.counters,
        sendErrorsByCode: { ...link.counters.sendErrorsByCode },
      })),
      ...this.#counts,
      stalls: this.#health.stalls,
    };
  }

  /** The most msgpack bytes one send() can carry (the wire's maxMessageBytes, envelope included). */
  get maxMessageBytes(): number {
    return this.#wire.maxMessageBytes;
  }

  /** The local endpoint of each link, e.g. to learn ports chosen by the OS. */
  get localEndpoints(): string[] {
    return this.#links.map((link) => link.local);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled(this.#links.map((link) => link.close()));
  }

  #sendGroup(link: UdpLink, datagrams: readonly Uint8Array[], nowMs: number): void {
    for (const datagram of datagrams) link.send(datagram, link.config.port, link.config.mcastAddr!);
    // Every member of the group hears it, addressed to it or not, so it counts for each.
    for (const peer of this.#peerIds) this.#health.sent(peer, link.index, nowMs);
  }

  #sendPeer(link: UdpLink, peer: number, datagrams: readonly Uint8Array[], nowMs: number): void {
    const endpoint = this.#nodes.get(peer)!.endpoints[link.index]!;
    for (const datagram of datagrams) link.send(datagram, endpoint.port, endpoint.address);
    this.#health.sent(peer, link.index, nowMs);
  }

  readonly #tick = (): void => {
    if (this.#closed) return;
    const nowMs = this.#now();
    const scheduledMs = this.#timerDueMs;
    this.#timer = undefined;
    this.#timerDueMs = Infinity;
    try {
      this.#pingAndJudge(nowMs, scheduledMs);
    } finally {
      this.#armTimer(nowMs);
    }
  };

  /** Arms the one timer for the health monitor's next work, or sooner while reassemblies are pending. */
  #armTimer(nowMs: number): void {
    if (this.#closed) return;
    let due = this.#health.nextDueMs();
    if (this.#wire.pendingReassemblies > 0) due = Math.min(due, nowMs + this.#tickMs);
    // At least 1 ms: a due time already past (a ping owed now) must not spin the loop.
    const delayMs = Math.max(1, Math.min(due - nowMs, 2 ** 31 - 1));
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerDueMs = nowMs + delayMs;
    this.#timer = setTimeout(this.#tick, delayMs);
    // The sockets keep the process alive while the net is open; this timer must not on its own.
    this.#timer.unref();
  }

  #pingAndJudge(nowMs: number, scheduledMs: number): void {
    try {
      this.#wire.expire(nowMs);
    } catch (error) {
      this.#report('wire.expire threw', error);
    }
    const { pings, changes } = this.#health.tick(nowMs, Number.isFinite(scheduledMs) ? scheduledMs : undefined);
    for (const change of changes) this.#emitLink(change, nowMs);
    if (pings.length === 0) return;
    // One ping frame per link, each sent on that link only: a ping proves one link, and a copy
    // on another link would only be dropped as a duplicate.
    for (const link of this.#links) {
      const due = pings.filter((ping) => ping.link === link.index);
      if (due.length === 0) continue;
      // The third element, whom we hear on this link, lets each peer judge the direction from
      // it to us; a node that sends none (an older version) is judged on what we hear alone.
      let datagrams: Buffer[];
      try {
        datagrams = this.#wire.seal([KIND_PING, DEST_ALL, this.#health.heardOn(link.index, nowMs), this.#bundle ? CAP_BUNDLE : 0]);
      } catch (error) {
        // An exhausted frame counter must not throw out of a timer and end the process.
        this.#report('could not seal a link ping', error);
        return;
      }
      this.#counts.pingsSent += 1;
      if (link.config.mode === 'mcast') {
        this.#sendGroup(link, datagrams, nowMs);
      } else {
        for (const ping of due) this.#sendPeer(link, ping.node, datagrams, nowMs);
      }
    }
  }

  readonly #onDatagram = (datagram: Buffer, linkIndex: number, source: string): void => {
    if (this.#closed) return;
    const nowMs = this.#now();
    let result: ReturnType<Wire['open']>;
    try {
      result = this.#wire.open(datagram, nowMs, linkIndex);
    } catch (error) {
      // The wire promises not to throw; if it does, the socket loop must still survive.
      this.#report('wire.open threw', error);
      return;
    }
    switch (result.kind) {
      case 'message':
        if (result.from === this.nodeId) {
          this.#counts.ownFrames += 1;
          return;
        }
        this.#noteIncarnation(result.from, result.incarnation);
        this.#heard(result.from, linkIndex, nowMs);
        {
          const count = this.#deliver(result.from, result.message, result.incarnation, linkIndex, nowMs);
          if (count === 0) return;
          try {
            this.emit('batch', count);
          } catch (error) {
            this.#counts.listenerErrors += 1;
            this.#report(`a 'batch' listener threw after a datagram from node ${result.from}`, error);
          }
        }
        return;
      case 'partial':
        if (result.from === this.nodeId) return;
        this.#noteIncarnation(result.from, result.incarnation);
        this.#heard(result.from, linkIndex, nowMs);
        // A reassembly now pending must be expired on time even if the health timer is far off.
        if (this.#timerDueMs > nowMs + this.#tickMs) this.#armTimer(nowMs);
        return;
      case 'dropped':
        // A duplicate is the copy of a frame already accepted from another link: it proves
        // this link works as well as the first copy did.
        if (result.reason === 'duplicate' && result.from !== undefined && result.from !== this.nodeId) {
          this.#heard(result.from, linkIndex, nowMs);
        } else if (result.reason === 'bad-auth') {
          this.#noteAuthFailure(datagram, source, nowMs);
        }
        return;
    }
  };

  /** What failed to authenticate, by source: status shows it, and a warning says it once in a while. */
  authFailures(): AuthFailureSource[] {
    const nowMs = this.#now();
    return [...this.#authFailures].map(([address, f]) => ({ address, node: f.node, cause: f.cause, frames: f.frames, lastAgoMs: Math.max(0, nowMs - f.lastMs) }));
  }

  #noteAuthFailure(datagram: Buffer, source: string, nowMs: number): void {
    // The wire only says bad-auth for a well-formed header of this cluster from a configured
    // node, so these header fields are readable; they are claims, reported as such.
    const node = datagram.readUInt32BE(8);
    const cause = ((datagram[3]! & 0x01) !== 0) === this.#wire.secure ? 'key' : 'security-mode';
    let entry = this.#authFailures.get(source);
    if (entry === undefined) {
      if (this.#authFailures.size >= AUTH_SOURCES_MAX) {
        const stalest = [...this.#authFailures].reduce((a, b) => (b[1].lastMs < a[1].lastMs ? b : a));
        this.#authFailures.delete(stalest[0]);
      }
      entry = { node, cause, frames: 0, lastMs: nowMs, warnedMs: -Infinity };
      this.#authFailures.set(source, entry);
    }
    entry.node = node;
    entry.cause = cause;
    entry.frames += 1;
    entry.lastMs = nowMs;
    if (nowMs - entry.warnedMs < AUTH_WARNING_INTERVAL_MS) return;
    entry.warnedMs = nowMs;
    const likely =
      cause === 'security-mode'
        ? `that node runs with security ${this.#wire.secure ? "'insecure'" : 'on'} while this one runs ${this.#wire.secure ? 'secure' : "'insecure'"}; use the same mode on every node`
        : 'that node most likely has another key: copy the same authkey (sanode keygen) to every node and restart it; otherwise someone forges its frames';
    const warning: AuthFailureWarning = {
      code: 'SANODE_KEY_MISMATCH',
      address: source,
      node,
      cause,
      frames: entry.frames,
      message: `${entry.frames} frame(s) from ${source} claiming to be node ${node} of this cluster failed authentication: ${likely}`,
    };
    try {
      this.emit('warning', warning);
    } catch (error) {
      this.#counts.listenerErrors += 1;
      this.#report(`a 'warning' listener threw`, error);
    }
  }

  #noteIncarnation(from: number, incarnation: number): void {
    if (incarnation <= (this.#peerIncarnations.get(from) ?? 0)) return;
    this.#peerIncarnations.set(from, incarnation);
    // A restarted peer may run another version: no bundles until its own ping says it takes them.
    this.#bundlePeers.delete(from);
    try {
      this.#onPeerIncarnation?.(from, incarnation);
    } catch (error) {
      this.#report(`recording incarnation ${incarnation} of node ${from} failed; a restart of this node forgets it`, error);
    }
  }

  #heard(from: number, linkIndex: number, nowMs: number): void {
    const change = this.#health.heard(from, linkIndex, nowMs);
    if (change !== undefined) this.#emitLink(change, nowMs);
  }

  /** Hands the application messages of one envelope to 'message' listeners; returns how many. */
  #deliver(from: number, envelope: unknown, incarnation: number, linkIndex: number, nowMs: number): number {
    if (!Array.isArray(envelope) || typeof envelope[0] !== 'number' || typeof envelope[1] !== 'number') {
      this.#counts.malformed += 1;
      return 0;
    }
    const dest = envelope[1];
    if (dest !== DEST_ALL && dest !== this.nodeId) {
      this.#counts.notForUs += 1;
      return 0;
    }
    switch (envelope[0]) {
      case KIND_APP:
        this.#emitMessage(from, envelope[2], incarnation);
        return 1;
      case KIND_BUNDLE: {
        const count = this.#unbundle(from, envelope[2], envelope[3], incarnation);
        // The report is judged only on a bundle that was well formed.
        const report: unknown = envelope[4];
        if (count >= 0 && Array.isArray(report)) {
          const change = this.#health.reported(from, linkIndex, report.includes(this.nodeId), nowMs);
          if (change !== undefined) this.#emitLink(change, nowMs);
        }
        return Math.max(0, count);
      }
      case KIND_PING: {
        this.#counts.pingsReceived += 1;
        const report: unknown = envelope[2];
        if (Array.isArray(report)) {
          const change = this.#health.reported(from, linkIndex, report.includes(this.nodeId), nowMs);
          if (change !== undefined) this.#emitLink(change, nowMs);
        }
        if (typeof envelope[3] === 'number' && (envelope[3] & CAP_BUNDLE) !== 0) this.#bundlePeers.add(from);
        else this.#bundlePeers.delete(from);
        return 0;
      }
      default:
        this.#counts.malformed += 1;
        return 0;
    }
  }

  /**
   * A bundle is checked whole before any of it is delivered: a malformed one (shapes that are
   * not lists of distinct-enough key names, items that are not destination, shape, value
   * triples, a shape index out of range or a value list of the wrong length) is one counted
   * drop, and no part of it reaches the application. Returns the messages delivered, -1 for a
   * malformed bundle.
   */
  #unbundle(from: number, shapes: unknown, items: unknown, incarnation: number): number {
    if (!validBundle(shapes, items)) {
      this.#counts.malformed += 1;
      return -1;
    }
    this.#counts.bundlesReceived += 1;
    let count = 0;
    for (let k = 0; k < items.length; k += 3) {
      const dest = items[k] as number;
      if (dest !== DEST_ALL && dest !== this.nodeId) {
        this.#counts.notForUs += 1;
        continue;
      }
      const shape = items[k + 1] as number;
      let message: unknown = items[k + 2];
      if (shape >= 0) {
        const keys = (shapes as string[][])[shape]!;
        const values = message as unknown[];
        const object: Record<string, unknown> = {};
        for (let v = 0; v < keys.length; v++) object[keys[v]!] = values[v];
        message = object;
      }
      this.#emitMessage(from, message, incarnation);
      count++;
    }
    return count;
  }

  #emitMessage(from: number, message: unknown, incarnation: number): void {
    this.#counts.delivered += 1;
    try {
      this.emit('message', from, message, incarnation);
    } catch (error) {
      this.#counts.listenerErrors += 1;
      this.#report(`a 'message' listener threw on a message from node ${from}`, error);
    }
  }

  #emitLink(change: HealthChange, nowMs: number): void {
    const link = this.#links[change.link];
    if (link === undefined) return;
    try {
      this.emit('link', this.#statusOf(link, nowMs), change);
    } catch (error) {
      this.#counts.listenerErrors += 1;
      this.#report(`a 'link' listener threw`, error);
    }
  }

  #statusOf(link: UdpLink, nowMs: number): LinkStatus {
    return {
      link: link.index,
      mode: link.config.mode,
      local: link.local,
      peers: this.#health.linkPeers(link.index, nowMs),
      sendErrors: link.counters.sendErrors,
      sendErrorsByCode: { ...link.counters.sendErrorsByCode },
      lastSendError: link.lastSendError,
      rx: link.counters.rx,
      tx: link.counters.tx,
    };
  }

  #report(message: string, error: unknown): void {
    const nowMs = this.#now();
    if (nowMs - this.#lastLogMs < 1000) return;
    this.#lastLogMs = nowMs;
    try {
      this.#log(message, error);
    } catch {
      // A broken logger must not take the receive loop down with it.
    }
  }
}

/** A non-negative integer as msgpack encodes it (positive fixint, uint8, uint16 or uint32). */
function encodeUint(value: number): Uint8Array {
  if (value < 0x80) return SMALL_UINTS[value]!;
  if (value <= 0xff) return Uint8Array.of(0xcc, value);
  if (value <= 0xffff) return Uint8Array.of(0xcd, value >>> 8, value & 0xff);
  return Uint8Array.of(0xce, value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

const SMALL_UINTS: readonly Uint8Array[] = Array.from({ length: 0x80 }, (_, value) => Uint8Array.of(value));

interface Shape {
  readonly signature: string;
  readonly keys: readonly string[];
  /** msgpack of the key list, as it goes in a bundle's shapes. */
  readonly encoded: Uint8Array;
}

interface BundleItem {
  readonly shape: Shape | undefined;
  /** msgpack of the value list (shaped) or of the message itself. */
  readonly body: Uint8Array;
}

/**
 * The open bundle of one sendBatch(): its shapes, its items as encoded parts, and its exact
 * size, so adding an item never makes it larger than one unfragmented datagram.
 */
class BundleBuilder {
  readonly indexes: number[] = [];
  readonly targets = new Set<number>();
  readonly #cap: number;
  readonly #shapeIndex = new Map<string, number>();
  readonly #shapes: Uint8Array[] = [];
  readonly #parts: Uint8Array[] = [];
  #bytes = 0;

  constructor(maxEnvelopeBytes: number) {
    this.#cap = maxEnvelopeBytes - BUNDLE_HEADER_MAX;
  }

  get count(): number {
    return this.indexes.length;
  }

  /** Whether `item` still fits (a bundle always takes its first item if it fits alone). */
  fits(item: BundleItem): boolean {
    const newShape = item.shape !== undefined && !this.#shapeIndex.has(item.shape.signature);
    if (newShape && this.#shapes.length >= BUNDLE_SHAPES_MAX) return false;
    // dest (at most 5 bytes) + shape index (1 byte) + body, and the shape's keys if new here.
    return this.#bytes + 6 + item.body.length + (newShape ? item.shape!.encoded.length : 0) <= this.#cap;
  }

  add(item: BundleItem, dest: number, peers: readonly number[], index: number): void {
    let shape = -1;
    if (item.shape !== undefined) {
      const known = this.#shapeIndex.get(item.shape.signature);
      if (known === undefined) {
        shape = this.#shapes.length;
        this.#shapeIndex.set(item.shape.signature, shape);
        this.#shapes.push(item.shape.encoded);
        this.#bytes += item.shape.encoded.length;
      } else {
        shape = known;
      }
    }
    const destBytes = encodeUint(dest);
    this.#parts.push(destBytes, shape < 0 ? NEGATIVE_ONE : SMALL_UINTS[shape]!, item.body);
    this.#bytes += destBytes.length + 1 + item.body.length;
    this.indexes.push(index);
    for (const peer of peers) this.targets.add(peer);
  }

  /** Whether the encoded link report still fits as the envelope's fifth element. */
  fitsReport(report: Uint8Array): boolean {
    return this.#bytes + report.length <= this.#cap;
  }

  /** The envelope's msgpack bytes, written into `scratch` (at least maxEnvelopeBytes long). */
  write(scratch: Buffer, report?: Uint8Array): Buffer {
    let at = 0;
    scratch[at++] = report === undefined ? 0x94 : 0x95;
    scratch[at++] = KIND_BUNDLE;
    scratch[at++] = DEST_ALL;
    at = writeArrayHeader(scratch, at, this.#shapes.length);
    for (const shape of this.#shapes) {
      scratch.set(shape, at);
      at += shape.length;
    }
    at = writeArrayHeader(scratch, at, this.#parts.length);
    for (const part of this.#parts) {
      scratch.set(part, at);
      at += part.length;
    }
    if (report !== undefined) {
      scratch.set(report, at);
      at += report.length;
    }
    return scratch.subarray(0, at);
  }

  clear(): void {
    this.indexes.length = 0;
    this.targets.clear();
    this.#shapeIndex.clear();
    this.#shapes.length = 0;
    this.#parts.length = 0;
    this.#bytes = 0;
  }
}

function writeArrayHeader(out: Buffer, at: number, length: number): number {
  if (length < 16) {
    out[at] = 0x90 | length;
    return at + 1;
  }
  out[at] = 0xdc;
  out[at + 1] = length >>> 8;
  out[at + 2] = length & 0xff;
  return at + 3;
}

const NEGATIVE_ONE = Uint8Array.of(0xff);

/** The shape of a bundle's contents, checked before any of it is used. */
function validBundle(shapes: unknown, items: unknown): items is unknown[] & { length: number } {
  if (!Array.isArray(shapes) || !Array.isArray(items) || items.length === 0 || items.length % 3 !== 0) return false;
  for (const keys of shapes) {
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > SHAPE_KEYS_MAX) return false;
    // '__proto__' would set the rebuilt object's prototype instead of a field; no sender makes it.
    for (const key of keys) if (typeof key !== 'string' || key === '__proto__') return false;
  }
  for (let k = 0; k < items.length; k += 3) {
    const dest: unknown = items[k];
    const shape: unknown = items[k + 1];
    if (typeof dest !== 'number' || !Number.isInteger(dest) || dest < 0) return false;
    if (typeof shape !== 'number' || !Number.isInteger(shape) || shape < -1 || shape >= shapes.length) return false;
    if (shape >= 0) {
      const values: unknown = items[k + 2];
      if (!Array.isArray(values) || values.length !== (shapes[shape] as unknown[]).length) return false;
    }
  }
  return true;
}
