/**
 * Pure membership maths used while gathering: the gather sets, their canonical key, and the
 * deterministic split of the candidates into rings.
 *
 * Gather sets only grow during one gather episode (a join lattice: union of the sets every peer
 * sent). Because every node applies the same deterministic function to the same sets, nodes
 * whose sets are equal compute the same groups; consensus is "everyone in my group sent me
 * exactly my sets".
 *
 * Instead of corosync's single failed set we keep *edges*: an unordered pair {a, b} means "a and
 * b could not agree, they must not share a ring". A crashed node collects an edge to everyone and
 * ends up alone; a one-way link A→B gives one edge {A, B} and splits only A from B, while a third
 * node C still rings with one of them (a plain failed set would have C adopt both A's and B's
 * failures and end up alone — the classic flapping of asymmetric links).
 */
import type { NodeId } from './types.js';

export interface GatherSets {
  readonly proc: Set<NodeId>;
  /** Keys `${a}:${b}` with a < b. */
  readonly edges: Set<string>;
  /** node → incarnation that left gracefully; such nodes are never ring candidates. */
  readonly left: Map<NodeId, number>;
  /**
   * Nodes known to have sent a join in this episode. A node nobody heard from sorts last when
   * the groups are cut, so a silent (dead) node never pushes a live one out of the big group.
   */
  readonly joined: Set<NodeId>;
}

export function edgeKey(a: NodeId, b: NodeId): string {
  if (a === b) throw new Error(`totem invariant: self edge ${a}`);
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

function edgeEnds(key: string): [NodeId, NodeId] {
  const i = key.indexOf(':');
  return [Number(key.slice(0, i)), Number(key.slice(i + 1))];
}

export function flatEdges(sets: GatherSets): NodeId[] {
  const out: NodeId[] = [];
  for (const k of [...sets.edges].sort()) out.push(...edgeEnds(k));
  return out;
}

export function flatLeft(sets: GatherSets): number[] {
  const out: number[] = [];
  for (const n of [...sets.left.keys()].sort((a, b) => a - b)) out.push(n, sets.left.get(n)!);
  return out;
}

/** Canonical text of the sets: equal sets give equal keys on every node. */
export function setsKey(sets: GatherSets): string {
  const proc = [...sets.proc].sort((a, b) => a - b).join(',');
  const edges = [...sets.edges].sort().join(',');
  const left = flatLeft(sets).join(',');
  const joined = [...sets.joined].sort((a, b) => a - b).join(',');
  return `p${proc}|e${edges}|l${left}|j${joined}`;
}

/**
 * Merges a peer's sets into ours. Returns true when ours changed. Only grows (the lattice join),
 * which is what makes repeated exchange converge.
 */
export function mergeSets(
  into: GatherSets,
  proc: readonly NodeId[],
  edges: readonly NodeId[],
  left: readonly number[],
  joined: readonly NodeId[],
): boolean {
  let changed = false;
  for (const n of joined) {
    if (!into.joined.has(n)) {
      into.joined.add(n);
      changed = true;
    }
  }
  for (const n of proc) {
    if (!into.proc.has(n)) {
      into.proc.add(n);
      changed = true;
    }
  }
  for (let i = 0; i + 1 < edges.length; i += 2) {
    const a = edges[i]!;
    const b = edges[i + 1]!;
    if (a === b) continue;
    const k = edgeKey(a, b);
    if (!into.edges.has(k)) {
      into.edges.add(k);
      changed = true;
    }
  }
  for (let i = 0; i + 1 < left.length; i += 2) {
    const n = left[i]!;
    const inc = left[i + 1]!;
    const have = into.left.get(n);
    if (have === undefined || have < inc) {
      into.left.set(n, inc);
      changed = true;
    }
  }
  return changed;
}

/**
 * Splits the candidates (proc minus left) into groups with no edge inside a group. Greedy
 * first-fit in order of (sent a join, fewest edges, smallest id): a silent node goes last and
 * alone; between two nodes that cannot hear each other, the better connected one (then the
 * smaller id) keeps the company of the rest. Deterministic: same sets, same groups.
 */
export function partitionGroups(sets: GatherSets): NodeId[][] {
  const candidates = [...sets.proc].filter((n) => !sets.left.has(n));
  const adjacent = new Map<NodeId, Set<NodeId>>();
  for (const n of candidates) adjacent.set(n, new Set());
  for (const k of sets.edges) {
    const [a, b] = edgeEnds(k);
    adjacent.get(a)?.add(b);
    adjacent.get(b)?.add(a);
  }
  const silent = (n: NodeId): number => (sets.joined.has(n) ? 0 : 1);
  candidates.sort((a, b) => silent(a) - silent(b) || adjacent.get(a)!.size - adjacent.get(b)!.size || a - b);
  const groups: NodeId[][] = [];
  for (const n of candidates) {
    const near = adjacent.get(n)!;
    const home = groups.find((g) => g.every((m) => !near.has(m)));
    if (home === undefined) groups.push([n]);
    else home.push(n);
  }
  for (const g of groups) g.sort((a, b) => a - b);
  return groups;
}

/** The group `me` belongs to. `me` must be a candidate (never in its own left set). */
export function groupOf(sets: GatherSets, me: NodeId): NodeId[] {
  const g = partitionGroups(sets).find((grp) => grp.includes(me));
  if (g === undefined) throw new Error(`totem invariant: node ${me} is not a candidate of its own gather sets`);
  return g;
}

export function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
