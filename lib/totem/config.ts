import { ConfigError } from '../errors/index.js';
import type { TotemConfig, TotemTimers } from './types.js';

/**
 * Named timer profiles. Every value says why. The relations that matter (checked by
 * validateTotemConfig): tokenRetransmitMs and tokenHoldMs well below tokenTimeoutMs (a lost
 * token hop or an idle hold must never look like a dead ring), joinMs below failToRecvMs (a live
 * peer gets several joins through before it is given up on), failToRecvMs below consensusMs.
 *
 * Failure detection of a crashed node takes about
 *   tokenTimeoutMs + (members - 2) * tokenPerMemberMs + failToRecvMs + a few round trips
 * (token loss, then the silent node is given up on, then commit + recovery).
 */
export const PROFILES: Record<'lan' | 'fast' | 'wan', TotemTimers> = {
  lan: {
    // A stalled Node process (GC, a busy 2-core box) regularly misses 100 ms; 400 ms gives a
    // 4x margin, and still detects failure in about half a second (corosync defaults to 3 s).
    tokenTimeoutMs: 400,
    // A LAN round trip is < 1 ms; 50 ms absorbs scheduler delay on a loaded box while leaving
    // room for ~7 resends of one hop inside one token timeout.
    tokenRetransmitMs: 50,
    // The representative keeps an idle token this long per rotation: ~20 token hops per second
    // per node at rest instead of thousands, and adds at most 30 ms latency to a broadcast.
    tokenHoldMs: 30,
    // Four join resends fit in failToRecvMs, so 20% loss rarely hides a live peer.
    joinMs: 40,
    // Give up on a silent node after ~5 join periods.
    failToRecvMs: 200,
    // 1.5x the token timeout: nodes that hear joins but never agree are cut loose after this.
    consensusMs: 600,
    // Separate partitions find each other within about one period once the network heals.
    mergeDetectMs: 500,
    // The idle token visits each member once per rotation; each extra member adds one hop of
    // (scheduler) latency, so a 32-node ring waits 400 + 30*10 = 700 ms before declaring loss.
    tokenPerMemberMs: 10,
  },
  fast: {
    // For a quiet, dedicated LAN: failover well under 100 ms (40 + 20 + round trips), at the
    // price of flapping if the process stalls for more than ~30 ms.
    tokenTimeoutMs: 40,
    tokenRetransmitMs: 8,
    tokenHoldMs: 4,
    joinMs: 5,
    failToRecvMs: 20,
    consensusMs: 60,
    mergeDetectMs: 150,
    tokenPerMemberMs: 2,
  },
  wan: {
    // Round trips of 50-300 ms and bursty loss: seconds, like corosync's defaults.
    tokenTimeoutMs: 3000,
    tokenRetransmitMs: 400,
    tokenHoldMs: 150,
    joinMs: 300,
    failToRecvMs: 1500,
    consensusMs: 4500,
    mergeDetectMs: 3000,
    tokenPerMemberMs: 100,
  },
};

function positiveInt(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new ConfigError(field, `must be a positive integer, got ${String(v)}`);
  }
}

function nonNegativeInt(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ConfigError(field, `must be a non-negative integer, got ${String(v)}`);
  }
}

function below(field: string, v: number, otherField: string, other: number, why: string): void {
  if (!(v < other)) {
    throw new ConfigError(field, `${v} must be below ${otherField} (${other}): ${why}`);
  }
}

export function validateTimers(t: TotemTimers, prefix = 'timers'): void {
  if (typeof t !== 'object' || t === null) throw new ConfigError(prefix, 'must be an object of timer values');
  positiveInt(`${prefix}.tokenTimeoutMs`, t.tokenTimeoutMs);
  positiveInt(`${prefix}.tokenRetransmitMs`, t.tokenRetransmitMs);
  nonNegativeInt(`${prefix}.tokenHoldMs`, t.tokenHoldMs);
  positiveInt(`${prefix}.joinMs`, t.joinMs);
  positiveInt(`${prefix}.consensusMs`, t.consensusMs);
  positiveInt(`${prefix}.mergeDetectMs`, t.mergeDetectMs);
  positiveInt(`${prefix}.failToRecvMs`, t.failToRecvMs);
  if (t.tokenPerMemberMs !== undefined) nonNegativeInt(`${prefix}.tokenPerMemberMs`, t.tokenPerMemberMs);
  below(`${prefix}.tokenRetransmitMs`, t.tokenRetransmitMs * 2, `${prefix}.tokenTimeoutMs`, t.tokenTimeoutMs,
    'use at most half the token timeout, so a lost hop is resent before the ring is declared broken');
  below(`${prefix}.tokenHoldMs`, t.tokenHoldMs * 2, `${prefix}.tokenTimeoutMs`, t.tokenTimeoutMs,
    'use at most half the token timeout, so holding an idle token never looks like a lost one');
  below(`${prefix}.joinMs`, t.joinMs, `${prefix}.failToRecvMs`, t.failToRecvMs,
    'a peer must get at least one join resend through before it is given up on');
  below(`${prefix}.failToRecvMs`, t.failToRecvMs, `${prefix}.consensusMs`, t.consensusMs,
    'silent nodes are dropped first; consensusMs is the longer bound for nodes that answer but do not agree');
}

export function validateTotemConfig(c: TotemConfig): void {
  if (typeof c !== 'object' || c === null) throw new ConfigError('totem', 'config must be an object');
  nonNegativeInt('nodeId', c.nodeId);
  nonNegativeInt('incarnation', c.incarnation);
  nonNegativeInt('ringSeq', c.ringSeq);
  if (!Array.isArray(c.nodes) || c.nodes.length === 0) {
    throw new ConfigError('nodes', 'must be a non-empty list of node ids (every node that may ever be a member)');
  }
  const seen = new Set<number>();
  c.nodes.forEach((n, i) => {
    nonNegativeInt(`nodes[${i}]`, n);
    if (seen.has(n)) throw new ConfigError(`nodes[${i}]`, `duplicate node id ${n}; list each node once`);
    seen.add(n);
  });
  if (!seen.has(c.nodeId)) {
    throw new ConfigError('nodeId', `${c.nodeId} is not in nodes [${c.nodes.join(', ')}]; add it to the node list`);
  }
  validateTimers(c.timers);
  positiveInt('maxSendQueue', c.maxSendQueue);
  positiveInt('maxMessagesPerToken', c.maxMessagesPerToken);
  if (c.maxPayloadBytes !== undefined) positiveInt('maxPayloadBytes', c.maxPayloadBytes);
  if (c.maxBytesPerToken !== undefined) positiveInt('maxBytesPerToken', c.maxBytesPerToken);
}
