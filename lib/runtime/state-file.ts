/**
 * The runtime's small state files and what each must hold. The durable write lives in
 * lib/storage/durable-file.ts (the CIB shares it); the rules for each file live here, next to
 * the fix an operator is told when a file breaks them.
 *
 * Must never: hand back a default for a file that exists but cannot be trusted (a reset ring seq
 * or a forgotten last-man-standing set changes what the cluster decides), or rewrite it.
 */
import { join } from 'node:path';
import { SanodeError } from '../errors/index.js';
import type { LmsKnowledge } from '../quorum/index.js';
import { readStateFile, writeStateFile } from '../storage/durable-file.js';

export { readStateFile, writeStateFile } from '../storage/durable-file.js';

export interface PersistedTotemState {
  ringSeq: number;
  incarnation: number;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function totemStatePath(stateDir: string): string {
  return join(stateDir, 'totem-state.json');
}

/** The ring seq and incarnation an earlier run stored; zeros for a node that never ran. */
export function readTotemState(stateDir: string): PersistedTotemState {
  return readStateFile<PersistedTotemState>(
    totemStatePath(stateDir),
    { ringSeq: 0, incarnation: 0 },
    {
      check: (v) => {
        for (const field of ['ringSeq', 'incarnation'] as const) {
          if (!isCount(v[field])) return `${field} must be an integer 0..2^53-1, got ${JSON.stringify(v[field])}`;
        }
        return undefined;
      },
      fix:
        'restore it from a backup, or move it away to start this node as a new one (a clock-based incarnation; ' +
        'the ring seq is learnt from the peers)',
    },
  );
}

/**
 * The incarnation this run takes: above every earlier one (the wire's nonces and the peers'
 * replay windows depend on it), and the wall clock's when that is higher, so a wiped state
 * directory still starts above earlier runs. The clock decides nothing about liveness.
 */
export function nextIncarnation(stateDir: string, previous: PersistedTotemState, wallClockMs: number): number {
  if (previous.incarnation >= Number.MAX_SAFE_INTEGER) {
    throw new SanodeError(
      'SANODE_INCARNATION_EXHAUSTED',
      `${totemStatePath(stateDir)}: incarnation ${previous.incarnation} has no successor (the wire carries at most 2^53-1; ` +
        'only a hand-edited or damaged file gets here, clock-based incarnations are near 2^41). The peers remember this ' +
        'incarnation, so a lower one would be dropped as a replay: make a new key (sanode keygen), install it on every node, ' +
        'move totem-state.json and peer-incarnations.json away on every node, and start the cluster again',
      { field: 'incarnation' },
    );
  }
  return Math.max(previous.incarnation + 1, Math.min(wallClockMs, Number.MAX_SAFE_INTEGER));
}

export function lmsStatePath(stateDir: string): string {
  return join(stateDir, 'last-man-standing.json');
}

/**
 * What last man standing stored before a restart, or undefined for none. Only the shape is
 * checked here; whether its nodes match the configuration is the quorum tracker's business (a
 * node list may change between runs).
 */
export function readLmsState(stateDir: string): LmsKnowledge | undefined {
  const stored = readStateFile<Partial<LmsKnowledge>>(lmsStatePath(stateDir), {}, {
    check: (v) => {
      const config = v['config'];
      if (typeof config !== 'object' || config === null || Array.isArray(config)) return `config must be an object, got ${JSON.stringify(config)}`;
      const c = config as Record<string, unknown>;
      for (const field of ['version', 'seq', 'rep', 'expected']) {
        if (!isCount(c[field])) return `config.${field} must be an integer 0..2^53-1, got ${JSON.stringify(c[field])}`;
      }
      if (!Array.isArray(c['members']) || !c['members'].every(isCount)) return `config.members must be a list of node ids, got ${JSON.stringify(c['members'])}`;
      if (!Array.isArray(v['acked']) || !v['acked'].every(isCount)) return `acked must be a list of node ids, got ${JSON.stringify(v['acked'])}`;
      return undefined;
    },
    fix:
      'restore it from a backup or from the same file of a node that was in the last quorate view; moving it away makes ' +
      'this node forget the last-man-standing set, so do that only with every configured node up',
  });
  return stored.config === undefined ? undefined : (stored as LmsKnowledge);
}

export function peerIncarnationsPath(stateDir: string): string {
  return join(stateDir, 'peer-incarnations.json');
}

/**
 * The newest incarnation of each peer this node has authenticated, kept so that frames of a
 * peer's earlier incarnation stay replays after this node restarts (the wire's replay windows
 * live in memory). Node ids the configuration no longer has are kept out of the map.
 */
export function readPeerIncarnations(stateDir: string, nodes: readonly number[]): Map<number, number> {
  const stored = readStateFile<{ peers: Record<string, unknown> }>(peerIncarnationsPath(stateDir), { peers: {} }, {
    check: (v) => {
      const peers = v['peers'];
      if (typeof peers !== 'object' || peers === null || Array.isArray(peers)) return `peers must be an object of node id -> incarnation, got ${JSON.stringify(peers)}`;
      for (const [id, incarnation] of Object.entries(peers)) {
        if (!/^[1-9]\d{0,9}$/.test(id) || !isCount(incarnation)) return `peers.${id} must be a node id -> an incarnation 0..2^53-1, got ${JSON.stringify(incarnation)}`;
      }
      return undefined;
    },
    fix:
      'restore it from a backup, or move it away (until each peer next restarts, frames captured from its earlier ' +
      'incarnations are then not recognised as replays)',
  });
  const known = new Set(nodes);
  const floors = new Map<number, number>();
  for (const [id, incarnation] of Object.entries(stored.peers)) if (known.has(Number(id))) floors.set(Number(id), incarnation as number);
  return floors;
}

export function writePeerIncarnations(stateDir: string, floors: ReadonlyMap<number, number>): void {
  writeStateFile(peerIncarnationsPath(stateDir), { peers: Object.fromEntries([...floors].sort((a, b) => a[0] - b[0])) });
}
