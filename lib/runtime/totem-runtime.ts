import { EventEmitter } from 'eventemitter3';
import { Packr } from 'msgpackr';
import { performance } from 'node:perf_hooks';
import { ClusterNet, type AuthFailureSource, type AuthFailureWarning, type ClusterNetOptions, type LinkStatus } from '../transport/index.js';
import {
  createTotem,
  PROFILES,
  RECOVER_CHUNK_MESSAGES_MAX,
  TotemMessageKind,
  validateTotemConfig,
  type BroadcastResult,
  type Delivery,
  type TotemCore,
  type TotemMessage,
  type TotemStatus,
  type TotemTimers,
  type View,
} from '../totem/index.js';
import type { NodeId } from '../totem/types.js';
import { ConfigError } from '../errors/index.js';
import { DEFAULT_MAX_LARGE_MESSAGE_BYTES, Defragmenter, fragmentCount, needsFragments, splitPayload, type DefragmenterStats } from '../node/fragments.js';
import {
  nextIncarnation,
  readPeerIncarnations,
  readTotemState,
  totemStatePath,
  writePeerIncarnations,
  writeStateFile,
  type PersistedTotemState,
} from './state-file.js';

export interface TotemRuntimeOptions {
  /** Network: wire options (without nodeId/incarnation, which the runtime fills in), links, nodes. */
  readonly net: Omit<ClusterNetOptions, 'wire' | 'now'> & {
    readonly wire: Omit<ClusterNetOptions['wire'], 'incarnation' | 'nodeId' | 'knownNodes' | 'incarnationFloors'>;
  };
  readonly nodeId: number;
  /** Where the ring seq and incarnation survive restarts. */
  readonly stateDir: string;
  readonly profile?: keyof typeof PROFILES;
  readonly timers?: Partial<TotemTimers>;
  readonly maxSendQueue?: number;
  readonly maxMessagesPerToken?: number;
  /** Payload bytes per token visit (default 64 KiB): see TotemConfig.maxBytesPerToken. */
  readonly maxBytesPerToken?: number;
  /**
   * The largest payload broadcast() accepts (default 64 MiB). Payloads over 16 KiB travel as
   * fragments under the ring's order (lib/runtime/fragments.ts).
   */
  readonly maxLargeMessageBytes?: number;
  /**
   * A timer that fires this much later than it was due means this process was stalled (GC, a
   * blocked loop, a paused VM). Packets that arrived meanwhile are processed before the timer,
   * so a node never declares a peer dead only because it was itself asleep.
   */
  readonly stallThresholdMs?: number;
}

export interface StallEvent {
  readonly lateMs: number;
}

export interface TotemRuntimeEvents {
  view: (view: View, transitional: readonly NodeId[] | undefined) => void;
  deliver: (delivery: Delivery) => void;
  link: (status: LinkStatus) => void;
  stall: (event: StallEvent) => void;
  /** Frames of this cluster that fail authentication (rate-limited per source): usually another key. */
  warning: (warning: AuthFailureWarning) => void;
  /** A packet the transport refused to send (the others of the same output still went out). */
  error: (error: unknown) => void;
  /** A token of the current ring completed a rotation: the ring was intact at `provenAtMs` (performance.now() time). */
  token: (provenAtMs: number) => void;
}

/**
 * Binds the sans-IO totem core to real time and real sockets. This is the only place where
 * the protocol meets a clock: the core sees `performance.now()` values passed in, never reads them.
 */
export class TotemRuntime extends EventEmitter<TotemRuntimeEvents> {
  readonly nodeId: number;
  readonly incarnation: number;
  private readonly core: TotemCore;
  private readonly net: ClusterNet;
  private readonly statePath: string;
  private readonly stallThresholdMs: number;
  private persisted: PersistedTotemState;
  private timer: NodeJS.Timeout | undefined;
  private timerDueMs = Number.POSITIVE_INFINITY;
  private closed = false;
  private lastView: View | undefined;
  private readonly maxPayloadBytes: number;
  private readonly maxLargeMessageBytes: number;
  private readonly maxSendQueue: number;
  private readonly defragmenter: Defragmenter;
  private nextLargeKey = 0;

  private constructor(
    nodeId: number,
    core: TotemCore,
    net: ClusterNet,
    statePath: string,
    persisted: PersistedTotemState,
    stallThresholdMs: number,
    sizes: { maxPayloadBytes: number; maxLargeMessageBytes: number; maxSendQueue: number },
  ) {
    super();
    this.maxPayloadBytes = sizes.maxPayloadBytes;
    this.maxLargeMessageBytes = sizes.maxLargeMessageBytes;
    this.maxSendQueue = sizes.maxSendQueue;
    this.defragmenter = new Defragmenter(sizes.maxLargeMessageBytes);
    this.nodeId = nodeId;
    this.incarnation = persisted.incarnation;
    this.core = core;
    this.net = net;
    this.statePath = statePath;
    this.persisted = persisted;
    this.stallThresholdMs = stallThresholdMs;
  }

  static async start(options: TotemRuntimeOptions): Promise<TotemRuntime> {
    // Everything that can be refused is checked before the state file is written or a socket
    // bound: a refused start must leave nothing behind, so a retry in this process can work.
    const previous = readTotemState(options.stateDir);
    const incarnation = nextIncarnation(options.stateDir, previous, Date.now());
    const nodes = options.net.nodes.map((n) => n.id);
    const timers = { ...PROFILES[options.profile ?? 'lan'], ...options.timers };
    const config = {
      nodeId: options.nodeId,
      incarnation,
      nodes,
      ringSeq: previous.ringSeq,
      timers,
      maxSendQueue: options.maxSendQueue ?? 10_000,
      maxMessagesPerToken: options.maxMessagesPerToken ?? 64,
      // About what a default Linux socket buffer (212992 bytes, ~2.3 KB a 1200-byte datagram)
      // holds from one burst: more per visit is lost in the receiver's kernel and sent again.
      maxBytesPerToken: options.maxBytesPerToken ?? 64 * 1024,
    };
    validateTotemConfig(config);
    const maxLargeMessageBytes = options.maxLargeMessageBytes ?? DEFAULT_MAX_LARGE_MESSAGE_BYTES;
    if (!Number.isSafeInteger(maxLargeMessageBytes) || maxLargeMessageBytes < 1) {
      throw new ConfigError('maxLargeMessageBytes', `must be a positive integer of bytes, got ${String(maxLargeMessageBytes)}`);
    }
    const floors = readPeerIncarnations(options.stateDir, nodes);
    const persisted = { ringSeq: previous.ringSeq, incarnation };
    const statePath = totemStatePath(options.stateDir);
    writeStateFile(statePath, persisted);

    const net = await ClusterNet.open({
      ...options.net,
      wire: { ...options.net.wire, nodeId: options.nodeId, incarnation, knownNodes: nodes, incarnationFloors: floors },
      now: () => performance.now(),
      // Written before the frame is used: a crash right after must not forget it. Peers restart
      // rarely, so this is one fsync per peer restart.
      onPeerIncarnation: (node, peerIncarnation) => {
        floors.set(node, peerIncarnation);
        writePeerIncarnations(options.stateDir, floors);
      },
    });
    try {
      const maxPayloadBytes = net.maxMessageBytes - ENVELOPE_RESERVE_BYTES;
      const core = createTotem({ ...config, maxPayloadBytes }, performance.now());
      const runtime = new TotemRuntime(
        options.nodeId,
        core,
        net,
        statePath,
        persisted,
        options.stallThresholdMs ?? Math.max(50, timers.tokenTimeoutMs / 4),
        { maxPayloadBytes, maxLargeMessageBytes, maxSendQueue: config.maxSendQueue },
      );
      net.on('message', (from, message) => runtime.onMessage(from, message));
      // Once per datagram, not per message: what totem answers to a whole bundle goes out as one turn.
      net.on('batch', () => runtime.flush());
      net.on('link', (status) => runtime.emit('link', status));
      net.on('warning', (warning) => runtime.emit('warning', warning));
      runtime.flush();
      return runtime;
    } catch (error) {
      await net.close();
      throw error;
    }
  }

  /**
   * Queues `payload` for agreed-order delivery. One over FRAGMENT_CHUNK_BYTES goes as fragments,
   * all or none: refused whole when it is over maxLargeMessageBytes or the send queue cannot take every
   * fragment. The result's msgId is then the first fragment's.
   */
  broadcast(payload: Uint8Array): BroadcastResult {
    if (!needsFragments(payload) && payload.length <= this.maxPayloadBytes) {
      const result = this.core.broadcast(payload, performance.now());
      this.flush();
      return result;
    }
    if (payload.length > this.maxLargeMessageBytes) return { ok: false, reason: 'too-large', maxPayloadBytes: this.maxLargeMessageBytes };
    const status = this.core.status();
    if (status.state === 'left') return { ok: false, reason: 'left' };
    if (status.sendQueueLength + fragmentCount(payload.length) > this.maxSendQueue) return { ok: false, reason: 'queue-full' };
    const nowMs = performance.now();
    let first: BroadcastResult | undefined;
    for (const fragment of splitPayload(payload, this.nextLargeKey++)) {
      const result = this.core.broadcast(fragment, nowMs);
      first ??= result;
      // Room was checked above and nothing runs in between, so only a bug gets here.
      if (!result.ok) throw new Error(`totem runtime invariant: fragment refused (${result.reason}) after the queue had room`);
    }
    this.flush();
    return first!;
  }

  /** Large messages put back together, given up on, and stray fragments. */
  fragmentStats(): Readonly<DefragmenterStats> {
    return { ...this.defragmenter.stats };
  }

  get view(): View | undefined {
    return this.lastView;
  }

  status(): { totem: TotemStatus; links: LinkStatus[] } {
    return { totem: this.core.status(), links: this.net.linkStatus() };
  }

  authFailures(): AuthFailureSource[] {
    return this.net.authFailures();
  }

  netStats(): ReturnType<ClusterNet['stats']> {
    return this.net.stats();
  }

  /** Announce the leave, give the announcement a moment on the wire, then close. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.core.leave(performance.now());
    this.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.net.close();
  }

  private onMessage(from: number, message: unknown): void {
    if (this.closed) return;
    if (typeof message !== 'object' || message === null || typeof (message as TotemMessage).kind !== 'number') {
      return; // not a totem message: the core only counts shapes it can recognise
    }
    this.core.receive(from, message as TotemMessage, performance.now());
  }

  private onTimer(): void {
    const dueMs = this.timerDueMs;
    this.timer = undefined;
    this.timerDueMs = Number.POSITIVE_INFINITY;
    if (this.closed) return;
    const lateMs = performance.now() - dueMs;
    if (lateMs > this.stallThresholdMs) {
      // Node runs expired timers before polling sockets. After a stall the token we were
      // waiting for may already sit in the socket buffer: let the poll phase deliver it first.
      this.emit('stall', { lateMs });
      setImmediate(() => this.tickNow());
      return;
    }
    this.tickNow();
  }

  private tickNow(): void {
    if (this.closed) return;
    this.core.tick(performance.now());
    this.flush();
  }

  /** Drain the core's output in contract order: persist, then send, then events. */
  private flush(): void {
    if (this.closed) return;
    const output = this.core.takeOutput();
    if (output.persist !== undefined && output.persist.ringSeq !== this.persisted.ringSeq) {
      this.persisted = { ...this.persisted, ringSeq: output.persist.ringSeq };
      writeStateFile(this.statePath, this.persisted);
    }
    // One packet the wire refuses must not take the rest of this output (a token, another
    // member's retransmission) down with it; the core's own size limit makes this rare.
    if (output.sends.length > 0) this.net.sendBatch(output.sends, (error) => this.emit('error', error));
    for (const event of output.events) {
      if (event.type === 'view') {
        this.lastView = event.view;
        this.defragmenter.onView(event.view.members);
        this.emit('view', event.view, event.transitional);
      } else {
        const payload = this.defragmenter.accept(event.delivery.sender, event.delivery.payload, event.delivery.senderIncarnation);
        if (payload !== undefined) this.emit('deliver', payload === event.delivery.payload ? event.delivery : { ...event.delivery, payload });
      }
    }
    if (output.tokenAcceptedMs !== undefined) this.emit('token', output.tokenAcceptedMs);
    this.armTimer();
  }

  private armTimer(): void {
    const deadline = this.core.nextDeadlineMs();
    if (deadline === undefined) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDueMs = Number.POSITIVE_INFINITY;
      return;
    }
    // Re-armed when the deadline moves either way: a timer left at an earlier deadline (a token
    // retransmission the ack made unneeded) would wake an idle process for nothing, and a
    // wake-up costs far more than re-arming.
    if (this.timer !== undefined && deadline === this.timerDueMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDueMs = deadline;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, deadline - performance.now()));
  }
}

/**
 * Bytes of the largest envelope totem and the transport wrap around payloads in one packet: a
 * recovery chunk of RECOVER_CHUNK_MESSAGES_MAX messages with every number at its widest. What is
 * left of maxMessageBytes is what broadcast() may accept, so no packet totem makes is refused.
 */
function envelopeReserveBytes(): number {
  const wide = Number.MAX_SAFE_INTEGER;
  const msg = { seq: wide, sender: 65535, inc: wide, msgId: wide, payload: new Uint8Array(0) };
  const chunk = { kind: TotemMessageKind.recoverData, oldSeq: wide, oldRep: 65535, msgs: Array.from({ length: RECOVER_CHUNK_MESSAGES_MAX }, () => msg) };
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  // +5 per message: a payload of any size takes a bin32 header instead of the empty one's bin8.
  return packr.pack([255, 65535, chunk]).length + 5 * RECOVER_CHUNK_MESSAGES_MAX + 64;
}

export const ENVELOPE_RESERVE_BYTES = envelopeReserveBytes();
