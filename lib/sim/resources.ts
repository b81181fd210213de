/**
 * Simulated resources: the CIB a run configures (drawn from the seed), the simulated agents that
 * the node driver's operations run on, and the world model — which node really has which
 * resource active, at every instant of global time — that the resource checkers watch.
 *
 * Three kinds of simulated agent, for the three ways a real resource can outlive its node:
 *  - `sim-inproc`: lives in the node's process (an in-process agent): gone the instant the node
 *    crashes; frozen with it while it is paused (still counted active: a frozen process resumes).
 *  - `sim-vip`: a kernel-held address on a lease renewed by every successful monitor: it outlives
 *    a crash or a freeze until the lease runs out (the kernel enforces it), and declares that
 *    lease as its holdover. Found by a restarted node, it is failed, as the real vip agent's
 *    address is without its nft lease's renewer: there, but dropping its traffic.
 *  - `sim-orphan`: a child process that outlives its node's crash for a bounded time (it notices
 *    its parent is gone), and keeps running while its node is frozen; declares that bound.
 * A `flaky` parameter makes a resource die right after each start (the restart loop that the
 * back-off must slow down); `failStart`, `hangMonitor` and `dieRate` inject other failures. All
 * randomness comes from the simulator's PRNG, so a run stays a function of its seed.
 *
 * Stops never fail or hang here: a stop that cannot finish within selfStopMs breaks sanode's
 * no-fencing assumption (docs/resources.md), which is what fencing exists for.
 */
import type { CibConfig, PrimitiveConfig } from '../cib/model.js';
import type { NodeId } from '../totem/types.js';
import type { Prng } from './prng.js';

export type SimAgentKind = 'sim-inproc' | 'sim-vip' | 'sim-orphan';

export interface ResourcePlan {
  readonly config: CibConfig;
  /** Each node's name in the CIB (and the name it is configured with). */
  readonly names: ReadonlyMap<NodeId, string>;
  readonly selfStopMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Longest a simulated operation takes when it does not hang. */
  readonly opLatencyMsMax: number;
  /** Probability that a start fails (safety phase only). */
  readonly failStartRate: number;
  /** Probability that a running sim-inproc resource dies between two monitors (safety phase only). */
  readonly dieRate: number;
  /** Probability that a monitor hangs until its timeout. */
  readonly hangRate: number;
}

export function planResources(p: Prng, ids: readonly NodeId[], tokenTimeoutMs: number): ResourcePlan {
  const T = tokenTimeoutMs;
  const names = new Map<NodeId, string>(ids.map((id) => [id, `n${id}`]));
  const monitor = (factor: number) => [{ name: 'monitor' as const, intervalMs: Math.max(10, Math.round(T * factor)), timeoutMs: 2 * T }];
  const timeouts = [
    { name: 'start' as const, intervalMs: 0, timeoutMs: 2 * T },
    { name: 'stop' as const, intervalMs: 0, timeoutMs: 2 * T },
  ];
  const leaseMs = p.int(2 * T, 6 * T);
  const orphanMs = p.int(T, 4 * T);
  const resources: CibConfig['resources'] = [
    {
      kind: 'group',
      id: 'web',
      members: [
        { kind: 'primitive', id: 'web-ip', agent: { class: 'sanode', type: 'sim-vip' }, params: { leaseMs: String(leaseMs) }, ops: [...timeouts, ...monitor(0.5)] },
        { kind: 'primitive', id: 'web-app', agent: { class: 'sanode', type: 'sim-inproc' }, ops: [...timeouts, ...monitor(0.5)] },
      ],
    },
  ];
  if (p.chance(0.5)) {
    resources.push({ kind: 'primitive', id: 'worker', agent: { class: 'sanode', type: 'sim-orphan' }, params: { orphanMs: String(orphanMs) }, ops: [...timeouts, ...monitor(0.75)] });
  }
  if (p.chance(0.3)) {
    resources.push({ kind: 'primitive', id: 'flaky', agent: { class: 'sanode', type: 'sim-inproc' }, params: { flaky: 'yes' }, ops: [...timeouts, ...monitor(0.25)] });
  }
  const config: CibConfig = {
    nodes: ids.map((id) => ({ id: String(id), name: names.get(id)! })),
    resources,
    // Not 0: with no stickiness the scheduler can flip a resource between two nodes on every
    // transition (docs/simulator.md, "Known violations"), a loop the flapping checker reports.
    rscDefaults: { resourceStickiness: p.pick([100, 1000]) },
  };
  return {
    config,
    names,
    selfStopMs: T,
    backoffBaseMs: T,
    backoffMaxMs: 8 * T,
    opLatencyMsMax: Math.max(1, Math.round(T / 20)),
    failStartRate: p.chance(0.3) ? p.range(0, 0.2) : 0,
    dieRate: p.chance(0.3) ? p.range(0, 0.1) : 0,
    hangRate: p.chance(0.2) ? p.range(0, 0.05) : 0,
  };
}

/**
 * The agent's holdover bound (ResourceAgent.holdoverMs) for a simulated primitive: the kernel
 * lease of a VIP, the time an orphan takes to notice its parent is gone; an in-process resource
 * declares none (its node's self-stop ends it).
 */
export function simHoldoverMs(primitive: PrimitiveConfig): number | undefined {
  switch (primitive.agent.type) {
    case 'sim-vip':
      return Number(primitive.params?.['leaseMs'] ?? 0);
    case 'sim-orphan':
      return Number(primitive.params?.['orphanMs'] ?? 0);
    default:
      return undefined;
  }
}

/** One resource on one node, as the world has it (not as any node believes). */
interface WorldEntry {
  running: boolean;
  /** sim-vip: the kernel drops the address at this global time unless a monitor renews it. */
  leaseUntilUs: number;
  /** sim-orphan after its node crashed: it ends by itself at this global time. */
  orphanUntilUs: number;
  /** Still there from an earlier run of its node, which started it (no start of this run since). */
  inherited: boolean;
}

export type WorldChange = { readonly node: NodeId; readonly rsc: string; readonly active: boolean; readonly why: string };

/**
 * The world: which resources really run where. Changes are returned to the caller, who reports
 * them to the checkers and schedules the expiry checks (`expiresAtUs`).
 */
export class SimWorld {
  private readonly entries = new Map<string, WorldEntry>();

  running(node: NodeId, rsc: string): boolean {
    return this.entries.get(key(node, rsc))?.running === true;
  }

  /** Running, and left there by an earlier run of its node (see adopt). */
  inherited(node: NodeId, rsc: string): boolean {
    const e = this.entries.get(key(node, rsc));
    return e?.running === true && e.inherited;
  }

  /** Every (node, resource) running now. */
  active(): { node: NodeId; rsc: string }[] {
    const out: { node: NodeId; rsc: string }[] = [];
    for (const [k, e] of this.entries) {
      if (!e.running) continue;
      const [node, rsc] = k.split('\u0000') as [string, string];
      out.push({ node: Number(node), rsc });
    }
    return out;
  }

  /** A start was handed to the agent: counted active from its first instant (it may half-start). */
  startBegins(node: NodeId, rsc: string, nowUs: number, primitive: PrimitiveConfig): WorldChange[] {
    const e = this.entry(node, rsc);
    e.inherited = false;
    if (primitive.agent.type === 'sim-vip') e.leaseUntilUs = Math.max(e.leaseUntilUs, nowUs + leaseUs(primitive));
    if (e.running) return [];
    e.running = true;
    return [{ node, rsc, active: true, why: 'start begins' }];
  }

  /** A successful start or monitor of a VIP renews its kernel lease. */
  renew(node: NodeId, rsc: string, nowUs: number, primitive: PrimitiveConfig): number | undefined {
    const e = this.entries.get(key(node, rsc));
    if (e === undefined || !e.running || primitive.agent.type !== 'sim-vip') return undefined;
    e.leaseUntilUs = nowUs + leaseUs(primitive);
    return e.leaseUntilUs;
  }

  stop(node: NodeId, rsc: string, why: string): WorldChange[] {
    const e = this.entries.get(key(node, rsc));
    if (e === undefined || !e.running) return [];
    e.running = false;
    return [{ node, rsc, active: false, why }];
  }

  /**
   * The node's process died: in-process resources go with it, a VIP lives on until its lease,
   * an orphaned child until it notices. Returns what ended now and when the rest will.
   */
  crash(node: NodeId, nowUs: number, kindOf: (rsc: string) => PrimitiveConfig | undefined, orphanDrawUs: (primitive: PrimitiveConfig) => number): { changes: WorldChange[]; expiries: number[] } {
    const changes: WorldChange[] = [];
    const expiries: number[] = [];
    for (const [k, e] of this.entries) {
      if (!e.running || !k.startsWith(`${node}\u0000`)) continue;
      const rsc = k.slice(String(node).length + 1);
      const primitive = kindOf(rsc);
      const type = primitive?.agent.type;
      if (type === 'sim-vip') {
        expiries.push(e.leaseUntilUs);
      } else if (type === 'sim-orphan' && primitive !== undefined) {
        e.orphanUntilUs = nowUs + orphanDrawUs(primitive);
        expiries.push(e.orphanUntilUs);
      } else {
        e.running = false;
        changes.push({ node, rsc, active: false, why: 'its process died' });
      }
    }
    return { changes, expiries };
  }

  /** Time-based ends: leases that ran out, orphans that noticed. */
  expire(nowUs: number, nodeUp: (node: NodeId) => boolean): WorldChange[] {
    const changes: WorldChange[] = [];
    for (const [k, e] of this.entries) {
      if (!e.running) continue;
      const [nodeText, rsc] = k.split('\u0000') as [string, string];
      const node = Number(nodeText);
      if (e.leaseUntilUs > 0 && e.leaseUntilUs <= nowUs) {
        e.running = false;
        changes.push({ node, rsc, active: false, why: 'its kernel lease ran out' });
      } else if (e.orphanUntilUs > 0 && e.orphanUntilUs <= nowUs && !nodeUp(node)) {
        e.running = false;
        changes.push({ node, rsc, active: false, why: 'the orphaned child ended' });
      }
    }
    return changes;
  }

  /** A restarted node inherits what still runs on its host; an orphan's timer no longer applies. */
  adopt(node: NodeId): void {
    for (const [k, e] of this.entries) {
      if (!k.startsWith(`${node}\u0000`)) continue;
      e.orphanUntilUs = 0;
      if (e.running) e.inherited = true;
    }
  }

  private entry(node: NodeId, rsc: string): WorldEntry {
    const k = key(node, rsc);
    let e = this.entries.get(k);
    if (e === undefined) {
      e = { running: false, leaseUntilUs: 0, orphanUntilUs: 0, inherited: false };
      this.entries.set(k, e);
    }
    return e;
  }
}

function key(node: NodeId, rsc: string): string {
  return `${node}\u0000${rsc}`;
}

function leaseUs(primitive: PrimitiveConfig): number {
  return Number(primitive.params?.['leaseMs'] ?? 0) * 1000;
}
