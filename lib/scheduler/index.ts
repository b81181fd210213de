/**
 * The scheduler: a pure function from the CIB and the quorum state to a target placement and the
 * ordered actions that reach it (pacemaker-schedulerd's job, with pacemaker's meaning for scores,
 * groups, clones, constraints, stickiness, failures and quorum policy).
 *
 * Takes: a Cib (config + status) and { quorate, nowMs }; nowMs only decides which failures have
 * expired (failure-timeout).
 * Emits: placement (primitive id -> nodes and roles), actions in an executable order, each with
 * the ids of the actions it waits for, and the node scores behind every choice.
 * Must never: read the clock, do I/O, use randomness, or mutate the CIB it is given; nor emit a
 * start of a primitive that does not wait for its stops (and fences) elsewhere.
 */
import { listPrimitives, type Cib, type CibConfig, type Role } from '../cib/model.js';
import { buildActions, membersOf, type Action, type Plan } from './actions.js';
import { place, type Placement, type PlaceOptions } from './assign.js';
import { readCluster, type ClusterView } from './state.js';

export type { Action, ActionKind } from './actions.js';

export interface ScheduleInput {
  quorate: boolean;
  nowMs: number;
}

export interface ScheduleResult {
  placement: Placement['placement'];
  actions: Action[];
  scores: Placement['scores'];
  /** Nodes that will be fenced in this transition. */
  fenced: string[];
  /** Resources placed by a tie-break among equally scored nodes (see Placement.ties). */
  ties: string[];
}

export function schedule(cib: Cib, input: ScheduleInput): ScheduleResult {
  const config = cib.config;
  const view = readCluster(cib, listPrimitives(config), input.nowMs);
  const opts = quorumOptions(config, view, input.quorate);
  const placed = place(config, view, opts);
  const plan = planTargets(config, view, placed);
  const actions = buildActions(config, view, plan);
  const placement: Placement['placement'] = {};
  for (const [id, target] of plan.target) placement[id] = [...target].map(([node, role]) => ({ node, role }));
  return { placement, actions, scores: placed.scores, fenced: view.nodes.filter((n) => n.fence).map((n) => n.name), ties: placed.ties };
}

function quorumOptions(config: CibConfig, view: ClusterView, quorate: boolean): PlaceOptions {
  const policy = config.properties?.noQuorumPolicy ?? 'stop';
  if (quorate || policy === 'ignore') return { stopAll: false, freeze: false, demoteAll: false };
  // Without quorum a partition may not shoot the others: the majority will deal with us.
  for (const n of view.nodes) n.fence = false;
  return { stopAll: policy === 'stop', freeze: policy === 'freeze', demoteAll: policy === 'demote' };
}

type Target = Map<string, Exclude<Role, 'Stopped'>>;

/**
 * Applies what orders mean for placement: a Mandatory "then" cannot run unless its "first" runs,
 * and restarts when its "first" stops or restarts. Group members are ordered the same way.
 */
function planTargets(config: CibConfig, view: ClusterView, placed: Placement): Plan {
  const target = new Map<string, Target>();
  for (const [id, list] of Object.entries(placed.placement)) {
    // A primitive runs at most once per node (its status and actions are per node), so instances
    // that share a node (clone-node-max > 1) run as one, promoted if any of them is.
    const t: Target = new Map();
    for (const e of list) if (t.get(e.node) !== 'Promoted') t.set(e.node, e.role);
    target.set(id, t);
  }
  // A group stops from its last member down, each stop waiting for the one after it: behind a
  // blocked (or unmanaged) member that stop never comes, so the members before it on its node
  // keep running where they are, whatever placement or orders want, and a failed one is not
  // recovered either (as Pacemaker's stops stay unrunnable). They are held: no action at all.
  const held = new Set<string>();
  // Resources whose start cannot run (Pacemaker's unrunnable start) while they keep running:
  // held where placement did not want them, or pinned behind a "first" that cannot run. What is
  // ordered after them cannot start either.
  const startBlocked = new Set<string>();
  for (const r of config.resources) {
    if (r.kind !== 'group') continue;
    r.members.forEach((m, i) => {
      const p = view.primitives.get(m.id)!;
      if (!p.blocked) return;
      for (const a of p.active) {
        if (!(view.nodes.find((n) => n.name === a.node)?.online ?? false)) continue;
        for (const earlier of r.members.slice(0, i)) {
          const q = view.primitives.get(earlier.id)!;
          const here = q.active.find((x) => x.node === a.node);
          if (here === undefined || q.blocked) continue;
          if (!(target.get(earlier.id)?.has(a.node) ?? false)) startBlocked.add(earlier.id);
          target.set(earlier.id, new Map([[a.node, here.role]]));
          held.add(earlier.id);
        }
      }
    });
  }
  const chains = mandatoryChains(config);
  const pinned = (id: string): boolean => (view.primitives.get(id)?.blocked ?? false) || held.has(id);
  // A failed resource that may not be touched cannot (re)start, so nothing may follow it.
  const stuck = (id: string): boolean => {
    const p = view.primitives.get(id);
    return p !== undefined && ((p.blocked && p.active.some((a) => a.failed)) || p.blockedOn.length > 0);
  };
  // Without its inverse (symmetrical=false) a Mandatory order only makes the start of "then"
  // unrunnable while "first" cannot run (Pacemaker's asymmetrical ordering): what already runs
  // healthy where placement keeps it needs no start, so it stays.
  const runsHealthy = (id: string, node: string): boolean => {
    const a = view.primitives.get(id)?.active.find((x) => x.node === node);
    return a !== undefined && !a.failed && (view.nodes.find((n) => n.name === node)?.online ?? false);
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const { firsts, thens, interleave, firstPromoted, symmetrical } of chains) {
      const firstRuns = firsts.every((f) => (target.get(f)?.size ?? 0) > 0 && !stuck(f) && !startBlocked.has(f) && (!firstPromoted || [...target.get(f)!.values()].includes('Promoted')));
      if (firstRuns && interleave) {
        // An interleaved instance waits only for the other clone's instance on its own node.
        for (const t of thens) {
          const tgt = target.get(t);
          if (tgt === undefined || pinned(t)) continue;
          for (const node of [...tgt.keys()]) {
            if (firsts.every((f) => target.get(f)!.has(node)) || (!symmetrical && runsHealthy(t, node))) continue;
            tgt.delete(node);
            changed = true;
          }
        }
      }
      if (firstRuns) continue;
      for (const t of thens) {
        const tgt = target.get(t);
        if (tgt === undefined || tgt.size === 0) continue;
        if (pinned(t)) {
          if (!startBlocked.has(t) && (symmetrical || [...tgt.keys()].some((node) => !runsHealthy(t, node)))) {
            startBlocked.add(t);
            changed = true;
          }
          continue;
        }
        for (const node of [...tgt.keys()]) {
          if (!symmetrical && runsHealthy(t, node)) continue;
          tgt.delete(node);
          changed = true;
        }
      }
    }
  }
  const restart = new Set<string>();
  const disturbed = (id: string): boolean => {
    const p = view.primitives.get(id);
    if (p === undefined || p.blocked || held.has(id)) return false;
    const tgt = target.get(id) ?? new Map();
    // A blocked instance is left alone: it neither stops nor restarts anything after it.
    return p.active.some((a) => !p.blockedOn.includes(a.node) && (a.failed || !tgt.has(a.node) || restart.has(id)));
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const { firsts, thens, symmetrical } of chains) {
      // Only a symmetrical order restarts "then" with "first"; an asymmetrical one leaves a
      // running "then" alone (its start is not needed).
      if (!symmetrical || !firsts.some(disturbed)) continue;
      for (const t of thens) {
        if (restart.has(t) || pinned(t)) continue;
        restart.add(t);
        changed = true;
      }
    }
  }
  return { target, restart, hold: held };
}

interface Chain {
  firsts: string[];
  thens: string[];
  /** Both are clones and "then" interleaves: instances pair up per node. */
  interleave: boolean;
  /** "promote first then start then": then needs a promoted instance of first, not just one. */
  firstPromoted?: boolean;
  /** With its inverse (the default): "then" also stops and restarts with "first". */
  symmetrical: boolean;
}

/** Mandatory start orders as (firsts, thens) primitive sets, including group-internal ones. */
function mandatoryChains(config: CibConfig): Chain[] {
  const chains: Chain[] = [];
  const clones = new Map(config.resources.flatMap((r) => (r.kind === 'clone' ? [[r.id, r] as const] : [])));
  for (const r of config.resources) {
    const g = r.kind === 'group' ? r : r.kind === 'clone' && r.child.kind === 'group' ? r.child : undefined;
    if (g === undefined) continue;
    // Members of a cloned group pair up per node, like an interleaved clone.
    const perNode = r.kind === 'clone';
    for (let i = 1; i < g.members.length; i++) chains.push({ firsts: [g.members[i - 1]!.id], thens: [g.members[i]!.id], interleave: perNode, symmetrical: true });
  }
  // Pacemaker keeps only the first ordering between the same two actions (the flags of any two
  // share "optional", so order_actions drops the later one as a duplicate): an Optional order
  // written before a Mandatory one for the same pair leaves the pair optional.
  const seen = new Set<string>();
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'order') continue;
    const pair = `${c.first}\u0000${c.firstAction ?? 'start'}\u0000${c.then}\u0000${c.thenAction ?? c.firstAction ?? 'start'}`;
    if (seen.has(pair)) continue;
    seen.add(pair);
    if ((c.orderKind ?? 'Mandatory') !== 'Mandatory') continue;
    const firstAction = c.firstAction ?? 'start';
    if ((firstAction !== 'start' && firstAction !== 'promote') || (c.thenAction ?? firstAction) !== 'start') continue;
    const interleave = clones.has(c.first) && clones.get(c.then)?.meta?.interleave === true;
    const firstPromoted = firstAction === 'promote' && clones.get(c.first)?.meta?.promotable === true;
    chains.push({ firsts: membersOf(config, c.first), thens: membersOf(config, c.then), interleave, symmetrical: c.symmetrical ?? true, ...(firstPromoted ? { firstPromoted } : {}) });
  }
  return chains;
}
