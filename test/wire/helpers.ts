import assert from 'node:assert/strict';
import { DROP_REASONS, generateKey, Wire, type WireOptions } from '../../lib/wire/index.js';

/** mulberry32: a tiny seeded PRNG, so every randomised test replays from its seed. */
export function prng(seed: number): { next(): number; int(n: number): number } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}

export function shuffle<T>(items: T[], random: { int(n: number): number }): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export const CLUSTER = 'test-cluster';
export const NODES = [1, 2, 3];

export function makeWire(
  nodeId: number,
  security: WireOptions['security'],
  overrides: Partial<WireOptions> = {},
): Wire {
  return new Wire({ cluster: CLUSTER, nodeId, incarnation: 1, security, knownNodes: NODES, ...overrides });
}

export function securePair(overrides: Partial<WireOptions> = {}): { key: Buffer; a: Wire; b: Wire } {
  const key = generateKey();
  return {
    key,
    a: makeWire(1, { mode: 'secure', key }, overrides),
    b: makeWire(2, { mode: 'secure', key }, overrides),
  };
}

/** The stats invariant every test ends with: each received frame is in exactly one bucket. */
export function assertBuckets(wire: Wire): void {
  const s = wire.stats();
  const dropped = DROP_REASONS.reduce((sum, reason) => sum + s.dropped[reason], 0);
  assert.equal(s.received, s.accepted + s.partial + dropped, `buckets do not add up: ${JSON.stringify(s)}`);
  assert.ok(s.pendingFragments <= s.partial, 'pending fragments must be counted as partial');
  assert.ok(s.reassemblyBytes <= wire.maxReassemblyBytes, 'reassembly memory over its bound');
  for (const reason of DROP_REASONS) assert.ok(s.dropped[reason] >= 0, `negative drop count for ${reason}`);
  assert.ok(s.partial >= 0 && s.accepted >= 0);
}
