/**
 * Placement: which node each primitive (and each clone instance) should run on, and in which role.
 *
 * The method follows pacemaker's allocation (pcmk_sched_primitive.c, pcmk_sched_colocation.c,
 * pcmk_sched_clone.c), reimplemented from its documented behaviour:
 *  - resources are placed one at a time, highest priority first;
 *  - a resource first places the resources it is colocated with ("primaries") and applies those
 *    colocations to its own node scores; it also adds, scaled by score/INFINITY, the node scores
 *    of resources colocated with it ("dependents"), so a primary leans towards where its
 *    dependents want to be;
 *  - it takes the highest-scored available node with a score >= 0; ties go to the node with the
 *    fewest resources placed so far, then to the node it already runs on, then to the lowest name.
 * A group is its members chained by INFINITY colocations; a clone spreads instances over nodes.
 */
import { INFINITY, addScores, type CibConfig, type CloneConfig, type Role } from '../cib/model.js';
import { ruleMatches } from './rules.js';
import { canRunResources, type ClusterView, type NodeView, type PrimitiveState } from './state.js';

export type Weights = Map<string, number>;

interface Coloc {
  id: string;
  dep: Unit;
  pri: Unit;
  score: number;
}

interface Unit {
  id: string;
  kind: 'primitive' | 'clone';
  /** Primitives this unit runs: one for a primitive; every member of a cloned group. */
  prims: PrimitiveState[];
  clone?: CloneConfig;
  priority: number;
  base: Weights;
  thisWith: Coloc[];
  withThis: Coloc[];
  /** Set once placed: the node(s) it runs on; empty when it stays stopped. */
  nodes?: string[];
  /** Instances per node for clones. */
  instances?: Map<string, number>;
  assigning: boolean;
  final?: Weights;
  /** Pinned in place: unmanaged, maintenance, blocked or frozen. */
  pinned: boolean;
  stopped: boolean;
  order: number;
  /** Group members placed right after this one (the rest of its group). */
  followers: Unit[];
}

export interface Placement {
  /** Primitive id -> where it will run, with its role; an empty list when stopped. */
  placement: Record<string, { node: string; role: Exclude<Role, 'Stopped'> }[]>;
  /** Resource id -> node -> final score (like crm_simulate --show-scores). */
  scores: Record<string, Record<string, number>>;
  /** Resources whose node was chosen among equal top scores (by load, current node, then name). */
  ties: string[];
}

export interface PlaceOptions {
  /** Every resource stays stopped (no-quorum-policy=stop, or demote for non-promotables). */
  stopAll: boolean;
  /** Resources stay where they are and nothing new starts (no-quorum-policy=freeze). */
  freeze: boolean;
  /** Promotables lose their promoted instances (no-quorum-policy=demote). */
  demoteAll: boolean;
}

interface Ctx {
  view: ClusterView;
  nodeByName: Map<string, NodeView>;
  /** Resources placed per node so far: the first tie-break. */
  load: Map<string, number>;
  ties: Set<string>;
  units: Map<string, Unit>;
  /** Resource id (primitive, group, clone) -> the unit that acts as dependent / as primary. */
  asDependent: Map<string, Unit>;
  asPrimary: Map<string, { optional: Unit; mandatory: Unit }>;
  symmetric: boolean;
}

export function place(config: CibConfig, view: ClusterView, opts: PlaceOptions): Placement {
  const ctx = buildUnits(config, view, opts);
  const ordered = sortUnits(ctx, [...ctx.units.values()].filter((u) => u.order >= 0));
  for (const u of ordered) assign(ctx, u);
  return collect(config, ctx, opts);
}

function emptyWeights(ctx: Ctx, init: number): Weights {
  return new Map(ctx.view.nodes.map((n) => [n.name, init]));
}

function buildUnits(config: CibConfig, view: ClusterView, opts: PlaceOptions): Ctx {
  const ctx: Ctx = {
    view,
    nodeByName: new Map(view.nodes.map((n) => [n.name, n])),
    load: new Map(view.nodes.map((n) => [n.name, 0])),
    ties: new Set(),
    units: new Map(),
    asDependent: new Map(),
    asPrimary: new Map(),
    symmetric: config.properties?.symmetricCluster ?? true,
  };
  let order = 0;
  const primOf = (id: string): PrimitiveState => view.primitives.get(id)!;
  const newUnit = (id: string, kind: Unit['kind'], prims: PrimitiveState[], clone?: CloneConfig): Unit => {
    const u: Unit = {
      id,
      kind,
      prims,
      priority: prims[0]!.meta.priority,
      base: emptyWeights(ctx, 0),
      thisWith: [],
      withThis: [],
      assigning: false,
      pinned: false,
      stopped: false,
      order: order++,
      followers: [],
    };
    if (clone !== undefined) u.clone = clone;
    ctx.units.set(id, u);
    return u;
  };
  const link = (dep: Unit, pri: Unit, score: number, id: string): void => {
    const c = { id, dep, pri, score };
    dep.thisWith.push(c);
    pri.withThis.push(c);
  };
  for (const top of config.resources) {
    if (top.kind === 'primitive') {
      const u = newUnit(top.id, 'primitive', [primOf(top.id)]);
      ctx.asDependent.set(top.id, u);
      ctx.asPrimary.set(top.id, { optional: u, mandatory: u });
    } else if (top.kind === 'group') {
      const members = top.members.map((m) => newUnit(m.id, 'primitive', [primOf(m.id)]));
      members.forEach((m, i) => {
        if (i > 0) {
          m.order = -1; // placed through its group, never on its own
          link(m, members[i - 1]!, INFINITY, `${top.id}:internal`);
        }
        ctx.asDependent.set(m.id, m);
        ctx.asPrimary.set(m.id, { optional: m, mandatory: m });
      });
      members[0]!.followers = members.slice(1);
      ctx.asDependent.set(top.id, members[0]!);
      ctx.asPrimary.set(top.id, { optional: members[0]!, mandatory: members[members.length - 1]! });
    } else {
      const prims = top.child.kind === 'primitive' ? [primOf(top.child.id)] : top.child.members.map((m) => primOf(m.id));
      const u = newUnit(top.id, 'clone', prims, top);
      ctx.asDependent.set(top.id, u);
      ctx.asPrimary.set(top.id, { optional: u, mandatory: u });
    }
  }
  for (const u of ctx.units.values()) {
    initBase(ctx, u, config, opts);
  }
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'colocation') continue;
    const dep = ctx.asDependent.get(c.rsc);
    const pri = ctx.asPrimary.get(c.withRsc);
    if (dep === undefined || pri === undefined) continue;
    link(dep, c.score >= INFINITY ? pri.mandatory : pri.optional, c.score, c.id);
  }
  return ctx;
}

/** A location on a group binds its first member; the others follow through the group's
 * internal colocations (pacemaker applies the score once, to the first member). */
function locationTarget(ctx: Ctx, rsc: string): Unit | undefined {
  return ctx.asDependent.get(rsc);
}

function laterGroupMember(config: CibConfig, groupId: string, memberId: string): boolean {
  const g = config.resources.find((r) => r.id === groupId);
  return g?.kind === 'group' && g.members.slice(1).some((m) => m.id === memberId);
}

function initBase(ctx: Ctx, u: Unit, config: CibConfig, opts: PlaceOptions): void {
  const allowed = new Set<string>();
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'location') continue;
    if (locationTarget(ctx, c.rsc) !== u) {
      // Pacemaker hands a group's location to every member, but with its scores reset to 0 after
      // the first: later members gain nothing except, in an opt-in cluster, the right to run there.
      if (c.role !== 'Promoted' && laterGroupMember(config, c.rsc, u.id)) {
        for (const n of ctx.view.nodes) {
          if (c.node === n.name || (c.rules ?? []).some((rule) => ruleMatches(rule, n.attrs))) allowed.add(n.name);
        }
      }
      continue;
    }
    if (c.role === 'Promoted') continue; // applies to the promotion choice, not to placement
    for (const n of ctx.view.nodes) {
      if (c.node !== undefined) {
        if (c.node !== n.name) continue;
        allowed.add(n.name);
        u.base.set(n.name, addScores(u.base.get(n.name)!, c.score ?? 0));
        continue;
      }
      for (const rule of c.rules ?? []) {
        if (!ruleMatches(rule, n.attrs)) continue;
        allowed.add(n.name);
        u.base.set(n.name, addScores(u.base.get(n.name)!, rule.score));
      }
    }
  }
  if (!ctx.symmetric) {
    // An opt-in cluster: only nodes named by a location are candidates.
    for (const n of ctx.view.nodes) if (!allowed.has(n.name)) u.base.set(n.name, -INFINITY);
  }
  applyStickinessAndFailures(ctx, u);
  for (const n of ctx.view.nodes) if (!canRunResources(n)) u.base.set(n.name, -INFINITY);
  const p = u.prims[0]!;
  const roleStopped = u.prims.some((x) => x.meta.targetRole === 'Stopped' && u.kind === 'clone') || p.meta.targetRole === 'Stopped';
  // Without quorum under no-quorum-policy=demote, promotables stay (demoted) and the rest stop.
  const promotable = u.clone?.meta?.promotable === true;
  u.stopped = roleStopped || u.prims.some((x) => x.forceStop) || opts.stopAll || (opts.demoteAll && !promotable);
  u.pinned = u.prims.some((x) => x.blocked) || opts.freeze || (opts.demoteAll && promotable);
  // A pinned resource will be where it is, whatever else wants: its neighbours must see that.
  const here = u.kind === 'primitive' ? currentNode(ctx, u) : undefined;
  if (u.pinned && here !== undefined) u.base.set(here, INFINITY);
}

function applyStickinessAndFailures(ctx: Ctx, u: Unit): void {
  for (const p of u.prims) {
    const live = p.active.filter((a) => ctx.nodeByName.get(a.node)!.online);
    // Stickiness holds a resource where it runs; only a clearly single location counts.
    if (p.meta.isManaged && (u.kind === 'clone' || live.length === 1)) {
      for (const a of live) {
        const cur = u.base.get(a.node)!;
        if (ctx.symmetric || cur > -INFINITY) u.base.set(a.node, addScores(cur, p.meta.resourceStickiness));
      }
    }
    for (const [node, count] of p.failCount) {
      if (p.meta.migrationThreshold > 0 && count >= p.meta.migrationThreshold) u.base.set(node, -INFINITY);
    }
  }
}

function currentNode(ctx: Ctx, u: Unit): string | undefined {
  const live = u.prims[0]!.active.filter((a) => ctx.nodeByName.get(a.node)!.online);
  return live.length === 1 ? live[0]!.node : undefined;
}

/** Pacemaker sorts resources by priority, then by their score where they run, then by score per node. */
function sortUnits(ctx: Ctx, units: Unit[]): Unit[] {
  const names = ctx.view.nodes.map((n) => n.name).sort();
  const weightHere = (u: Unit): number => {
    const cur = currentNode(ctx, u);
    return cur === undefined ? -INFINITY : u.base.get(cur)!;
  };
  return [...units].sort((a, b) => {
    if (a.priority !== b.priority) return b.priority - a.priority;
    const wa = weightHere(a);
    const wb = weightHere(b);
    if (wa !== wb) return wb - wa;
    for (const n of names) {
      const x = a.base.get(n)!;
      const y = b.base.get(n)!;
      if (x !== y) return y - x;
    }
    return a.order - b.order;
  });
}

function available(ctx: Ctx, w: Weights): boolean {
  for (const [node, score] of w) if (score >= 0 && canRunResources(ctx.nodeByName.get(node)!)) return true;
  return false;
}

function assign(ctx: Ctx, u: Unit): void {
  if (u.nodes !== undefined || u.assigning) return;
  u.assigning = true;
  const w: Weights = new Map(u.base);
  for (const c of u.thisWith) {
    assign(ctx, c.pri);
    applyColocation(ctx, w, c);
  }
  for (const c of u.withThis) {
    if (c.dep.nodes !== undefined) continue;
    mergeDependent(ctx, c.dep, w, c.score / INFINITY, new Set([u]), u.kind === 'clone');
  }
  u.final = w;
  if (u.kind === 'clone') assignClone(ctx, u, w);
  else assignPrimitive(ctx, u, w);
  u.assigning = false;
  for (const f of u.followers) assign(ctx, f);
}

function assignPrimitive(ctx: Ctx, u: Unit, w: Weights): void {
  if (u.pinned) {
    const cur = currentNode(ctx, u);
    u.nodes = cur === undefined ? [] : [cur];
  } else if (u.stopped) {
    u.nodes = [];
  } else {
    const best = bestNode(ctx, w, currentNode(ctx, u));
    u.nodes = best === undefined ? [] : [best];
    if (best !== undefined && isTie(ctx, w, best, new Set())) ctx.ties.add(u.id);
  }
  for (const n of u.nodes) ctx.load.set(n, ctx.load.get(n)! + 1);
}

function bestNode(ctx: Ctx, w: Weights, preferred: string | undefined): string | undefined {
  let best: string | undefined;
  for (const n of ctx.view.nodes) {
    const score = w.get(n.name)!;
    if (score < 0 || !canRunResources(n)) continue;
    if (best === undefined || better(ctx, w, n.name, best, preferred)) best = n.name;
  }
  return best;
}

/** Another usable node scores exactly as well as the chosen one. */
function isTie(ctx: Ctx, w: Weights, chosen: string, full: Set<string>): boolean {
  const top = w.get(chosen)!;
  return ctx.view.nodes.some((n) => n.name !== chosen && !full.has(n.name) && canRunResources(n) && w.get(n.name) === top);
}

function better(ctx: Ctx, w: Weights, a: string, b: string, preferred: string | undefined): boolean {
  const sa = w.get(a)!;
  const sb = w.get(b)!;
  if (sa !== sb) return sa > sb;
  const la = ctx.load.get(a)!;
  const lb = ctx.load.get(b)!;
  if (la !== lb) return la < lb;
  if (preferred === a || preferred === b) return preferred === a;
  return a < b;
}

/** The dependent's side of a colocation: its scores follow where the primary was placed. */
function applyColocation(ctx: Ctx, w: Weights, c: Coloc): void {
  const where = new Set(c.pri.nodes ?? []);
  if (where.size === 0 && c.score < 0) return; // away from something that is not running
  const work: Weights = new Map(w);
  for (const [node, score] of work) {
    if (where.size === 0) work.set(node, addScores(score, -c.score));
    else if (where.has(node)) {
      if (c.score < INFINITY) work.set(node, addScores(score, c.score));
    } else if (c.score >= INFINITY) work.set(node, -INFINITY);
  }
  // An optional colocation that would leave nowhere to run is dropped rather than obeyed.
  if (Math.abs(c.score) >= INFINITY || available(ctx, work)) for (const [k, v] of work) w.set(k, v);
}

/**
 * The primary's side: lean towards where a dependent (and its own dependents) want to be.
 * For a clone (pacemaker's pe_weights_positive) a dependent may only pull, never push away: a
 * node the merge would make negative keeps its score (0), or 1 if it was positive, so a clone
 * is not banned from a node just because one resource colocated with it cannot run there.
 */
function mergeDependent(ctx: Ctx, dep: Unit, w: Weights, factor: number, visiting: Set<Unit>, positiveOnly = false): void {
  if (visiting.has(dep)) return;
  visiting.add(dep);
  const work: Weights = new Map(w);
  const depWeights = dep.final ?? dep.base;
  const flattened = new Set<string>();
  for (const [node, current] of work) {
    const n = ctx.nodeByName.get(node)!;
    const score = canRunResources(n) ? depWeights.get(node)! : -INFINITY;
    if (factor < 0 && score < 0) continue; // a double negative must not become a preference
    let add = Math.round(factor * score);
    if (add === 0 && score !== 0 && factor !== 0) add = factor > 0 ? 1 : -1;
    const merged = addScores(add, current);
    if (positiveOnly && merged < 0 && current >= 0) {
      if (current > 0) flattened.add(node);
      continue;
    }
    work.set(node, merged);
  }
  if (available(ctx, work)) {
    for (const c of dep.withThis) mergeDependent(ctx, c.dep, work, (factor * c.score) / INFINITY, visiting, positiveOnly);
    for (const node of flattened) work.set(node, 1);
    for (const [k, v] of work) w.set(k, v);
  }
  visiting.delete(dep);
}

function cloneLimits(ctx: Ctx, u: Unit): { max: number; perNode: number } {
  const m = u.clone!.meta ?? {};
  return { max: m.cloneMax ?? ctx.view.nodes.length, perNode: m.cloneNodeMax ?? 1 };
}

function assignClone(ctx: Ctx, u: Unit, w: Weights): void {
  const { max, perNode } = cloneLimits(ctx, u);
  const counts = new Map<string, number>();
  const add = (node: string): void => {
    counts.set(node, (counts.get(node) ?? 0) + 1);
    ctx.load.set(node, ctx.load.get(node)! + 1);
  };
  const running = new Map<string, number>();
  for (const a of u.prims[0]!.active) {
    if (ctx.nodeByName.get(a.node)!.online) running.set(a.node, (running.get(a.node) ?? 0) + 1);
  }
  if (u.pinned || u.stopped) {
    if (u.pinned) for (const [node, k] of running) for (let i = 0; i < k; i++) add(node);
    u.instances = counts;
    u.nodes = [...counts.keys()];
    return;
  }
  const usable = ctx.view.nodes.filter((n) => canRunResources(n) && w.get(n.name)! >= 0);
  const loopMax = Math.max(1, Math.floor(max / Math.max(1, usable.length)));
  let placed = 0;
  // First keep instances where they already run (healthy ones), as far as the limits allow.
  const failedOn = new Set(u.prims[0]!.active.filter((a) => a.failed).map((a) => a.node));
  for (const n of usable) {
    const k = Math.min(running.get(n.name) ?? 0, perNode, loopMax);
    if (failedOn.has(n.name)) continue;
    for (let i = 0; i < k && placed < max; i++, placed++) add(n.name);
  }
  // Then place the rest one at a time on the best node that still has room.
  const pass2 = new Set<string>();
  while (placed < max) {
    let best: string | undefined;
    for (const n of usable) {
      if ((counts.get(n.name) ?? 0) >= perNode) continue;
      if (best === undefined || better(ctx, w, n.name, best, undefined)) best = n.name;
    }
    if (best === undefined) break;
    add(best);
    pass2.add(best);
    placed++;
  }
  // Ambiguous when a node left without an instance scores like one that got one.
  const leftOut = usable.filter((n) => (counts.get(n.name) ?? 0) < perNode && !pass2.has(n.name));
  if ([...pass2].some((b) => leftOut.some((n) => w.get(n.name) === w.get(b)))) ctx.ties.add(u.id);
  u.instances = counts;
  u.nodes = [...counts.keys()];
}

function promotionScore(config: CibConfig, ctx: Ctx, u: Unit, node: NodeView): number | undefined {
  const child = u.clone!.child;
  const raw = node.attrs[`master-${child.kind === 'primitive' ? child.id : child.members[0]!.id}`];
  let score: number | undefined = raw === undefined ? undefined : Number.parseInt(raw, 10);
  if (score !== undefined && !Number.isFinite(score)) score = undefined;
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'location' || c.rsc !== u.id || c.role !== 'Promoted') continue;
    let add = 0;
    if (c.node === node.name) add = c.score ?? 0;
    for (const r of c.rules ?? []) if (ruleMatches(r, node.attrs)) add = addScores(add, r.score);
    if (c.node === node.name || (c.rules ?? []).some((r) => ruleMatches(r, node.attrs))) score = addScores(score ?? 0, add);
  }
  return score;
}

/** Chooses which placed instances of a promotable clone are promoted. */
function choosePromoted(config: CibConfig, ctx: Ctx, u: Unit, opts: PlaceOptions): Set<string> {
  const m = u.clone!.meta ?? {};
  const promoted = new Set<string>();
  const target = u.prims[0]!.meta.targetRole;
  if (m.promotable !== true || target === 'Unpromoted' || opts.demoteAll) return promoted;
  const wasPromoted = new Set(u.prims[0]!.active.filter((a) => a.role === 'Promoted').map((a) => a.node));
  if (u.pinned) return new Set([...wasPromoted].filter((n) => u.instances!.has(n)));
  const candidates = [...u.instances!.keys()]
    .map((node) => ({ node, score: promotionScore(config, ctx, u, ctx.nodeByName.get(node)!) }))
    .filter((c): c is { node: string; score: number } => c.score !== undefined && c.score >= 0)
    .sort((a, b) => b.score - a.score || Number(wasPromoted.has(b.node)) - Number(wasPromoted.has(a.node)) || (a.node < b.node ? -1 : 1));
  const max = m.promotedMax ?? 1;
  for (const c of candidates) {
    if (promoted.size >= max) break;
    promoted.add(c.node);
  }
  return promoted;
}

function record(scores: Placement['scores'], id: string, w: Weights | undefined): void {
  if (w === undefined) return;
  scores[id] = Object.fromEntries(w);
}

function collect(config: CibConfig, ctx: Ctx, opts: PlaceOptions): Placement {
  const placement: Placement['placement'] = {};
  const scores: Placement['scores'] = {};
  for (const u of ctx.units.values()) {
    record(scores, u.id, u.final ?? u.base);
    if (u.kind === 'primitive') {
      placement[u.id] = (u.nodes ?? []).map((node) => ({ node, role: 'Started' as const }));
      continue;
    }
    const promoted = choosePromoted(config, ctx, u, opts);
    const promotable = u.clone!.meta?.promotable === true;
    for (const p of u.prims) {
      const list: { node: string; role: Exclude<Role, 'Stopped'> }[] = [];
      for (const [node, k] of u.instances ?? []) {
        for (let i = 0; i < k; i++) {
          const role = promotable ? (promoted.has(node) && i === 0 ? 'Promoted' : 'Unpromoted') : 'Started';
          list.push({ node, role });
        }
      }
      placement[p.info.primitive.id] = list;
      record(scores, p.info.primitive.id, u.final);
    }
  }
  return { placement, scores, ties: [...ctx.ties].sort() };
}
