/**
 * Runs the node driver's agent operations on real agents, through the executor (timeouts,
 * AbortSignal, abandonment, one operation per resource at a time). The binding between
 * LocalResources' AgentOperation and the agents of agents/.
 *
 * Gives the built-in agents that leave processes behind a place in the node's state directory
 * (<stateDir>/agents/process) to record them, and turns what they find there after a restart
 * into coded reports (SANODE_ORPHAN_FOUND) naming the resource.
 *
 * Also answers the driver's question "how long can what this agent started outlive its node"
 * (ResourceAgent.holdoverMs), so no layer parses any agent's parameters but the agent itself.
 */
import { join } from 'node:path';
import type { AgentRef, PrimitiveConfig } from '../cib/model.js';
import { SanodeError } from '../errors/index.js';
import type { AgentOperation, AgentOutcome } from '../controller/local-resources.js';
import { Executor } from '../executor/index.js';
import { OCF, type ResourceAgent } from '../../agents/types.js';
import { createDummyAgent } from '../../agents/dummy.js';
import { createFilesystemAgent } from '../../agents/filesystem.js';
import { lsb } from '../../agents/lsb.js';
import { ocf } from '../../agents/ocf.js';
import { createProcessAgent, type OrphanFound } from '../../agents/process.js';
import { systemd } from '../../agents/systemd.js';
import { vip, type VipAgent } from '../../agents/vip.js';

export class AgentRunner {
  private readonly executor = new Executor();
  private readonly custom: Readonly<Record<string, ResourceAgent<never>>>;
  private readonly builtins: Record<string, ResourceAgent<never>>;
  private readonly registered = new Map<string, string>();
  /** The node's resource lease end (performance.now() ms); see setLeaseGate. */
  private leaseUntil: () => number = () => Infinity;
  private readonly vipAgent: VipAgent = vip({}, { leaseUntil: () => this.leaseUntil() });
  private closed = false;
  /** The resource each registered parameter object belongs to (agents see only the parameters). */
  private readonly resourceOf = new WeakMap<object, string>();
  private reporter: (report: SanodeError) => void = (report) => process.emitWarning(report.message, { type: 'SanodeWarning', code: report.code });

  /** `stateDir`: the node's state directory; without it agents record nothing on disk. */
  constructor(custom: Readonly<Record<string, ResourceAgent<never>>> | undefined, context: { stateDir?: string } = {}) {
    this.custom = custom ?? {};
    const recordsDir = context.stateDir === undefined ? undefined : join(context.stateDir, 'agents', 'process');
    this.builtins = {
      vip: this.vipAgent as ResourceAgent<never>,
      process: createProcessAgent({ recordsDir, onOrphan: (orphan) => this.reportOrphan(orphan) }) as ResourceAgent<never>,
      filesystem: createFilesystemAgent() as ResourceAgent<never>,
      dummy: createDummyAgent() as ResourceAgent<never>,
    };
  }

  /** Never rejects: every failure is an OCF rc. */
  async run(operation: AgentOperation): Promise<AgentOutcome> {
    const { primitive } = operation;
    const agent = this.agentFor(primitive.agent);
    if (agent === undefined || this.closed) {
      return {
        rc: OCF.ERR_INSTALLED,
        message: this.closed ? 'this node is leaving' : `no agent ${describeAgent(primitive.agent)} on this node (built in: vip, process, filesystem, dummy, ocf:*, systemd:*, lsb:*; or pass it in options.agents)`,
        wallMs: Date.now(),
      };
    }
    this.register(primitive, agent);
    const result = await this.executor.exec(primitive.id, operation.op, { timeoutMs: operation.timeoutMs });
    return { rc: result.rc, message: result.message, wallMs: Date.now() };
  }

  /** The agent's holdover bound (ResourceAgent.holdoverMs); undefined when it declares none. */
  holdoverMs(primitive: PrimitiveConfig): number | undefined {
    const agent = this.agentFor(primitive.agent);
    if (agent?.holdoverMs === undefined) return undefined;
    try {
      const ms = agent.holdoverMs(paramsOf(primitive) as never);
      return ms !== undefined && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
    } catch {
      return undefined;
    }
  }

  /** Where coded reports go (the cluster's 'error' event); process warnings until set. */
  setReporter(reporter: (report: SanodeError) => void): void {
    this.reporter = reporter;
  }

  /** VIP nft leases are renewed only before `until()` (the node driver's resource lease end). */
  setLeaseGate(until: () => number): void {
    this.leaseUntil = until;
  }

  /**
   * This node's resource lease is gone (it lost quorum or its lease and is stopping everything):
   * the VIPs' nft leases stop being renewed now, not when their stop gets its turn.
   */
  leaseLost(reason: string): void {
    this.vipAgent.haltLeases(reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    // Whatever still runs here is no longer this node's to keep.
    this.vipAgent.haltLeases('this node is leaving');
    await this.executor.close();
  }

  private register(primitive: PrimitiveConfig, agent: ResourceAgent<never>): void {
    const params = paramsOf(primitive);
    const signature = JSON.stringify([primitive.agent, params]);
    if (this.registered.get(primitive.id) !== signature) {
      this.executor.register(primitive.id, agent, params as never);
      this.registered.set(primitive.id, signature);
      this.resourceOf.set(params, primitive.id);
    }
  }

  private reportOrphan(orphan: OrphanFound): void {
    const rsc = this.resourceOf.get(orphan.params as object);
    const what = rsc === undefined ? 'a process resource' : `resource ${rsc}`;
    this.reporter(
      new SanodeError(
        'SANODE_ORPHAN_FOUND',
        `${what}: pid ${orphan.pid} (${orphan.cmdline.join(' ')}) was started by an earlier run of this node and outlived it ` +
          `(found by its ${orphan.via === 'record' ? 'record' : 'pidFile'} ${orphan.file}); it is reported running here, so the ` +
          'cluster stops it or keeps it as it would any resource found active',
        { field: rsc ?? orphan.file },
      ),
    );
  }

  private agentFor(ref: AgentRef): ResourceAgent<never> | undefined {
    switch (ref.class) {
      case 'sanode':
        return Object.hasOwn(this.custom, ref.type) ? this.custom[ref.type] : Object.hasOwn(this.builtins, ref.type) ? this.builtins[ref.type] : undefined;
      case 'ocf':
        return (this.builtins['ocf:'] ??= ocf() as ResourceAgent<never>);
      case 'systemd':
      case 'service':
        return (this.builtins['systemd:'] ??= systemd() as ResourceAgent<never>);
      case 'lsb':
        return (this.builtins['lsb:'] ??= lsb() as ResourceAgent<never>);
      default:
        return undefined;
    }
  }
}

/** The parameters an agent sees: the configured ones plus what its class implies. */
function paramsOf(primitive: PrimitiveConfig): Record<string, string> {
  const params: Record<string, string> = { ...primitive.params };
  if (primitive.agent.class === 'ocf') {
    params['provider'] = primitive.agent.provider ?? 'heartbeat';
    params['type'] = primitive.agent.type;
  } else if (primitive.agent.class === 'systemd' || primitive.agent.class === 'service') {
    params['unit'] ??= primitive.agent.type;
  } else if (primitive.agent.class === 'lsb') {
    params['name'] ??= primitive.agent.type;
  }
  return params;
}

function describeAgent(ref: AgentRef): string {
  return ref.class === 'ocf' ? `ocf:${ref.provider ?? 'heartbeat'}:${ref.type}` : `${ref.class}:${ref.type}`;
}
