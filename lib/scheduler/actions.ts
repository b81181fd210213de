/**
 * Turns (current state, target placement) into actions with dependencies, then orders them.
 *
 * Safety first: a primitive is stopped everywhere (or its node fenced) before it starts anywhere,
 * so executing the list in order never runs it twice. Groups start in member order and stop in
 * reverse; order constraints add edges (and their inverse for stops when symmetrical).
 */
import type { CibConfig, OpConfig, OrderAction, Role } from '../cib/model.js';
import type { ClusterView, PrimitiveState } from './state.js';

export type ActionKind = 'stop' | 'start' | 'promote' | 'demote' | 'monitor' | 'fence';

export interface Action {
  /** Stable key, like pacemaker's: `rsc_start_0@node`, `rsc_monitor_10000@node`, `fence@node`. */
  id: string;
  kind: ActionKind;
  node: string;
  rsc?: string;
  intervalMs?: number;
  timeoutMs?: number;
  /** Ids of actions that must complete first. */
  deps: string[];
}

interface Builder {
  actions: Map<string, Action>;
  byRsc: Map<string, Action[]>;
}

function add(b: Builder, a: Omit<Action, 'id' | 'deps'>): Action {
  const id = a.kind === 'fence' ? `fence@${a.node}` : `${a.rsc}_${a.kind}_${a.intervalMs ?? 0}@${a.node}`;
  const existing = b.actions.get(id);
  if (existing !== undefined) return existing;
  const action: Action = { ...a, id, deps: [] };
  b.actions.set(id, action);
  if (a.rsc !== undefined) {
    const list = b.byRsc.get(a.rsc) ?? [];
    list.push(action);
    b.byRsc.set(a.rsc, list);
  }
  return action;
}

function dep(after: Action | undefined, before: Action | undefined): void {
  if (after === undefined || before === undefined || after === before) return;
  if (!after.deps.includes(before.id)) after.deps.push(before.id);
}

function opTimeout(p: PrimitiveState, name: string): number {
  return p.info.primitive.ops?.find((o) => o.name === name && o.intervalMs === 0)?.timeoutMs ?? p.opDefaults.timeoutMs ?? 20_000;
}

function monitorFor(p: PrimitiveState, role: Exclude<Role, 'Stopped'>): OpConfig | undefined {
  return p.info.primitive.ops?.find(
    (o) => o.name === 'monitor' && o.intervalMs > 0 && (role === 'Promoted' ? o.role === 'Promoted' : o.role !== 'Promoted'),
  );
}

type Target = Map<string, Exclude<Role, 'Stopped'>>;

/** Which primitives must restart in place because something they depend on restarts. */
export interface Plan {
  target: Map<string, Target>;
  restart: Set<string>;
  /** Left exactly as they are (a group member whose stop waits for a blocked one after it). */
  hold: Set<string>;
}

export function buildActions(config: CibConfig, view: ClusterView, plan: Plan): Action[] {
  const b: Builder = { actions: new Map(), byRsc: new Map() };
  const fences = new Map<string, Action>();
  for (const n of view.nodes) if (n.fence) fences.set(n.name, add(b, { kind: 'fence', node: n.name }));
  const nodeOnline = new Map(view.nodes.map((n) => [n.name, n.online && !n.fence]));
  for (const p of view.primitives.values()) {
    if (p.blocked || plan.hold.has(p.info.primitive.id)) continue;
    primitiveActions(b, p, plan.target.get(p.info.primitive.id) ?? new Map(), plan.restart.has(p.info.primitive.id), nodeOnline, fences);
  }
  orderGroups(b, config);
  orderConstraints(b, config);
  return topoSort([...b.actions.values()]);
}

function primitiveActions(
  b: Builder,
  p: PrimitiveState,
  target: Target,
  restart: boolean,
  nodeOnline: Map<string, boolean>,
  fences: Map<string, Action>,
): void {
  const id = p.info.primitive.id;
  const stops: Action[] = [];
  const starts: Action[] = [];
  const fencedHere: Action[] = [];
  const current = new Map(p.active.map((a) => [a.node, a]));
  // A blocked clone instance is left exactly as it is; its siblings elsewhere are not.
  const untouchable = new Set(p.blockedOn);
  for (const [node, cur] of current) {
    if (untouchable.has(node)) continue;
    const tgt = target.get(node);
    const fence = fences.get(node);
    if (fence !== undefined) {
      fencedHere.push(fence); // fencing stops it
      continue;
    }
    if (!nodeOnline.get(node)) continue;
    if (tgt !== undefined && !cur.failed && !restart) {
      roleChange(b, p, node, cur.role, tgt);
      continue;
    }
    let demote: Action | undefined;
    if (cur.role === 'Promoted' && !cur.failed) demote = add(b, { kind: 'demote', rsc: id, node, timeoutMs: opTimeout(p, 'demote') });
    const stop = add(b, { kind: 'stop', rsc: id, node, timeoutMs: opTimeout(p, 'stop') });
    dep(stop, demote);
    stops.push(stop);
  }
  for (const [node, role] of target) {
    if (untouchable.has(node)) continue;
    const cur = current.get(node);
    const kept = cur !== undefined && !cur.failed && !restart && nodeOnline.get(node) === true;
    if (kept) continue;
    const start = add(b, { kind: 'start', rsc: id, node, timeoutMs: opTimeout(p, 'start') });
    starts.push(start);
    let last = start;
    if (role === 'Promoted') {
      const promote = add(b, { kind: 'promote', rsc: id, node, timeoutMs: opTimeout(p, 'promote') });
      dep(promote, start);
      last = promote;
    }
    addMonitor(b, p, node, role, last);
  }
  // A primitive (not a clone instance) must be gone everywhere before it starts anywhere.
  const isClone = p.info.clone !== undefined;
  for (const s of starts) {
    for (const stop of stops) if (!isClone || stop.node === s.node) dep(s, stop);
    for (const f of fencedHere) dep(s, f);
  }
}

function roleChange(b: Builder, p: PrimitiveState, node: string, from: Exclude<Role, 'Stopped'>, to: Exclude<Role, 'Stopped'>): void {
  const id = p.info.primitive.id;
  if (from === 'Promoted' && to !== 'Promoted') {
    const demote = add(b, { kind: 'demote', rsc: id, node, timeoutMs: opTimeout(p, 'demote') });
    addMonitor(b, p, node, to, demote);
  } else if (from !== 'Promoted' && to === 'Promoted') {
    const promote = add(b, { kind: 'promote', rsc: id, node, timeoutMs: opTimeout(p, 'promote') });
    addMonitor(b, p, node, to, promote);
  }
}

function addMonitor(b: Builder, p: PrimitiveState, node: string, role: Exclude<Role, 'Stopped'>, after: Action): void {
  const op = monitorFor(p, role);
  if (op === undefined) return;
  const m = add(b, { kind: 'monitor', rsc: p.info.primitive.id, node, intervalMs: op.intervalMs, timeoutMs: op.timeoutMs });
  dep(m, after);
}

function actionsOf(b: Builder, rsc: string, kind: ActionKind): Action[] {
  return (b.byRsc.get(rsc) ?? []).filter((a) => a.kind === kind);
}

/** Primitive ids a constraint's resource stands for, in group order. */
export function membersOf(config: CibConfig, rsc: string): string[] {
  for (const r of config.resources) {
    if (r.id === rsc) {
      if (r.kind === 'primitive') return [r.id];
      if (r.kind === 'group') return r.members.map((m) => m.id);
      return r.child.kind === 'primitive' ? [r.child.id] : r.child.members.map((m) => m.id);
    }
    if (r.kind === 'group' && r.members.some((m) => m.id === rsc)) return [rsc];
  }
  return [rsc];
}

function orderGroups(b: Builder, config: CibConfig): void {
  const groups = config.resources.flatMap((r) => (r.kind === 'group' ? [r] : r.kind === 'clone' && r.child.kind === 'group' ? [r.child] : []));
  for (const g of groups) {
    for (let i = 1; i < g.members.length; i++) {
      const prev = g.members[i - 1]!.id;
      const next = g.members[i]!.id;
      for (const s of actionsOf(b, next, 'start')) for (const f of actionsOf(b, prev, 'start')) dep(s, f);
      for (const s of actionsOf(b, prev, 'stop')) for (const f of actionsOf(b, next, 'stop')) dep(s, f);
    }
  }
}

const INVERSE: Record<OrderAction, OrderAction> = { start: 'stop', stop: 'start', promote: 'demote', demote: 'promote' };

function orderConstraints(b: Builder, config: CibConfig): void {
  for (const c of config.constraints ?? []) {
    if (c.kind !== 'order') continue;
    const firstAction = c.firstAction ?? 'start';
    const thenAction = c.thenAction ?? firstAction;
    const firsts = membersOf(config, c.first);
    const thens = membersOf(config, c.then);
    // "first" is done when its last member is; "then" begins with its first member.
    const firstDone = firstAction === 'start' || firstAction === 'promote' ? firsts.slice(-1) : firsts.slice(0, 1);
    const thenBegins = thenAction === 'start' || thenAction === 'promote' ? thens.slice(0, 1) : thens.slice(-1);
    link(b, firstDone, firstAction, thenBegins, thenAction);
    if (c.symmetrical ?? true) {
      const invFirst = INVERSE[firstAction];
      const invThen = INVERSE[thenAction];
      link(b, invThen === 'stop' || invThen === 'demote' ? thens.slice(0, 1) : thens.slice(-1), invThen, invFirst === 'stop' || invFirst === 'demote' ? firsts.slice(-1) : firsts.slice(0, 1), invFirst);
    }
  }
}

function link(b: Builder, befores: string[], beforeKind: ActionKind, afters: string[], afterKind: ActionKind): void {
  for (const x of afters) {
    for (const a of actionsOf(b, x, afterKind)) {
      for (const y of befores) for (const f of actionsOf(b, y, beforeKind)) dep(a, f);
    }
  }
}

/** Kahn's algorithm; among ready actions the earliest created goes first, so output is stable. */
function topoSort(actions: Action[]): Action[] {
  const index = new Map(actions.map((a, i) => [a.id, i]));
  for (const a of actions) a.deps = a.deps.filter((d) => index.has(d)).sort((x, y) => index.get(x)! - index.get(y)!);
  const remaining = new Map(actions.map((a) => [a.id, a.deps.length]));
  const dependents = new Map<string, string[]>();
  for (const a of actions) for (const d of a.deps) dependents.set(d, [...(dependents.get(d) ?? []), a.id]);
  const ready = actions.filter((a) => a.deps.length === 0).map((a) => index.get(a.id)!);
  const out: Action[] = [];
  while (ready.length > 0) {
    ready.sort((x, y) => x - y);
    const i = ready.shift()!;
    const a = actions[i]!;
    out.push(a);
    for (const d of dependents.get(a.id) ?? []) {
      const left = remaining.get(d)! - 1;
      remaining.set(d, left);
      if (left === 0) ready.push(index.get(d)!);
    }
  }
  if (out.length !== actions.length) {
    // Validation rejects mandatory order cycles; optional ones could still meet here. Keep every
    // action, and append the cyclic rest in creation order rather than lose any.
    const seen = new Set(out.map((a) => a.id));
    for (const a of actions) if (!seen.has(a.id)) out.push(a);
  }
  return out;
}
