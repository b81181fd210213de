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
import { INFINITY, addScores, type CibConfig, type CloneConfig, type LocationConstraint, type Role } from '../cib/model.js';
import { ruleMatches } from './rules.js';
import { canRunResources, type ClusterView, type NodeView, type PrimitiveState } from './state.js';

export type Weights = Map<string, number>;

type ColocRole = 'Started' | 'Unpromoted' | 'Promoted';

interface Coloc {
  id: string;
  dep: Unit;
  pri: Unit;
  score: number;
  /** with-rsc-role: only the primary's instances in this role count (a promotable primary). */
  priRole?: ColocRole;
  /** The resource the constraint names as primary (a group, not the member that stands for it). */
  priName: string;
  /** Pacemaker's variant order for it: clone 2, group 1, primitive 0. */
  priRank: number;
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
  /** Assigned a node, but may not start there (no-quorum-policy=freeze and not active). */
  frozenOut?: boolean;
  /** Clone node -> instances there that may not start (new ones, under freeze). */
  frozenNodes?: Map<string, number>;
  /** A clone's instances, in the order they were placed. */
  instanceList?: Instance[];
  /** A promotable clone's promoted instances per node, decided as soon as it is placed. */
  promoted?: Map<string, number>;
  /** A clone's final node scores (its instances' stickiness is never in them): the base of promotion. */
  promotionWeights?: Weights;
  /**
   * Its own scores (locations, stickiness, failures) before nodes that cannot run resources are
   * taken out: whether a node is allowed at all, as Pacemaker's allowed-node weights say, apart
   * from whether the node is available now.
   */
  allowed?: Weights;
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
  /**
   * Nothing that is stopped may start and nothing may be promoted (no-quorum-policy=freeze).
   * Like pacemaker, a resource that runs may still move or stop: only starts of resources (and
   * clone instances) not active anywhere are blocked.
   */
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
  freeze: boolean;
  config: CibConfig;
  opts: PlaceOptions;
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
    freeze: opts.freeze,
    config,
    opts,
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
  const link = (dep: Unit, pri: Unit, score: number, id: string, priRole?: ColocRole, priName = pri.id, priRank = pri.kind === 'clone' ? 2 : 0): void => {
    const c: Coloc = { id, dep, pri, score, priName, priRank, ...(priRole === undefined || priRole === 'Started' ? {} : { priRole }) };
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
  // Each unit reads only the locations that concern it: indexing them once keeps placement
  // linear in the number of constraints (5,000 resources, ~10,000 constraints).
  const locations = new Map<Unit, LocationConstraint[]>();
  const laterOf = new Map<string, string>();
  for (const top of config.resources) if (top.kind === 'group') for (const m of top.members.slice(1)) laterOf.set(m.id, top.id);
  const byRsc = new Map<string, LocationConstraint[]>();
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'location') continue;
    const list = byRsc.get(c.rsc) ?? [];
    list.push(c);
    byRsc.set(c.rsc, list);
    const target = ctx.asDependent.get(c.rsc);
    if (target !== undefined) {
      const own = locations.get(target) ?? [];
      own.push(c);
      locations.set(target, own);
    }
  }
  for (const u of ctx.units.values()) {
    const group = laterOf.get(u.id);
    const inherited = group === undefined ? [] : (byRsc.get(group) ?? []).filter((c) => ctx.asDependent.get(c.rsc) !== u);
    initBase(ctx, u, locations.get(u) ?? [], inherited, opts);
  }
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'colocation') continue;
    const dep = ctx.asDependent.get(c.rsc);
    const pri = ctx.asPrimary.get(c.withRsc);
    if (dep === undefined || pri === undefined) continue;
    const primary = c.score >= INFINITY ? pri.mandatory : pri.optional;
    // A role only narrows a colocation with a promotable clone; with anything else every
    // instance is Started, which is what an unqualified colocation means.
    const role = primary.clone?.meta?.promotable === true ? c.withRscRole : undefined;
    const named = config.resources.find((r) => r.id === c.withRsc);
    link(dep, primary, c.score, c.id, role, primary.kind === 'clone' ? primary.id : c.withRsc, primary.kind === 'clone' ? 2 : named?.kind === 'group' ? 1 : 0);
  }
  // Pacemaker applies a resource's colocations in its own order (cmp_primary_priority): primary
  // priority first, then clones before groups before primitives, promotable clones first, then
  // by the primary's name. It matters: each finite one is dropped if it would leave no node.
  const rank = (c: Coloc): [number, number, number] => [-c.pri.priority, -c.priRank, c.pri.clone?.meta?.promotable === true ? 0 : 1];
  for (const u of ctx.units.values()) {
    u.thisWith.sort((a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
      return a.priName < b.priName ? -1 : a.priName > b.priName ? 1 : 0;
    });
  }
  return ctx;
}

/**
 * `own`: the locations that bind this unit (a location on a group binds its first member; the
 * others follow through the group's internal colocations, as pacemaker applies the score once);
 * `inherited`: a group's locations, for its later members.
 */
function initBase(ctx: Ctx, u: Unit, own: readonly LocationConstraint[], inherited: readonly LocationConstraint[], opts: PlaceOptions): void {
  const allowed = new Set<string>();
  for (const c of inherited) {
    // Pacemaker hands a group's location to every member, but with its scores reset to 0 after
    // the first: later members gain nothing except, in an opt-in cluster, the right to run there.
    if (c.role === 'Promoted') continue;
    for (const n of ctx.view.nodes) {
      if (c.node === n.name || (c.rules ?? []).some((rule) => ruleMatches(rule, n.attrs))) allowed.add(n.name);
    }
  }
  for (const c of own) {
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
  u.allowed = new Map(u.base);
  for (const n of ctx.view.nodes) if (!canRunResources(n)) u.base.set(n.name, -INFINITY);
  const p = u.prims[0]!;
  const roleStopped = u.prims.some((x) => x.meta.targetRole === 'Stopped' && u.kind === 'clone') || p.meta.targetRole === 'Stopped';
  // Without quorum under no-quorum-policy=demote, promotables stay (demoted) and the rest stop.
  const promotable = u.clone?.meta?.promotable === true;
  // Active on an unclean node that will not be fenced (no quorum): its stop there can never be
  // confirmed, so it may not start anywhere else (Pacemaker's start waits for that stop forever).
  const stranded = u.kind === 'primitive' && p.active.some((a) => {
    const n = ctx.nodeByName.get(a.node)!;
    return n.unclean && !n.fence;
  });
  u.stopped = roleStopped || stranded || u.prims.some((x) => x.forceStop) || opts.stopAll || (opts.demoteAll && !promotable);
  u.pinned = u.prims.some((x) => x.blocked) || (opts.demoteAll && promotable);
  // A resource kept stopped by on-fail=stop is banned from every node (as Pacemaker bans it):
  // so resources colocated with it see that it will not run, rather than where it failed.
  if (u.prims.some((x) => x.forceStop)) for (const n of ctx.view.nodes) u.base.set(n.name, -INFINITY);
  // A pinned resource stays where it is (assignPrimitive), but its scores are left as they are:
  // what a resource blocked by a failure passes on to the resources it is colocated with is what
  // it would prefer, as in Pacemaker, not an INFINITY where it happens to be stuck. An unmanaged
  // one carries Pacemaker's INFINITY location where it runs (applyStickinessAndFailures).
}

function applyStickinessAndFailures(ctx: Ctx, u: Unit): void {
  for (const p of u.prims) {
    const live = p.active.filter((a) => ctx.nodeByName.get(a.node)!.online);
    // Stickiness holds a resource where it runs; only a clearly single location counts. A
    // clone's stickiness belongs to its instances (assignClone adds it to each on its own node),
    // never to the clone's scores: those rank promotion and are what colocations merge, and an
    // INFINITY stickiness there would drown every promotion score.
    if (p.meta.isManaged && u.kind === 'primitive' && live.length === 1 && p.seenOffline.length === 0) {
      for (const a of live) {
        const cur = u.base.get(a.node)!;
        if (ctx.symmetric || cur > -INFINITY) u.base.set(a.node, addScores(cur, p.meta.resourceStickiness));
      }
    }
    if (u.kind === 'primitive') for (const node of p.unmanagedOn) u.base.set(node, addScores(u.base.get(node)!, INFINITY));
    for (const [node, count] of p.failCount) {
      if (p.meta.migrationThreshold > 0 && count >= p.meta.migrationThreshold) u.base.set(node, -INFINITY);
    }
  }
}

function currentNode(ctx: Ctx, u: Unit): string | undefined {
  const live = u.prims[0]!.active.filter((a) => ctx.nodeByName.get(a.node)!.online);
  return live.length === 1 && u.prims[0]!.seenOffline.length === 0 ? live[0]!.node : undefined;
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
    mergeDependent(ctx, c.dep, w, c.score / INFINITY, new Set([u]), runsOn(ctx, u), u.kind === 'clone');
  }
  u.final = w;
  if (u.kind === 'clone') {
    u.promotionWeights = new Map(w);
    assignClone(ctx, u, w);
  } else assignPrimitive(ctx, u, w);
  u.assigning = false;
  for (const f of u.followers) assign(ctx, f);
}

function assignPrimitive(ctx: Ctx, u: Unit, w: Weights): void {
  if (u.pinned) {
    // Nothing may be done to it, so it stays where it runs on a live node, even where history on
    // a cleanly offline node leaves it no single current node (differential seed 1680). Active on
    // several, it counts as on the first, as Pacemaker's pe__current_node takes the first.
    const live = ctx.view.nodes.find((n) => n.online && u.prims[0]!.active.some((a) => a.node === n.name));
    u.nodes = live === undefined ? [] : [live.name];
  } else if (u.stopped) {
    u.nodes = [];
  } else {
    const best = bestNode(ctx, w, currentNode(ctx, u));
    u.nodes = best === undefined ? [] : [best];
    if (best !== undefined && isTie(ctx, w, best, new Set())) ctx.ties.add(u.id);
  }
  for (const n of u.nodes) ctx.load.set(n, ctx.load.get(n)! + 1);
  // Pacemaker assigns a node (and counts it) but its start stays unrunnable under freeze.
  if (ctx.freeze && u.prims[0]!.active.length === 0) u.frozenOut = true;
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

/** Nodes where a placed promotable clone has an instance in `role` (after promotion). */
function nodesInRole(u: Unit, role: 'Unpromoted' | 'Promoted'): Set<string> {
  const out = new Set<string>();
  for (const [node, count] of u.instances ?? []) {
    const promoted = u.promoted?.get(node) ?? 0;
    if (role === 'Promoted' ? promoted > 0 : count > promoted) out.add(node);
  }
  return out;
}

/** The dependent's side of a colocation: its scores follow where the primary was placed. */
function applyColocation(ctx: Ctx, w: Weights, c: Coloc): void {
  if (c.priRole !== undefined) {
    // With a role (Pacemaker's with-rsc-role): only nodes where an instance will be in that role
    // count. +INFINITY bans every other node (all of them when no instance has the role);
    // -INFINITY bans those nodes; a finite score is added there. Nothing else changes. Like any
    // optional colocation, a finite one that would leave nowhere to run is dropped (Pacemaker
    // keeps a resource on its only node beside the promoted instance it is kept away from by
    // -100: differential seed 1491).
    const where = nodesInRole(c.pri, c.priRole === 'Promoted' ? 'Promoted' : 'Unpromoted');
    const work: Weights = new Map(w);
    for (const [node, score] of work) {
      if (c.score >= INFINITY) {
        if (!where.has(node)) work.set(node, -INFINITY);
      } else if (where.has(node)) work.set(node, addScores(score, c.score));
    }
    if (Math.abs(c.score) >= INFINITY || available(ctx, work)) for (const [k, v] of work) w.set(k, v);
    return;
  }
  if (c.pri.kind === 'clone' && c.score > 0 && c.score < INFINITY) {
    applyFiniteCloneColocation(ctx, w, c);
    return;
  }
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
 * A finite positive colocation with a clone counts once per instance, as Pacemaker applies it to
 * each instance in turn: one placed on a node adds the score there; one that could not be placed
 * anywhere takes the score off every node (like a colocation with a resource that is not running).
 * Each step is dropped if it would leave nowhere to run. So a clone short of instances pushes its
 * dependents away a little, which decides whether a dependent that must also be elsewhere runs.
 */
function applyFiniteCloneColocation(ctx: Ctx, w: Weights, c: Coloc): void {
  const placed: string[] = [];
  for (const [node, k] of c.pri.instances ?? []) for (let i = 0; i < k; i++) placed.push(node);
  const missing = Math.max(0, cloneLimits(ctx, c.pri).max - placed.length);
  const steps: (string | undefined)[] = [...placed, ...Array.from({ length: missing }, () => undefined)];
  for (const node of steps) {
    const work: Weights = new Map(w);
    for (const [n, score] of work) {
      if (node === undefined) work.set(n, addScores(score, -c.score));
      else if (n === node) work.set(n, addScores(score, c.score));
    }
    if (available(ctx, work)) for (const [k, v] of work) w.set(k, v);
  }
}

/**
 * The primary's side: lean towards where a dependent (and its own dependents) want to be.
 * For a clone (pacemaker's pe_weights_positive) a dependent may only pull, never push away: a
 * node the merge would make negative keeps its score (0), or 1 if it was positive, so a clone
 * is not banned from a node just because one resource colocated with it cannot run there.
 */
/** Where a unit runs now and may stay: its current node, or its clone's healthy instances' nodes. */
function runsOn(ctx: Ctx, u: Unit): Set<string> {
  const usable = (node: string): boolean => canRunResources(ctx.nodeByName.get(node)!);
  if (u.kind === 'primitive') {
    const here = currentNode(ctx, u);
    return new Set(here === undefined || !usable(here) ? [] : [here]);
  }
  return new Set(u.prims[0]!.active.filter((a) => !a.failed && usable(a.node)).map((a) => a.node));
}

/**
 * `holds`: where the primary runs now (empty when it does not run). A score too small to survive
 * the factor still counts one point: Pacemaker gives that point the factor's sign, even where
 * the dependent's score is negative. sanode does the same on the nodes in `holds` and everywhere
 * for a primary not yet running, but on other nodes gives it the product's sign: a rounding
 * artefact may keep a running resource where it is, never pull it away. Otherwise, when the
 * dependent's stickiness moves with the primary, that point moves too and the primary follows it
 * back and forth on every transition (crm_simulate never settles on such a CIB).
 */
function mergeDependent(ctx: Ctx, dep: Unit, w: Weights, factor: number, visiting: Set<Unit>, holds: Set<string>, positiveOnly = false): void {
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
    if (add === 0 && score !== 0 && factor !== 0) add = holds.size === 0 || holds.has(node) ? Math.sign(factor) : Math.sign(factor * score);
    const merged = addScores(add, current);
    if (positiveOnly && merged < 0 && current >= 0) {
      if (current > 0) flattened.add(node);
      continue;
    }
    work.set(node, merged);
  }
  if (available(ctx, work)) {
    // Pacemaker passes on only the sign of the factor, not its size: a resource colocated with a
    // dependent counts in full (times its own colocation score), however weak the first link.
    for (const c of dep.withThis) mergeDependent(ctx, c.dep, work, (Math.sign(factor) * c.score) / INFINITY, visiting, holds, positiveOnly);
    for (const node of flattened) work.set(node, 1);
    for (const [k, v] of work) w.set(k, v);
  }
  visiting.delete(dep);
}

function cloneLimits(ctx: Ctx, u: Unit): { max: number; perNode: number } {
  const m = u.clone!.meta ?? {};
  // Every sanode clone is anonymous (globally-unique is not supported), and Pacemaker 2.1.5 runs an
  // anonymous clone at most once per node: it resets clone-node-max > 1 to 1 ("anonymous clones
  // support only one instance per node").
  return { max: m.cloneMax ?? ctx.view.nodes.length, perNode: Math.min(1, m.cloneNodeMax ?? 1) };
}

/** One clone instance: where it runs now (if anywhere) and where it was placed. */
interface Instance {
  current?: string;
  failed: boolean;
  promotedNow: boolean;
  node?: string;
  /** Some node's history belongs to this instance (running there, or known to be stopped). */
  seen: boolean;
}

/**
 * Whether a member's promotion attribute on a node counts for an instance (Pacemaker's
 * promotion_score_applies): always where the instance runs; where no instance runs, if the
 * resource's state there is known (a probe says it is stopped); anywhere for an instance no
 * history belongs to. Otherwise a running instance would be drawn by scores from nodes nobody
 * has looked at yet; and once every node has probed, a score on a node without an instance draws
 * every instance, as in Pacemaker.
 */
function promotionCounts(ctx: Ctx, p: PrimitiveState, inst: Instance, node: string): boolean {
  if (inst.current === node) return true;
  const activeHere = p.active.some((a) => a.node === node && ctx.nodeByName.get(node)!.online);
  if (!activeHere && p.known.includes(node)) return true;
  return !inst.seen;
}

/** The promotion attribute (`master-<primitive>`, summed over a cloned group) that counts for an instance on a node. */
function promotionAttr(ctx: Ctx, u: Unit, inst: Instance, node: NodeView): number | undefined {
  let sum: number | undefined;
  for (const p of u.prims) {
    if (!promotionCounts(ctx, p, inst, node.name)) continue;
    const raw = node.attrs[`master-${p.info.primitive.id}`];
    const value = raw === undefined ? Number.NaN : Number.parseInt(raw, 10);
    if (Number.isFinite(value)) sum = addScores(sum ?? 0, value);
  }
  return sum;
}

/**
 * Places a clone's instances as pacemaker does (pcmk_sched_instances.c): each instance has its
 * own scores — the clone's, plus stickiness on the node it runs on, plus (promotable clones) a
 * positive promotion attribute where it counts for that instance (its own node for one that
 * runs; any node for a new one). First each healthy running instance stays put if no node with
 * room scores better for it (and its node has fewer than clone-max / nodes); then the rest go,
 * one at a time, to their best node with room (at most clone-node-max per node).
 */
function assignClone(ctx: Ctx, u: Unit, w: Weights): void {
  const { max, perNode } = cloneLimits(ctx, u);
  const counts = new Map<string, number>();
  const instances: Instance[] = [];
  const add = (inst: Instance, node: string): void => {
    inst.node = node;
    counts.set(node, (counts.get(node) ?? 0) + 1);
    ctx.load.set(node, ctx.load.get(node)! + 1);
  };
  for (const n of ctx.view.nodes) {
    for (const a of u.prims[0]!.active) {
      if (a.node === n.name && n.online) instances.push({ current: a.node, failed: a.failed, promotedNow: a.role === 'Promoted', seen: true });
    }
  }
  u.instanceList = instances;
  const finish = (): void => {
    u.instances = counts;
    u.nodes = [...counts.keys()];
  };
  if (u.pinned || u.stopped) {
    // A stopped clone still keeps an instance that nothing may be done to (failed with
    // on-fail=block): it stays where it is, failed (differential seed 772).
    const blockedOn = new Set(u.prims.flatMap((p) => p.blockedOn));
    for (const inst of instances) if (u.pinned || blockedOn.has(inst.current!)) add(inst, inst.current!);
    finish();
    u.promoted = choosePromoted(ctx.config, ctx, u, ctx.opts);
    return;
  }
  // Pacemaker has clone-max instances, numbered as it reads the status node by node: a running
  // one beyond that is an orphan and stops, unless it is blocked (nothing may be done to it).
  const orphans = instances.splice(max);
  // The history of a node where it does not run goes to the first instance not yet running at
  // that point of the reading, so only the first new instance can own one: a node after the
  // last running instance (Pacemaker's find_anonymous_clone). The others have no history.
  const first = u.prims[0]!;
  const order = ctx.view.nodes.map((n) => n.name);
  const lastActive = Math.max(-1, ...instances.map((i) => order.indexOf(i.current!)));
  const firstNewSeen = first.known.some((n) => order.indexOf(n) > lastActive && !first.active.some((a) => a.node === n));
  const firstNew = instances.length;
  for (let i = firstNew; i < max; i++) instances.push({ failed: false, promotedNow: false, seen: i === firstNew && firstNewSeen });
  const cloneW = u.promotionWeights ?? w;
  const promotable = u.clone!.meta?.promotable === true;
  const sticky = new Map<string, number>();
  for (const p of u.prims) for (const a of p.active) if (p.meta.isManaged) sticky.set(a.node, (sticky.get(a.node) ?? 0) + p.meta.resourceStickiness);
  const scoreFor = (inst: Instance, node: NodeView): number => {
    let score = cloneW.get(node.name)!;
    // Where the clone itself scores below zero no instance may be, however sticky or promotable
    // it is there (Pacemaker checks the clone's own score first): a negative location on the
    // clone moves a running instance away.
    if (score < 0) return -INFINITY;
    if (inst.current === node.name && (ctx.symmetric || score > -INFINITY)) score = addScores(score, sticky.get(node.name) ?? 0);
    if (promotable) {
      const attr = promotionAttr(ctx, u, inst, node);
      if (attr !== undefined && attr > 0) score = addScores(score, attr);
    }
    return score;
  };
  const weightsFor = (inst: Instance): Weights => {
    const iw: Weights = new Map();
    for (const n of ctx.view.nodes) iw.set(n.name, canRunResources(n) && (counts.get(n.name) ?? 0) < perNode ? scoreFor(inst, n) : -INFINITY);
    // Each instance is placed like a primitive that carries the clone's colocations: resources
    // colocated with the clone weigh in on every instance, in full this time (the clone's own
    // scores only took their pull, never their push).
    const holds = new Set(inst.current === undefined ? [] : [inst.current]);
    for (const c of u.withThis) if (c.dep !== u && c.dep.nodes === undefined && c.priRole === undefined) mergeDependent(ctx, c.dep, iw, c.score / INFINITY, new Set([u]), holds);
    return iw;
  };
  const usableCount = ctx.view.nodes.filter((n) => canRunResources(n) && (ctx.symmetric || w.get(n.name)! > -INFINITY)).length;
  const loopMax = Math.max(1, Math.floor(max / Math.max(1, usableCount)));
  // The order pacemaker assigns instances in (pcmk__cmp_instance): one running where it may no
  // longer run goes last; then a higher promotion attribute (an instance's priority); then
  // running before new, on a node that can run resources, healthy before failed; then instance
  // number (running ones are numbered in node order).
  const nodeOrder = new Map(ctx.view.nodes.map((n, i) => [n.name, i]));
  // Allowed as Pacemaker's instance weights say before availability: an instance on a node
  // that is merely unavailable (standby) is not "disallowed" and keeps its place in the order.
  const disallowed = (i: Instance): boolean => i.current !== undefined && (u.allowed?.get(i.current) ?? 0) < 0;
  const priority = (i: Instance): number => {
    if (!promotable) return 0;
    let best = 0;
    for (const n of ctx.view.nodes) {
      if (!canRunResources(n)) continue;
      best = Math.max(best, promotionAttr(ctx, u, i, n) ?? 0);
    }
    return best;
  };
  const key = (i: Instance): number[] => [
    disallowed(i) ? 1 : 0,
    -priority(i),
    i.current === undefined ? 1 : 0,
    i.current !== undefined && !canRunResources(ctx.nodeByName.get(i.current)!) ? 1 : 0,
    i.failed ? 1 : 0,
    i.current === undefined ? ctx.view.nodes.length : nodeOrder.get(i.current)!,
  ];
  const keys = new Map(instances.map((i) => [i, key(i)]));
  instances.sort((a, b) => {
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    for (let k = 0; k < ka.length; k++) if (ka[k] !== kb[k]) return ka[k]! - kb[k]!;
    return 0;
  });
  const runningOn = new Set(instances.flatMap((i) => (i.current === undefined || i.failed ? [] : [i.current])));
  let placed = 0;
  // A blocked instance stays where it is, whatever the scores say, and takes its slot.
  const blockedOn = new Set(u.prims.flatMap((p) => p.blockedOn));
  for (const inst of instances) {
    if (placed >= max || inst.current === undefined || !blockedOn.has(inst.current)) continue;
    add(inst, inst.current);
    placed++;
  }
  for (const inst of instances) {
    if (placed >= max || inst.current === undefined || inst.failed) continue;
    if ((counts.get(inst.current) ?? 0) >= loopMax) continue;
    const iw = weightsFor(inst);
    const mine = iw.get(inst.current)!;
    if (mine < 0) continue;
    // Kept only when no node with room scores better for this instance. A node that already
    // runs an instance does not count: instances sharing a node run as one (see planTargets), so
    // moving there would only stop this one, and the next transition would start it again.
    if ([...iw].some(([node, v]) => v > mine && !runningOn.has(node))) continue;
    add(inst, inst.current);
    placed++;
  }
  for (const inst of orphans) {
    if (!blockedOn.has(inst.current!)) continue;
    add(inst, inst.current!);
    instances.push(inst);
  }
  const pass2: Instance[] = [];
  for (const inst of instances) {
    if (inst.node !== undefined || placed >= max) continue;
    const iw = weightsFor(inst);
    const best = bestNode(ctx, iw, inst.current);
    if (best === undefined) continue;
    add(inst, best);
    pass2.push(inst);
    placed++;
  }
  // Ambiguous when a node left without an instance scored like one that got a new one.
  const leftOut = ctx.view.nodes.filter((n) => canRunResources(n) && (counts.get(n.name) ?? 0) < perNode && !pass2.some((i) => i.node === n.name));
  if (pass2.some((i) => leftOut.some((n) => scoreFor(i, n) === scoreFor(i, ctx.nodeByName.get(i.node!)!) && scoreFor(i, n) >= 0))) ctx.ties.add(u.id);
  if (ctx.freeze) {
    // Instances that run may move; new instances may not start.
    u.frozenNodes = new Map();
    for (const inst of instances) if (inst.node !== undefined && inst.current === undefined) u.frozenNodes.set(inst.node, (u.frozenNodes.get(inst.node) ?? 0) + 1);
  }
  finish();
  // Promotion is part of placing a promotable clone: resources colocated with its promoted (or
  // unpromoted) instances are placed after it and need to know where those are.
  u.promoted = choosePromoted(ctx.config, ctx, u, ctx.opts);
}

/**
 * An instance's own promotion priority on a node (pacemaker's set_instance_priority): its
 * promotion attribute there, -1 when none counts, plus `role: 'Promoted'` locations on that node.
 * Negative means it may not be promoted there. The attribute counts for an instance that stays
 * where it runs, or a new one; one that moves to a node without history for the resource gets
 * none (pacemaker only trusts scores from nodes where it has probed the resource).
 */
function instancePriority(ctx: Ctx, config: CibConfig, u: Unit, inst: Instance, node: NodeView): number {
  const child = u.clone!.child;
  const ids = new Set([u.id, child.id, ...(child.kind === 'group' ? child.members.map((m) => m.id) : [])]);
  let total = promotionAttr(ctx, u, inst, node) ?? -1;
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'location' || c.role !== 'Promoted' || !ids.has(c.rsc)) continue;
    if (c.node === node.name) total = addScores(total, c.score ?? 0);
    for (const r of c.rules ?? []) if (ruleMatches(r, node.attrs)) total = addScores(total, r.score);
  }
  return total;
}

/**
 * Which placed instances of a promotable clone are promoted: node -> promoted instances there.
 * Pacemaker's order (pcmk_sched_promotable.c): an instance with a non-negative priority gets the
 * clone's own node score added (its locations and colocations, not the instances' stickiness), so
 * a location on the clone steers promotion too; then the highest total wins, then the instance
 * promoted now, then the node name. Up to promotedMax in all and promotedNodeMax per node.
 */
function choosePromoted(config: CibConfig, ctx: Ctx, u: Unit, opts: PlaceOptions): Map<string, number> {
  const m = u.clone!.meta ?? {};
  const promoted = new Map<string, number>();
  const target = u.prims[0]!.meta.targetRole;
  if (m.promotable !== true || target === 'Unpromoted' || opts.demoteAll) return promoted;
  const placedInstances = (u.instanceList ?? []).filter((i) => i.node !== undefined);
  // Nothing new is promoted where nothing may be done (pinned), nor in a clone told to stop,
  // which keeps only its blocked instances, in the role they have now.
  if (u.pinned || u.stopped) {
    for (const i of placedInstances) if (i.promotedNow) promoted.set(i.node!, (promoted.get(i.node!) ?? 0) + 1);
    return promoted;
  }
  const weights: Weights = new Map(u.promotionWeights ?? u.final ?? u.base);
  // Each instance that may be promoted adds its own priority to the clone's score on its node
  // first (Pacemaker's add_sort_index_to_node_weight); then resources colocated with the promoted
  // instance weigh in on where it is: one that must be with it pulls promotion to the nodes it
  // prefers, one that must not be pushes it away, but never below zero (Pacemaker merges them
  // non-negatively: a positive node that would go negative keeps 1 point, a zero one stays 0).
  const owns = placedInstances.map((inst) => ({ inst, own: instancePriority(ctx, config, u, inst, ctx.nodeByName.get(inst.node!)!) }));
  for (const { inst, own } of owns) if (own >= 0) weights.set(inst.node!, addScores(weights.get(inst.node!)!, own));
  const promotedNow = new Set((u.instanceList ?? []).filter((i) => i.promotedNow && i.current !== undefined).map((i) => i.current!));
  for (const c of u.withThis) if (c.priRole === 'Promoted' && c.dep !== u) mergeDependent(ctx, c.dep, weights, c.score / INFINITY, new Set([u]), promotedNow, true);
  const candidates: { node: string; score: number; current: boolean }[] = [];
  for (const { inst, own } of owns) {
    if (own < 0) continue;
    candidates.push({ node: inst.node!, score: weights.get(inst.node!)!, current: inst.promotedNow });
  }
  candidates.sort((a, b) => b.score - a.score || Number(b.current) - Number(a.current) || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const max = m.promotedMax ?? 1;
  const perNode = m.promotedNodeMax ?? 1;
  let count = 0;
  for (const c of candidates) {
    if (count >= max) break;
    if (c.score < 0) continue;
    if ((promoted.get(c.node) ?? 0) >= perNode) continue;
    // Pacemaker: "Clone instance cannot be promoted without quorum" under freeze.
    if (ctx.freeze && !c.current) continue;
    promoted.set(c.node, (promoted.get(c.node) ?? 0) + 1);
    count++;
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
      placement[u.id] = u.frozenOut === true ? [] : (u.nodes ?? []).map((node) => ({ node, role: 'Started' as const }));
      continue;
    }
    for (const [node, n] of u.frozenNodes ?? []) {
      const k = u.instances!.get(node)! - n;
      if (k > 0) u.instances!.set(node, k);
      else u.instances!.delete(node);
      for (const inst of u.instanceList ?? []) if (inst.node === node && inst.current === undefined) delete inst.node;
    }
    const promoted = u.promoted ?? new Map<string, number>();
    const promotable = u.clone!.meta?.promotable === true;
    for (const p of u.prims) {
      const list: { node: string; role: Exclude<Role, 'Stopped'> }[] = [];
      for (const [node, k] of u.instances ?? []) {
        for (let i = 0; i < k; i++) {
          const role = promotable ? (i < (promoted.get(node) ?? 0) ? 'Promoted' : 'Unpromoted') : 'Started';
          list.push({ node, role });
        }
      }
      placement[p.info.primitive.id] = list;
      record(scores, p.info.primitive.id, u.final);
    }
  }
  return { placement, scores, ties: [...ctx.ties].sort() };
}
