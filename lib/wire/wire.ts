/**
 * Wire: turns messages into sealed datagrams and datagrams back into messages, for one node.
 *
 * Sans-IO: no sockets, clocks or timers. Time comes in as `nowMs` (monotonic milliseconds owned
 * by the caller) on `open()` and `expire()`. All state lives in the instance, so many nodes can
 * run in one process.
 *
 * Contract:
 *  - `seal()` may throw (SANODE_MESSAGE_TOO_LARGE, or msgpackr for an unencodable value).
 *  - `open()` NEVER throws, whatever the bytes; every call ends in exactly one stats bucket.
 *  - Only frames that authenticated move the replay window or reach the decoder.
 */
import { C1, Packr } from 'msgpackr';
import { ConfigError, SanodeError } from '../errors/index.js';
import {
  clusterIdOf,
  FLAG_FRAGMENT,
  FLAG_SECURE,
  FLAGS_KNOWN,
  FRAGMENT_META_BYTES,
  FRAGMENT_OVERHEAD_BYTES,
  FRAME_OVERHEAD_BYTES,
  HEADER_BYTES,
  MAGIC_0,
  MAGIC_1,
  MIN_FRAME_BYTES,
  NONCE_OFFSET,
  readU32,
  readU53,
  sealFrame,
  TAG_BYTES,
  WIRE_VERSION,
} from './frame.js';
import { KEY_BYTES } from './keys.js';
import {
  type DiscardCause,
  type DiscardReason,
  MIN_DATAGRAM_BYTES,
  minReassemblyBytesFor,
  Reassembler,
} from './reassembly.js';
import { normalizeLinkId, ReplayVerdict, ReplayWindow } from './replay.js';
import { aeadDecrypt, sodium } from './sodium.js';

export type DropReason =
  | 'bad-auth'
  | 'replay'
  | 'malformed'
  | 'wrong-cluster'
  | 'oversize'
  | 'reassembly-timeout'
  | 'unknown-node'
  | 'duplicate';

export const DROP_REASONS: readonly DropReason[] = Object.freeze([
  'bad-auth',
  'replay',
  'malformed',
  'wrong-cluster',
  'oversize',
  'reassembly-timeout',
  'unknown-node',
  'duplicate',
]);

export type WireSecurity = { mode: 'secure'; key: Uint8Array } | { mode: 'insecure' };

export interface WireOptions {
  /** Cluster name; a 32-bit hash of it goes in the clear header, and it is bound into the key. */
  cluster: string;
  /** 1..2^32-1, unique in the cluster. */
  nodeId: number;
  /** Positive integer <= 2^53-1, new and larger on every restart of the node (see docs/wire.md). */
  incarnation: number;
  /** Insecure only when asked for by name; there is no default. */
  security: WireSecurity;
  /** Frames from any other sender are dropped as 'unknown-node'. */
  knownNodes: readonly number[];
  /** Default 1200 (fits the IPv6 minimum MTU); every sealed frame is at most this long. */
  maxDatagramBytes?: number;
  /** Default 1 MiB of msgpack encoding; seal() of more throws SANODE_MESSAGE_TOO_LARGE. */
  maxMessageBytes?: number;
  /** Default 1024 counters per sender. */
  replayWindow?: number;
  /** Default 2000. */
  reassemblyTimeoutMs?: number;
  /** Default 8 MiB across all senders; beyond it the oldest partial messages are evicted. */
  maxReassemblyBytes?: number;
  /**
   * The newest incarnation of each peer seen before this node restarted (the caller persists
   * them). Frames of an older incarnation are dropped as 'replay' from the first frame on: a
   * fresh window would otherwise take a capture of a dead incarnation as authentic.
   */
  incarnationFloors?: ReadonlyMap<number, number>;
  /**
   * Where this incarnation's frame counter starts (default 0). For tests and tools that must
   * reach the counter's end without sealing 2^53 frames; a node has no reason to set it.
   */
  counterStart?: number;
}

export type OpenResult =
  | { kind: 'message'; from: number; incarnation: number; message: unknown }
  | { kind: 'partial'; from: number; incarnation: number }
  | { kind: 'dropped'; reason: DropReason; from?: number };

/**
 * Counters. Invariant, at every moment: received === accepted + partial + sum(dropped).
 *
 * - accepted: frames that completed a message (one per message returned by open()).
 * - partial: fragment frames held for reassembly whose message then completed or is still
 *   pending. When a pending message is thrown away (timeout, eviction, sender restart, too
 *   large, undecodable once assembled), its held frames MOVE from `partial` to the matching drop
 *   bucket ('reassembly-timeout' for timeout, eviction and restart), so the sum still holds and
 *   each frame is in exactly one bucket.
 * - reassembliesExpired / reassembliesEvicted count discarded MESSAGES (not frames).
 */
export interface WireStats {
  received: number;
  accepted: number;
  partial: number;
  sent: number;
  dropped: Record<DropReason, number>;
  reassemblyBytes: number;
  pendingReassemblies: number;
  /** Frames held in pending reassemblies right now (all counted in `partial`). */
  pendingFragments: number;
  reassembliesCompleted: number;
  /** Pending messages dropped because reassemblyTimeoutMs passed. */
  reassembliesExpired: number;
  /** Pending messages dropped to respect maxReassemblyBytes, or because the sender restarted. */
  reassembliesEvicted: number;
}

export const DEFAULT_MAX_DATAGRAM_BYTES = 1200;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_REPLAY_WINDOW = 1024;
export const DEFAULT_REASSEMBLY_TIMEOUT_MS = 2000;
export const DEFAULT_MAX_REASSEMBLY_BYTES = 8 * 1024 * 1024;
/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM_BYTES_LIMIT = 65507;
export const MAX_MESSAGE_BYTES_LIMIT = 1024 * 1024 * 1024;
const MAX_NODE_ID = 0xffff_ffff;

type Dropped = Extract<OpenResult, { kind: 'dropped' }>;

function freezeDrop(reason: DropReason): Dropped {
  return Object.freeze({ kind: 'dropped', reason });
}

// Immutable, so sharing them between instances is safe; they spare an allocation per drop.
const DROP_NO_FROM: Readonly<Record<DropReason, Dropped>> = Object.freeze({
  'bad-auth': freezeDrop('bad-auth'),
  replay: freezeDrop('replay'),
  malformed: freezeDrop('malformed'),
  'wrong-cluster': freezeDrop('wrong-cluster'),
  oversize: freezeDrop('oversize'),
  'reassembly-timeout': freezeDrop('reassembly-timeout'),
  'unknown-node': freezeDrop('unknown-node'),
  duplicate: freezeDrop('duplicate'),
});

/**
 * The AEAD key for one cluster: keyed BLAKE2b of the cluster name under the shared key. Binding
 * the name in means two clusters that share a key file still never share an AEAD key, which the
 * nonce argument in docs/wire.md relies on. Exported for tests that craft frames by hand.
 */
export function deriveWireKey(key: Uint8Array, cluster: string): Buffer {
  const derived = Buffer.alloc(KEY_BYTES);
  sodium.crypto_generichash(derived, Buffer.from(`sanode/wire/v1\0${cluster}`, 'utf8'), key);
  return derived;
}

/** A value msgpack can never produce, marking a failed decode without allocating. */
const UNDECODABLE = Symbol('undecodable');

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalInteger(
  options: Record<string, unknown>,
  field: string,
  fallback: number,
  min: number,
  max: number,
  hint: string,
): number {
  const value = options[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(field, `must be an integer from ${min} to ${max}, got ${String(value)}; ${hint}`);
  }
  return value;
}

function validNodeId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_NODE_ID;
}

export class Wire {
  readonly cluster: string;
  readonly clusterId: number;
  readonly nodeId: number;
  readonly incarnation: number;
  readonly secure: boolean;
  readonly maxDatagramBytes: number;
  readonly maxMessageBytes: number;
  readonly replayWindow: number;
  readonly reassemblyTimeoutMs: number;
  readonly maxReassemblyBytes: number;

  /** Derived per cluster, so two clusters sharing one key file never share an AEAD key. */
  readonly #key: Buffer | null;
  readonly #known: ReadonlySet<number>;
  readonly #windows = new Map<number, ReplayWindow>();
  readonly #reassembler: Reassembler;
  readonly #packr: Packr;
  /** Decrypted bodies land here; safe to reuse because the decoder copies what it keeps. */
  readonly #openScratch: Buffer;
  readonly #sealScratch: Buffer;
  readonly #checksum = Buffer.alloc(TAG_BYTES);
  #counter = 0;

  #received = 0;
  #accepted = 0;
  #partial = 0;
  #sent = 0;
  readonly #dropped: Record<DropReason, number> = {
    'bad-auth': 0,
    replay: 0,
    malformed: 0,
    'wrong-cluster': 0,
    oversize: 0,
    'reassembly-timeout': 0,
    'unknown-node': 0,
    duplicate: 0,
  };
  #completed = 0;
  #expired = 0;
  #evicted = 0;

  constructor(options: WireOptions) {
    if (!isPlainObject(options)) throw new ConfigError('options', 'must be an object of WireOptions');
    const raw = options as unknown as Record<string, unknown>;

    if (typeof options.cluster !== 'string' || options.cluster.length === 0 || Buffer.byteLength(options.cluster) > 255) {
      throw new ConfigError('cluster', `must be a non-empty name of at most 255 bytes, got ${JSON.stringify(options.cluster)}`);
    }
    if (!validNodeId(options.nodeId)) {
      throw new ConfigError('nodeId', `must be an integer from 1 to ${MAX_NODE_ID}, got ${String(options.nodeId)}`);
    }
    if (
      typeof options.incarnation !== 'number' ||
      !Number.isSafeInteger(options.incarnation) ||
      options.incarnation < 1
    ) {
      throw new ConfigError(
        'incarnation',
        `must be a positive integer <= 2^53-1 that grows on every restart, got ${String(options.incarnation)}`,
      );
    }
    const security = options.security as unknown;
    if (!isPlainObject(security)) {
      throw new ConfigError(
        'security',
        "is required: { mode: 'secure', key: await loadKeyFile(path) }, or { mode: 'insecure' } to turn authentication and encryption off",
      );
    }
    if (security.mode === 'secure') {
      const key = security.key;
      if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
        throw new ConfigError(
          'security.key',
          `must be the ${KEY_BYTES}-byte key from loadKeyFile() or generateKey(), got ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}`,
        );
      }
      this.#key = deriveWireKey(key, options.cluster);
    } else if (security.mode === 'insecure') {
      this.#key = null;
    } else {
      throw new ConfigError('security.mode', `must be 'secure' or 'insecure', got ${JSON.stringify(security.mode)}`);
    }
    if (!Array.isArray(options.knownNodes)) {
      throw new ConfigError('knownNodes', 'must be an array of the node ids this node may hear from');
    }
    for (const [i, id] of options.knownNodes.entries()) {
      if (!validNodeId(id)) {
        throw new ConfigError(`knownNodes[${i}]`, `must be an integer from 1 to ${MAX_NODE_ID}, got ${String(id)}`);
      }
    }

    this.maxDatagramBytes = optionalInteger(
      raw,
      'maxDatagramBytes',
      DEFAULT_MAX_DATAGRAM_BYTES,
      MIN_DATAGRAM_BYTES,
      MAX_DATAGRAM_BYTES_LIMIT,
      'it must leave room for the 52-byte fragment overhead and fit in one UDP datagram',
    );
    this.maxMessageBytes = optionalInteger(raw, 'maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES, 1, MAX_MESSAGE_BYTES_LIMIT, 'the default is 1 MiB');
    this.replayWindow = optionalInteger(raw, 'replayWindow', DEFAULT_REPLAY_WINDOW, 64, 65536, 'the default is 1024');
    const minReassembly = minReassemblyBytesFor(this.maxMessageBytes);
    this.maxReassemblyBytes = optionalInteger(
      raw,
      'maxReassemblyBytes',
      Math.max(DEFAULT_MAX_REASSEMBLY_BYTES, minReassembly),
      minReassembly,
      Number.MAX_SAFE_INTEGER,
      `it must hold at least one largest message with its bookkeeping (${minReassembly} bytes for maxMessageBytes ${this.maxMessageBytes})`,
    );
    const timeout = raw['reassemblyTimeoutMs'];
    if (timeout === undefined) this.reassemblyTimeoutMs = DEFAULT_REASSEMBLY_TIMEOUT_MS;
    else if (typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0) this.reassemblyTimeoutMs = timeout;
    else throw new ConfigError('reassemblyTimeoutMs', `must be a positive number of milliseconds, got ${String(timeout)}`);

    this.cluster = options.cluster;
    this.clusterId = clusterIdOf(options.cluster);
    this.nodeId = options.nodeId;
    this.incarnation = options.incarnation;
    this.secure = this.#key !== null;
    // Our own id is never a valid sender: a frame bearing it is either a reflected copy of our
    // own traffic or a second node misconfigured with our id.
    this.#known = new Set(options.knownNodes.filter((id) => id !== options.nodeId));
    this.#counter = optionalInteger(raw, 'counterStart', 0, 0, Number.MAX_SAFE_INTEGER, 'leave it out: it is for tests');
    const floors = options.incarnationFloors;
    if (floors !== undefined) {
      if (!(floors instanceof Map)) throw new ConfigError('incarnationFloors', 'must be a Map of node id to incarnation');
      for (const [id, incarnation] of floors) {
        if (!validNodeId(id) || typeof incarnation !== 'number' || !Number.isSafeInteger(incarnation) || incarnation < 0) {
          throw new ConfigError('incarnationFloors', `expected node id -> incarnation 0..2^53-1, got ${String(id)} -> ${String(incarnation)}`);
        }
        if (this.#known.has(id)) this.#windows.set(id, new ReplayWindow(this.replayWindow, incarnation));
      }
    }
    this.#reassembler = new Reassembler({
      maxMessageBytes: this.maxMessageBytes,
      maxBytes: this.maxReassemblyBytes,
      timeoutMs: this.reassemblyTimeoutMs,
      onDiscard: (held, reason, cause) => this.#onDiscard(held, reason, cause),
    });
    // Plain msgpack: records/shared structures would make decoding depend on earlier messages.
    // copyBuffers, because decoded binaries must not alias the reused scratch buffer.
    this.#packr = new Packr({ useRecords: false, copyBuffers: true, mapsAsObjects: true });
    this.#openScratch = Buffer.allocUnsafeSlow(this.maxDatagramBytes);
    this.#sealScratch = Buffer.allocUnsafeSlow(this.maxDatagramBytes);
  }

  /**
   * Encodes `message` with msgpack and seals it into one frame per datagram, fragmenting when
   * it does not fit in maxDatagramBytes. Each frame takes the next counter value.
   */
  seal(message: unknown): Buffer[] {
    return this.sealEncoded(this.#packr.pack(message));
  }

  /**
   * Seals bytes that are already one msgpack value (the receiver decodes them as one message),
   * exactly as seal() seals its encoding. For callers that build a value out of parts encoded
   * apart, like the transport's bundles, without encoding it twice. Same throws as seal().
   */
  sealEncoded(encoded: Uint8Array): Buffer[] {
    const length = encoded.length;
    if (length > this.maxMessageBytes) {
      throw new SanodeError(
        'SANODE_MESSAGE_TOO_LARGE',
        `message is ${length} bytes once encoded, over maxMessageBytes (${this.maxMessageBytes}); ` +
          'send it in smaller messages, or raise maxMessageBytes on every node',
        { field: 'maxMessageBytes' },
      );
    }
    if (length + FRAME_OVERHEAD_BYTES <= this.maxDatagramBytes) {
      const frame = sealFrame(
        { clusterId: this.clusterId, nodeId: this.nodeId, incarnation: this.incarnation, counter: this.#nextCounter(1) },
        encoded,
        this.#key,
      );
      this.#sent++;
      return [frame];
    }
    const chunkBytes = this.maxDatagramBytes - FRAGMENT_OVERHEAD_BYTES;
    const count = Math.ceil(length / chunkBytes);
    const first = this.#nextCounter(count);
    const frames = new Array<Buffer>(count);
    for (let index = 0; index < count; index++) {
      const start = index * chunkBytes;
      frames[index] = sealFrame(
        {
          clusterId: this.clusterId,
          nodeId: this.nodeId,
          incarnation: this.incarnation,
          counter: first + index,
          fragment: { index, count },
        },
        encoded.subarray(start, Math.min(length, start + chunkBytes)),
        this.#key,
        this.#sealScratch,
      );
    }
    this.#sent += count;
    return frames;
  }

  /**
   * Authenticates, replay-checks and decodes one datagram. Never throws.
   * `nowMs` is the caller's monotonic clock (it starts reassembly timers); `linkId` (an
   * interface index, 0..65534, default 0) tells redundant-link copies from replays.
   */
  open(frame: Uint8Array, nowMs: number, linkId?: number): OpenResult {
    this.#received++;
    let result: OpenResult;
    try {
      result = this.#open(frame, nowMs, linkId);
    } catch {
      // Only reachable through a bug below: the decoder's own errors are caught where they occur.
      result = DROP_NO_FROM.malformed;
    }
    switch (result.kind) {
      case 'message':
        this.#accepted++;
        break;
      case 'partial':
        this.#partial++;
        break;
      default:
        this.#dropped[result.reason]++;
    }
    return result;
  }

  /** Messages being reassembled right now: while there are any, expire() has work to do. */
  get pendingReassemblies(): number {
    return this.#reassembler.pendingCount;
  }

  /** The most encoded bytes seal() puts in one datagram; one byte more and it fragments. */
  get maxUnfragmentedBytes(): number {
    return this.maxDatagramBytes - FRAME_OVERHEAD_BYTES;
  }

  /** Drops partial messages whose first fragment is reassemblyTimeoutMs old or older. */
  expire(nowMs: number): void {
    this.#reassembler.expire(nowMs);
  }

  stats(): WireStats {
    return {
      received: this.#received,
      accepted: this.#accepted,
      partial: this.#partial,
      sent: this.#sent,
      dropped: { ...this.#dropped },
      reassemblyBytes: this.#reassembler.bytes,
      pendingReassemblies: this.#reassembler.pendingCount,
      pendingFragments: this.#reassembler.heldFragments,
      reassembliesCompleted: this.#completed,
      reassembliesExpired: this.#expired,
      reassembliesEvicted: this.#evicted,
    };
  }

  #nextCounter(frames: number): number {
    const first = this.#counter;
    // The counter is half of the nonce; wrapping it would reuse nonces, so stop instead.
    if (first + frames > Number.MAX_SAFE_INTEGER) {
      throw new SanodeError(
        'SANODE_COUNTER_EXHAUSTED',
        `frame counter of incarnation ${this.incarnation} is used up (${first} of 2^53-1 frames sealed; ${frames} more asked); ` +
          'nothing was sent: restart the node, which takes a new incarnation whose counter starts again at 0',
      );
    }
    this.#counter = first + frames;
    return first;
  }

  #onDiscard(held: number, reason: DiscardReason, cause: DiscardCause): void {
    this.#partial -= held;
    this.#dropped[reason] += held;
    if (cause === 'expired') this.#expired++;
    else if (cause === 'evicted' || cause === 'restarted') this.#evicted++;
  }

  /** Returns UNDECODABLE rather than throwing, for any input. */
  #decode(bytes: Buffer, start: number, end: number): unknown {
    try {
      const value: unknown = this.#packr.unpack(bytes, { start, end });
      // msgpackr turns the reserved byte 0xc1 into a sentinel instead of failing; a message that
      // is only that byte is garbage. (Nested inside a value it stays an inert sentinel object.)
      return value === C1 ? UNDECODABLE : value;
    } catch {
      return UNDECODABLE;
    }
  }

  #open(frame: Uint8Array, nowMs: number, linkId: number | undefined): OpenResult {
    if (!(frame instanceof Uint8Array)) return DROP_NO_FROM.malformed;
    const length = frame.length;
    if (length < MIN_FRAME_BYTES || frame[0] !== MAGIC_0 || frame[1] !== MAGIC_1 || frame[2] !== WIRE_VERSION) {
      return DROP_NO_FROM.malformed;
    }
    const flags = frame[3]!;
    if ((flags & ~FLAGS_KNOWN) !== 0) return DROP_NO_FROM.malformed;
    const incarnation = readU53(frame, 12);
    const counter = readU53(frame, 20);
    if (incarnation < 1 || counter < 0) return DROP_NO_FROM.malformed;
    if (readU32(frame, 4) !== this.clusterId) return DROP_NO_FROM['wrong-cluster'];
    const from = readU32(frame, 8);
    if (!this.#known.has(from)) return DROP_NO_FROM['unknown-node'];
    if (length > this.maxDatagramBytes) return DROP_NO_FROM.oversize;
    // A secure node never accepts an insecure frame and vice versa: the flag is not a request.
    if (((flags & FLAG_SECURE) !== 0) !== this.secure) return DROP_NO_FROM['bad-auth'];

    const fragment = (flags & FLAG_FRAGMENT) !== 0;
    let body: Buffer;
    let bodyStart: number;
    let bodyEnd: number;
    if (this.#key !== null) {
      const plainBytes = length - FRAME_OVERHEAD_BYTES;
      body = this.#openScratch;
      bodyStart = 0;
      bodyEnd = plainBytes;
      // No exception on a forged frame: it must cost no more than a real one (sodium.ts).
      const authentic = aeadDecrypt(
        body.subarray(0, plainBytes),
        frame.subarray(HEADER_BYTES),
        frame.subarray(0, HEADER_BYTES),
        frame.subarray(NONCE_OFFSET, HEADER_BYTES),
        this.#key,
      );
      if (!authentic) return DROP_NO_FROM['bad-auth'];
    } else {
      const checked = length - TAG_BYTES;
      sodium.crypto_generichash(this.#checksum, frame.subarray(0, checked));
      if (!sodium.sodium_memcmp(this.#checksum, frame.subarray(checked))) return DROP_NO_FROM['bad-auth'];
      body = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, length);
      bodyStart = HEADER_BYTES;
      bodyEnd = checked;
    }

    // Authenticated from here on, so `from` may be reported and the window may move.
    let window = this.#windows.get(from);
    if (window === undefined) {
      window = new ReplayWindow(this.replayWindow);
      this.#windows.set(from, window);
    }
    const restarted = window.isNewIncarnation(incarnation) && window.incarnation !== 0;
    const verdict = window.check(incarnation, counter, normalizeLinkId(linkId));
    if (verdict === ReplayVerdict.Duplicate) return { kind: 'dropped', reason: 'duplicate', from };
    if (verdict !== ReplayVerdict.Fresh) return { kind: 'dropped', reason: 'replay', from };
    if (restarted) this.#reassembler.dropSender(from, incarnation);

    if (!fragment) {
      const message = this.#decode(body, bodyStart, bodyEnd);
      if (message === UNDECODABLE) return { kind: 'dropped', reason: 'malformed', from };
      return { kind: 'message', from, incarnation, message };
    }

    if (bodyEnd - bodyStart <= FRAGMENT_META_BYTES) return { kind: 'dropped', reason: 'malformed', from };
    const index = readU32(body, bodyStart);
    const count = readU32(body, bodyStart + 4);
    const outcome = this.#reassembler.add(
      from,
      incarnation,
      counter,
      index,
      count,
      body.subarray(bodyStart + FRAGMENT_META_BYTES, bodyEnd),
      nowMs,
    );
    if (outcome.status === 'partial') return { kind: 'partial', from, incarnation };
    if (outcome.status === 'dropped') return { kind: 'dropped', reason: outcome.reason, from };
    const message = this.#decode(outcome.payload, 0, outcome.payload.length);
    if (message === UNDECODABLE) {
      // The held fragments were counted as partial; the whole message is now malformed.
      this.#onDiscard(outcome.fragments - 1, 'malformed', 'undecodable');
      return { kind: 'dropped', reason: 'malformed', from };
    }
    this.#completed++;
    return { kind: 'message', from, incarnation, message };
  }
}
