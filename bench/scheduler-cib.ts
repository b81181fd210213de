/**
 * The seeded CIBs bench/scheduler.ts times: many resources, about two constraints per resource.
 */
import { INFINITY, type Cib, type Constraint, type NodeStatus, type PrimitiveConfig, type ResourceConfig } from '../lib/cib/model.js';
import { validateConfig } from '../lib/cib/validate.js';
import { Rand } from '../test/scheduler/scenarios.js';

export const BENCH_NOW_MS = 1_700_000_000_000;

/**
 * A cluster of `resourceCount` primitives (a tenth of them in groups of three, a few clones) on
 * `nodeCount` nodes, about two constraints per resource: a location for each, and a colocation or
 * an order with an earlier resource. Half of the primitives already run somewhere, so stickiness
 * and "keep or move" decisions are part of the work.
 */
export function benchCib(resourceCount: number, nodeCount: number, seed = 1): { cib: Cib; constraints: number } {
  const r = new Rand(seed);
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({ id: String(i + 1), name: `node${i + 1}`, attributes: { rack: `r${i % 4}` } }));
  const status: Record<string, NodeStatus> = Object.fromEntries(nodes.map((n) => [n.name, { state: 'online' as const, resources: {} }]));
  const agent = { class: 'ocf', provider: 'pacemaker', type: 'Dummy' } as const;
  const ops = [{ name: 'monitor' as const, intervalMs: 10_000, timeoutMs: 20_000 }];
  const prim = (id: string): PrimitiveConfig => ({ kind: 'primitive', id, agent, ops });
  const resources: ResourceConfig[] = [];
  const tops: string[] = [];
  let made = 0;
  let callId = 1;
  const run = (id: string, node: string): void => {
    status[node]!.resources![id] = { ops: [{ op: 'start', intervalMs: 0, rc: 0, timeMs: BENCH_NOW_MS - 60_000, callId: callId++ }] };
  };
  while (made < resourceCount) {
    const roll = r.int(0, 99);
    const id = `rsc${made + 1}`;
    if (roll < 10 && resourceCount - made >= 3) {
      const members = [prim(`${id}a`), prim(`${id}b`), prim(`${id}c`)];
      resources.push({ kind: 'group', id, members });
      if (r.chance(0.5)) {
        const node = r.pick(nodes).name;
        for (const m of members) run(m.id, node);
      }
      made += 3;
    } else if (roll < 12) {
      resources.push({ kind: 'clone', id, child: prim(`${id}p`), meta: { cloneMax: Math.min(4, nodeCount) } });
      made += 1;
    } else {
      resources.push(prim(id));
      if (r.chance(0.5)) run(id, r.pick(nodes).name);
      made += 1;
    }
    tops.push(id);
  }
  const constraints: Constraint[] = [];
  tops.forEach((id, i) => {
    constraints.push({ kind: 'location', id: `loc-${id}`, rsc: id, node: r.pick(nodes).name, score: r.pick([-INFINITY, 50, 100, 200, INFINITY]) });
    if (i === 0) return;
    const other = tops[r.int(Math.max(0, i - 50), i - 1)]!;
    if (resources[i]!.kind !== 'clone' && r.chance(0.5)) {
      constraints.push({ kind: 'colocation', id: `col-${id}`, rsc: id, withRsc: other, score: r.pick([INFINITY, 100, -100, 500]) });
    } else {
      constraints.push({ kind: 'order', id: `ord-${id}`, first: other, then: id, orderKind: r.pick(['Mandatory', 'Optional'] as const) });
    }
  });
  const config = {
    properties: { stonithEnabled: false, noQuorumPolicy: 'stop' as const },
    rscDefaults: { resourceStickiness: 100 },
    nodes,
    resources,
    constraints,
  };
  validateConfig(config);
  return { cib: { adminEpoch: 0, epoch: 1, numUpdates: 0, config, status: { nodes: status } }, constraints: constraints.length };
}

