/**
 * Seeded random scenarios for differential testing against crm_simulate. One seed gives one
 * scenario on every machine (our own PRNG; never Math.random).
 */
import {
  INFINITY,
  type Cib,
  type CloneConfig,
  type Constraint,
  type NodeStatus,
  type OnFail,
  type OpConfig,
  type OpRecord,
  type PrimitiveConfig,
  type ResourceConfig,
  type ResourceStatus,
  listPrimitives,
} from '../../lib/cib/model.js';
import { expandColocationSets, expandOrderSets, type ResourceSet } from '../../lib/cib/sets.js';

/** mulberry32: small, fast, and enough to pick scenario features. */
export class Rand {
  private state: number;
  constructor(seed: number) {
    this.state = (seed * 0x9e3779b9) >>> 0;
    for (let i = 0; i < 4; i++) this.u32();
  }
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(min: number, max: number): number {
    return min + (this.u32() % (max - min + 1));
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

/**
 * A constraint written with resource sets. The scenario's CIB holds its pairwise expansion
 * (`lib/cib/sets.ts`, what the importer produces); Pacemaker is given the sets themselves, so the
 * differential test also checks that the expansion means what Pacemaker means.
 */
export interface SetConstraint {
  kind: 'colocation' | 'order';
  id: string;
  score?: number;
  orderKind?: 'Mandatory' | 'Optional';
  symmetrical?: boolean;
  sets: ResourceSet[];
}

/** Features a scenario exercises, for agreement per feature (a scenario can have several). */
export type Feature = 'sets' | 'op-defaults' | 'offline-history' | 'node-order' | 'inf-stickiness' | 'role-colocation' | 'role-order' | 'promoted-max';

/**
 * The scenario's level: the most demanding kind of resource or constraint it has. Every level
 * includes what the ones before it have.
 */
export type Level = 'basic' | 'clones' | 'promotable' | 'roles';
export const LEVELS: readonly Level[] = ['basic', 'clones', 'promotable', 'roles'];

export interface Scenario {
  seed: number;
  cib: Cib;
  quorate: boolean;
  nowMs: number;
  sets: SetConstraint[];
  level: Level;
  features: Feature[];
}

/** 2023-11-14T22:13:20Z: whole seconds, since pacemaker keeps times in seconds. */
export const SCENARIO_NOW_MS = 1_700_000_000_000;

const SCORES = [-INFINITY, -200, -50, 0, 50, 100, 300, INFINITY];

export function generateScenario(seed: number): Scenario {
  const r = new Rand(seed);
  const nowMs = SCENARIO_NOW_MS;
  const features = new Set<Feature>();
  const nodeCount = r.int(2, 5);
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({
    id: String(i + 1),
    name: `n${i + 1}`,
    attributes: { rack: r.pick(['a', 'b']), ping: String(r.int(0, 3)) },
    ...(r.chance(0.08) ? { standby: true } : {}),
  }));
  if (nodeCount > 2 && r.chance(0.25)) {
    // Declared in another order than their names sort in: tie-breaks by name must not follow
    // the declaration order, nor the other way round.
    for (let i = nodes.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [nodes[i], nodes[j]] = [nodes[j]!, nodes[i]!];
    }
    if (nodes.some((n, i) => n.name !== `n${i + 1}`)) features.add('node-order');
  }
  const opDefaults = r.chance(0.12) ? { onFail: r.pick(['stop', 'block', 'ignore', 'restart'] as const), timeoutMs: 30_000 } : undefined;
  if (opDefaults !== undefined) features.add('op-defaults');
  const stonithEnabled = r.chance(0.4);
  const statusNodes: Record<string, NodeStatus> = {};
  for (const n of nodes) {
    const roll = r.u32() % 100;
    const state = roll < 8 ? 'offline' : roll < 13 ? 'unclean' : 'online';
    statusNodes[n.name] = { state, resources: {}, ...(state === 'online' && r.chance(0.06) ? { standby: true } : {}) };
  }
  // Keep at least one node online so most scenarios place something.
  statusNodes['n1'] = { ...statusNodes['n1']!, state: 'online' };

  const resources: ResourceConfig[] = [];
  const topCount = r.int(1, 6);
  let serial = 0;
  const prim = (id: string): PrimitiveConfig => {
    const onFail: OnFail = r.pick(['restart', 'restart', 'restart', 'stop', 'block', 'ignore', 'standby', 'fence']);
    // With op defaults, an op without its own on-fail takes theirs.
    const ops: OpConfig[] = [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, ...(onFail === 'restart' && (opDefaults === undefined || r.chance(0.5)) ? {} : { onFail }) }];
    const meta: PrimitiveConfig['meta'] = {};
    if (r.chance(0.15)) meta.resourceStickiness = r.pick([0, 50, 200, INFINITY]);
    if (r.chance(0.05)) meta.targetRole = 'Stopped';
    if (r.chance(0.03)) meta.isManaged = false;
    if (r.chance(0.15)) meta.priority = r.int(1, 10);
    if (r.chance(0.15)) meta.migrationThreshold = r.int(1, 3);
    if (r.chance(0.06)) meta.failureTimeoutMs = r.pick([60, 300]) * 1000;
    return { kind: 'primitive', id, agent: { class: 'ocf', provider: 'pacemaker', type: 'Dummy' }, ops, ...(Object.keys(meta).length > 0 ? { meta } : {}) };
  };
  for (let i = 0; i < topCount; i++) {
    const roll = r.u32() % 100;
    if (roll < 60) resources.push(prim(`r${++serial}`));
    else if (roll < 80) {
      const id = `g${++serial}`;
      const members = Array.from({ length: r.int(2, 3) }, (_, k) => prim(`${id}m${k + 1}`));
      resources.push({ kind: 'group', id, members });
    } else {
      const id = `c${++serial}`;
      const promotable = r.chance(0.35);
      const child = prim(`${id}p`);
      if (promotable) {
        child.ops = [
          { name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, role: 'Unpromoted' },
          { name: 'monitor', intervalMs: 11_000, timeoutMs: 20_000, role: 'Promoted' },
        ];
        delete child.meta;
      }
      const meta: CloneConfig['meta'] = {};
      if (r.chance(0.5)) meta.cloneMax = r.int(1, nodeCount);
      if (r.chance(0.15)) meta.cloneNodeMax = 2;
      if (promotable) {
        meta.promotable = true;
        if (r.chance(0.3)) meta.promotedMax = r.int(1, 3);
        if ((meta.promotedMax ?? 1) > 1) features.add('promoted-max');
        if (r.chance(0.25)) {
          meta.promotedNodeMax = 2;
          features.add('promoted-max');
        }
        if (r.chance(0.06)) meta.targetRole = 'Unpromoted';
      }
      if (r.chance(0.35)) meta.interleave = true;
      resources.push({ kind: 'clone', id, child, ...(Object.keys(meta).length > 0 ? { meta } : {}) });
    }
  }

  const tops = resources.map((x) => x.id);
  const constraints: Constraint[] = [];
  let cid = 0;
  for (const top of resources) {
    if (r.chance(0.45)) {
      constraints.push({ kind: 'location', id: `loc${++cid}`, rsc: top.id, node: r.pick(nodes).name, score: r.pick(SCORES) });
    }
    if (r.chance(0.15)) {
      const attr = r.pick(['rack', 'ping', '#uname']);
      const expr =
        attr === 'ping'
          ? { attribute: 'ping', operation: r.pick(['gt', 'lte'] as const), value: String(r.int(0, 2)), type: 'integer' as const }
          : attr === 'rack'
            ? { attribute: 'rack', operation: r.pick(['eq', 'ne'] as const), value: r.pick(['a', 'b']) }
            : { attribute: '#uname', operation: 'eq' as const, value: r.pick(nodes).name };
      constraints.push({ kind: 'location', id: `rule${++cid}`, rsc: top.id, rules: [{ score: r.pick(SCORES), expressions: [expr] }] });
    }
    if (top.kind === 'clone' && top.meta?.promotable === true && r.chance(0.25)) {
      constraints.push({ kind: 'location', id: `prom${++cid}`, rsc: top.id, node: r.pick(nodes).name, score: r.pick(SCORES), role: 'Promoted' });
    }
    if (top.kind !== 'clone' && r.chance(0.06)) {
      const node = r.pick(nodes).name;
      constraints.push({ kind: 'location', id: `cli-ban-${top.id}-on-${node}`, rsc: top.id, node, score: -INFINITY });
    }
    if (top.kind !== 'clone' && r.chance(0.06)) {
      constraints.push({ kind: 'location', id: `cli-prefer-${top.id}`, rsc: top.id, node: r.pick(nodes).name, score: INFINITY });
    }
  }
  const isPromotable = (x: ResourceConfig): boolean => x.kind === 'clone' && x.meta?.promotable === true;
  // Colocations and orders only point from later to earlier resources: no cycles.
  for (let i = 1; i < tops.length; i++) {
    const dep = resources[i]!;
    const pri = resources[r.int(0, i - 1)]!;
    if (r.chance(0.35) && dep.kind !== 'clone') {
      const withRscRole = isPromotable(pri) && r.chance(0.6) ? r.pick(['Promoted', 'Promoted', 'Unpromoted', 'Started'] as const) : undefined;
      if (withRscRole !== undefined) features.add('role-colocation');
      constraints.push({
        kind: 'colocation',
        id: `col${++cid}`,
        rsc: dep.id,
        withRsc: pri.id,
        score: r.pick([INFINITY, -INFINITY, 100, -100, 500]),
        ...(withRscRole === undefined ? {} : { withRscRole }),
      });
    }
    if (r.chance(0.3)) {
      const roleOrder = isPromotable(pri) && r.chance(0.5) ? r.pick([['promote', 'start'], ['demote', 'stop'], ['promote', 'promote']] as const) : undefined;
      if (roleOrder !== undefined && !isPromotable(dep) && roleOrder[1] === 'promote') continue;
      if (roleOrder !== undefined) features.add('role-order');
      constraints.push({
        kind: 'order',
        id: `ord${++cid}`,
        first: pri.id,
        then: dep.id,
        orderKind: r.pick(['Mandatory', 'Optional'] as const),
        ...(roleOrder === undefined ? {} : { firstAction: roleOrder[0], thenAction: roleOrder[1] }),
        ...(r.chance(0.2) ? { symmetrical: false } : {}),
      });
    }
  }
  const sets: SetConstraint[] = [];
  if (tops.length >= 3 && r.chance(0.25)) {
    // Members in increasing configuration order, so that every pair the sets stand for points
    // from a later resource to an earlier one (colocations) or the other way (orders): no cycles.
    const picked = [...resources.keys()].filter(() => r.chance(0.7)).slice(0, 4);
    if (picked.length >= 2) {
      if (r.chance(0.5) && picked.every((i) => resources[i]!.kind !== 'clone' || i === picked[0])) {
        // Colocation sets: a sequential set places each member with the one before it; between
        // two sets the earlier set's first member goes with the later set's last one.
        const ids = picked.map((i) => resources[i]!.id);
        const split = r.int(1, ids.length - 1);
        const two = ids.length >= 3 && r.chance(0.5);
        const setList: ResourceSet[] = two
          ? [{ resources: ids.slice(split), ...(r.chance(0.3) ? { sequential: false } : {}) }, { resources: ids.slice(0, split) }]
          : [{ resources: ids }];
        const first = resources[picked[0]!]!;
        if (isPromotable(first) && r.chance(0.6)) {
          const last = setList[setList.length - 1]!;
          if (last.resources.length === 1) last.role = 'Promoted';
        }
        const score = r.pick([INFINITY, INFINITY, -INFINITY, 200]);
        const id = `cset${++cid}`;
        sets.push({ kind: 'colocation', id, score, sets: setList });
        constraints.push(...expandColocationSets(id, score, setList));
      } else {
        const ids = picked.map((i) => resources[i]!.id);
        const split = r.int(1, ids.length - 1);
        const setList: ResourceSet[] =
          ids.length >= 3 && r.chance(0.5) ? [{ resources: ids.slice(0, split) }, { resources: ids.slice(split), ...(r.chance(0.3) ? { sequential: false } : {}) }] : [{ resources: ids }];
        const orderKind = r.pick(['Mandatory', 'Optional'] as const);
        const id = `oset${++cid}`;
        sets.push({ kind: 'order', id, orderKind, sets: setList });
        constraints.push(...expandOrderSets(id, orderKind, undefined, setList));
      }
      features.add('sets');
    }
  }

  // History: where things run now, with some failures.
  let callId = 10;
  const onlineish = nodes.filter((n) => statusNodes[n.name]!.state !== 'offline').map((n) => n.name);
  // A node shut down cleanly keeps the history it had; it says nothing about what runs now.
  const offlineWithHistory = nodes.filter((n) => statusNodes[n.name]!.state === 'offline' && r.chance(0.6)).map((n) => n.name);
  const record = (node: string, rsc: string, ops: OpRecord[], failure?: { count: number; atMs: number }): void => {
    const st = statusNodes[node]!;
    const rs: ResourceStatus = { ops, ...(failure === undefined ? {} : { failCount: failure.count, lastFailureMs: failure.atMs }) };
    st.resources![rsc] = rs;
  };
  const runOn = (node: string, rsc: string, promoted: boolean): void => {
    const t0 = nowMs - r.int(100, 3_000) * 1000;
    const ops: OpRecord[] = [{ op: 'start', intervalMs: 0, rc: 0, timeMs: t0, callId: callId++ }];
    if (promoted) ops.push({ op: 'promote', intervalMs: 0, rc: 0, timeMs: t0 + 1000, callId: callId++ });
    let failure: { count: number; atMs: number } | undefined;
    if (!promoted && r.chance(0.15)) {
      const atMs = nowMs - r.pick([10, 30, 120, 600]) * 1000;
      ops.push({ op: 'monitor', intervalMs: 10_000, rc: r.pick([1, 7]), timeMs: atMs, callId: callId++ });
      failure = { count: r.int(1, 3), atMs };
    } else if (!promoted && r.chance(0.1)) {
      // An old failure, already recovered from, that still counts unless it expired.
      failure = { count: r.int(1, 3), atMs: nowMs - r.pick([30, 600]) * 1000 };
    }
    record(node, rsc, ops, failure);
  };
  for (const node of offlineWithHistory) {
    for (const info of listPrimitives({ nodes, resources })) {
      if (!r.chance(0.4)) continue;
      const t0 = nowMs - r.int(3_000, 6_000) * 1000;
      record(node, info.primitive.id, [{ op: 'start', intervalMs: 0, rc: 0, timeMs: t0, callId: callId++ }]);
      features.add('offline-history');
    }
  }
  for (const info of listPrimitives({ nodes, resources })) {
    const id = info.primitive.id;
    if (info.clone !== undefined) {
      const promotable = info.clone.meta?.promotable === true;
      let promotedOne = false;
      for (const node of onlineish) {
        if (!r.chance(0.6)) continue;
        const promote: boolean = promotable && !promotedOne && r.chance(0.5);
        promotedOne ||= promote;
        runOn(node, id, promote);
      }
      if (promotable) {
        for (const n of nodes) {
          if (!r.chance(0.8)) continue;
          const st = statusNodes[n.name]!;
          st.attributes = { ...st.attributes, [`master-${id}`]: String(r.int(1, 20) * 5) };
        }
      }
      continue;
    }
    if (info.group !== undefined && info.group.members[0]!.id !== id) continue;
    if (!r.chance(0.55) || onlineish.length === 0) continue;
    const node = r.pick(onlineish);
    const members = info.group?.members.map((m) => m.id) ?? [id];
    for (const m of members) runOn(node, m, false);
  }

  const useTimeout = r.chance(0.3);
  const stickiness = r.pick([0, 0, 1, 100, INFINITY]);
  if (stickiness >= INFINITY || listPrimitives({ nodes, resources }).some((i) => (i.primitive.meta?.resourceStickiness ?? 0) >= INFINITY)) features.add('inf-stickiness');
  const cib: Cib = {
    adminEpoch: 0,
    epoch: seed % 1000,
    numUpdates: 0,
    config: {
      properties: {
        stonithEnabled,
        noQuorumPolicy: r.pick(['stop', 'freeze', 'ignore'] as const),
        ...(r.chance(0.03) ? { maintenanceMode: true } : {}),
        ...(r.chance(0.08) ? { symmetricCluster: false } : {}),
      },
      rscDefaults: {
        resourceStickiness: stickiness,
        ...(r.chance(0.4) ? { migrationThreshold: r.int(1, 3) } : {}),
        ...(useTimeout ? { failureTimeoutMs: r.pick([60, 300]) * 1000 } : {}),
      },
      ...(opDefaults === undefined ? {} : { opDefaults }),
      nodes,
      resources,
      constraints,
    },
    status: { nodes: statusNodes },
  };
  const level: Level =
    features.has('role-colocation') || features.has('role-order') || sets.some((x) => x.sets.some((y) => y.role !== undefined))
      ? 'roles'
      : resources.some(isPromotable)
        ? 'promotable'
        : resources.some((x) => x.kind === 'clone')
          ? 'clones'
          : 'basic';
  return { seed, cib, quorate: r.chance(0.85), nowMs, sets, level, features: [...features].sort() };
}
