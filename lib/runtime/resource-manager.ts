/**
 * Resource management on one node (pacemaker-controld), on real time: it drives the sans-IO
 * TransitionEngine (lib/controller/transition.ts) while this node coordinates, and does the
 * node's own part — performing the actions addressed to it through the executor, recording
 * every result in the CIB, probing what runs here when it joins, and stopping everything on its
 * own when it loses quorum or its lease.
 *
 * Takes: views, quorum, coordinator changes, token proofs, the applied CIB, resource-channel
 * messages (in agreed order), and the current monotonic time from the Cluster that owns it.
 * Emits: resource-channel messages and CIB changes through the callbacks it is given, and a
 * `resource` event per operation result.
 *
 * The safety argument (docs/resources.md): a node keeps resources only while it is quorate and
 * holds a lease (proof of an intact ring within leaseMs, as a leader does); past that it stops
 * them within selfStopMs. The coordinator starts a lost node's resources elsewhere only after
 * that node's lease and self-stop can both have run out (TransitionEngine's deadline).
 */
import { EventEmitter } from 'eventemitter3';
import { INFINITY, listPrimitives, type AgentRef, type Cib, type OpName, type PrimitiveConfig } from '../cib/model.js';
import type { CibChange } from '../cib/replica.js';
import { Executor, type OperationResult } from '../executor/index.js';
import { OCF, type ResourceAgent } from '../../agents/types.js';
import { createDummyAgent } from '../../agents/dummy.js';
import { createFilesystemAgent } from '../../agents/filesystem.js';
import { lsb } from '../../agents/lsb.js';
import { ocf } from '../../agents/ocf.js';
import { createProcessAgent } from '../../agents/process.js';
import { systemd } from '../../agents/systemd.js';
import { DEFAULT_LEASE_SECONDS, vip } from '../../agents/vip.js';
import { TransitionEngine, type ExecOp, type ExecRequest } from '../controller/transition.js';

/** Messages of the resource channel. Kinds (`t`) are append-only. */
export type ResourceMessage =
  | { readonly t: 'exec'; readonly epoch: number; readonly req: ExecRequest }
  | { readonly t: 'result'; readonly epoch: number; readonly key: string; readonly node: string; readonly rc: number }
  /** Every node probes `rsc` again (cleanup), and records what it finds. */
  | { readonly t: 'reprobe'; readonly rsc: string };

export function parseResourceMessage(body: unknown): ResourceMessage | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const m = body as Record<string, unknown>;
  if (m['t'] === 'exec' && typeof m['epoch'] === 'number' && typeof m['req'] === 'object' && m['req'] !== null) {
    const r = m['req'] as Record<string, unknown>;
    const ops: readonly string[] = ['start', 'stop', 'monitor', 'promote', 'demote'];
    if (typeof r['key'] !== 'string' || typeof r['node'] !== 'string' || typeof r['rsc'] !== 'string') return undefined;
    if (typeof r['op'] !== 'string' || !ops.includes(r['op'])) return undefined;
    if (typeof r['intervalMs'] !== 'number' || typeof r['timeoutMs'] !== 'number' || !(r['timeoutMs'] > 0)) return undefined;
    return { t: 'exec', epoch: m['epoch'], req: { key: r['key'], node: r['node'], rsc: r['rsc'], op: r['op'] as ExecOp, intervalMs: r['intervalMs'], timeoutMs: r['timeoutMs'] } };
  }
  if (m['t'] === 'result' && typeof m['epoch'] === 'number' && typeof m['key'] === 'string' && typeof m['node'] === 'string' && typeof m['rc'] === 'number') {
    return { t: 'result', epoch: m['epoch'], key: m['key'], node: m['node'], rc: m['rc'] };
  }
  if (m['t'] === 'reprobe' && typeof m['rsc'] === 'string') return { t: 'reprobe', rsc: m['rsc'] };
  return undefined;
}

export interface ResourceEvent {
  readonly rsc: string;
  readonly node: string;
  readonly op: OpName;
  readonly intervalMs: number;
  readonly rc: number;
  readonly message?: string;
}

export interface ResourceManagerEvents {
  resource: (event: ResourceEvent) => void;
  error: (error: unknown) => void;
}

export interface ResourceManagerOptions {
  readonly nodeName: string;
  /** Every configured node's name. */
  readonly nodes: readonly string[];
  /** Custom agents for resources whose agent is `{ class: 'sanode', type: NAME }`. */
  readonly agents?: Readonly<Record<string, ResourceAgent<never>>> | undefined;
  /**
   * A lost node's resources count as running there this long after it left the view: the
   * takeover wait plus selfStopMs (the manager lengthens it to the configured VIPs' kernel lease
   * when that is longer).
   */
  readonly lostNodeDeadlineMs: number;
  /** Without token proof for this long, this node stops its resources (its lease). */
  readonly leaseWindowMs: number;
  /** The time a node that lost quorum or its lease has to stop its resources. */
  readonly selfStopMs: number;
  /** false: run no agents and coordinate nothing (the node only keeps the CIB). */
  readonly manage?: boolean;
  readonly nowMs: number;
  /** Proposes a CIB change in agreed order; resolves once applied. */
  readonly updateCib: (change: CibChange) => Promise<unknown>;
  /** Broadcasts on the resource channel in agreed order. */
  readonly send: (message: ResourceMessage) => void;
  /** Wall-clock milliseconds for CIB records (failure-timeout compares them across nodes). */
  readonly wallClockMs?: () => number;
}

export class ResourceManager extends EventEmitter<ResourceManagerEvents> {
  private readonly options: ResourceManagerOptions;
  private readonly engine: TransitionEngine;
  private readonly executor = new Executor();
  private readonly builtins: Record<string, ResourceAgent<never>>;
  private readonly registered = new Map<string, string>();
  /** Resources this node believes it runs (last start or a probe succeeded, no stop since), in start order. */
  private readonly activeHere = new Set<string>();
  /** Starts (and promotes) in flight: a self-stop must cover them too. */
  private readonly starting = new Set<string>();
  /** Last recorded rc per recurring monitor, so an unchanged first result is not recorded twice. */
  private readonly lastMonitorRc = new Map<string, number>();
  private cib: Cib | undefined;
  private quorate = false;
  private member = false;
  private epoch: number | undefined;
  private lastProofMs: number;
  private lastTickMs = -Infinity;
  private probed = false;
  private synced = false;
  private probing: Promise<void> | undefined;
  private stopping = false;
  private lastCallId: number | undefined;
  private closed = false;

  constructor(options: ResourceManagerOptions) {
    super();
    this.options = options;
    this.lastProofMs = options.nowMs;
    this.engine = new TransitionEngine({
      nodes: options.nodes,
      // A killed or frozen holder renewed its VIP last before the others saw it go, so its kernel
      // drops the address within the lease of that; a cut-off, live holder removes it itself
      // within its lease and selfStopMs (docs/resources.md). Whichever is later.
      lostNodeDeadlineMs: (cib) => Math.max(options.lostNodeDeadlineMs, kernelLeaseMs(cib)),
      nowMs: options.nowMs,
    });
    this.builtins = {
      vip: vip() as ResourceAgent<never>,
      process: createProcessAgent() as ResourceAgent<never>,
      filesystem: createFilesystemAgent() as ResourceAgent<never>,
      dummy: createDummyAgent() as ResourceAgent<never>,
    };
    this.executor.on('result', (result) => {
      if (result.intervalMs > 0) void this.onRecurringResult(result);
    });
  }

  onView(members: readonly string[], nowMs: number): void {
    this.member = members.includes(this.options.nodeName);
    this.engine.onView(members, nowMs);
    this.lastProofMs = nowMs; // installing a view proves the ring works right now
  }

  onToken(provenAtMs: number): void {
    this.lastProofMs = Math.max(this.lastProofMs, provenAtMs);
  }

  onQuorum(quorate: boolean, nowMs: number): void {
    const was = this.quorate;
    this.quorate = quorate;
    if (was && !quorate) this.selfStop('lost quorum');
    if (!quorate) this.probed = false;
    this.step(nowMs);
  }

  /** This node leads (epoch) or stops leading (undefined). */
  onCoordinator(epoch: number | undefined, nowMs: number): void {
    this.epoch = epoch;
    this.engine.setCoordinator(epoch !== undefined, this.quorate);
    this.step(nowMs);
  }

  /** `synced`: this copy is the group's (the state exchange of the view is done). */
  onCib(cib: Cib, synced: boolean, nowMs: number): void {
    if (cib !== this.cib) {
      this.cib = cib;
      this.engine.onCib(cib);
    }
    this.synced = synced;
    this.step(nowMs);
  }

  /** `fromCoordinator`: sent by the coordinator of this node's current quorate view. */
  onMessage(message: ResourceMessage, fromCoordinator: boolean, nowMs: number): void {
    if (this.options.manage === false) return;
    if (message.t === 'exec') {
      // Only the coordinator of the current view may direct this node; the coordinator is a
      // function of the view, and a deposed one's messages are delivered in its own view only.
      if (message.req.node === this.options.nodeName && fromCoordinator && this.quorate) void this.perform(message.epoch, message.req);
    } else if (message.t === 'result') {
      if (message.epoch === this.epoch) this.engine.onResult(message.key);
    } else if (this.quorate && this.member) {
      void this.probe([message.rsc]);
    }
    this.step(nowMs);
  }

  /** Lease check and the coordinator's deadlines; the Cluster calls it on every turn and timer. */
  tick(nowMs: number): void {
    this.lastTickMs = nowMs;
    if (this.activeHere.size > 0 && nowMs - this.lastProofMs >= this.options.leaseWindowMs) this.selfStop('lease expired');
    this.step(nowMs);
  }

  /** When tick must run next: the lease while resources run here, or a coordinator deadline. */
  nextDeadlineMs(): number | undefined {
    // Only a lease still ahead: one that lapsed has already triggered its self-stop.
    const leaseEnd = this.lastProofMs + this.options.leaseWindowMs;
    const lease = this.activeHere.size > 0 && leaseEnd > this.lastTickMs ? leaseEnd : undefined;
    const engine = this.engine.nextDeadlineMs();
    if (lease === undefined) return engine;
    return engine === undefined ? lease : Math.min(lease, engine);
  }

  /** Stops every resource here (a graceful leave) and the executor. */
  async close(moveAwayMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.probed = true; // no new probes while leaving
    // A graceful leave is a run-time standby: the coordinator moves the resources away in order
    // (stop here, then start elsewhere), as pacemaker does for a node shutting down.
    if (this.activeHere.size > 0 && this.quorate && (await this.propose({ op: 'set-node-standby', node: this.options.nodeName, standby: true }))) {
      const until = Date.now() + moveAwayMs;
      while (this.activeHere.size > 0 && this.quorate && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.stopAll(this.options.selfStopMs * 4, true);
    this.closed = true;
    await this.executor.close();
  }

  private step(nowMs: number): void {
    if (this.closed || this.options.manage === false) return;
    if (this.quorate && this.member && this.synced && !this.probed && this.cib !== undefined && this.probing === undefined) {
      this.probing = this.probeAll().finally(() => {
        this.probing = undefined;
      });
    }
    this.engine.tick(nowMs);
    const out = this.engine.takeOutput();
    for (const change of out.changes) void this.propose(change);
    for (const req of out.dispatch) this.options.send({ t: 'exec', epoch: this.epoch!, req });
  }

  /** Joins (or rejoins) as a resource node: say "not yet", find what runs here, then "ready". */
  private async probeAll(): Promise<void> {
    const cib = this.cib!;
    const me = this.options.nodeName;
    if (cib.status.nodes[me]?.state !== 'offline') await this.propose({ op: 'set-node-state', node: me, state: 'offline' });
    const ok = await this.probe(listPrimitives(cib.config).map((i) => i.primitive.id));
    if (!ok || !this.quorate) return;
    // A run-time standby from a graceful leave ends when the node comes back.
    if (this.cib?.status.nodes[me]?.standby === true) await this.propose({ op: 'set-node-standby', node: me, standby: false });
    await this.propose({ op: 'set-node-state', node: me, state: 'online' });
    this.probed = true;
  }

  private async probe(ids: readonly string[]): Promise<boolean> {
    const results = await Promise.all(
      ids.map(async (id) => {
        const primitive = this.primitive(id);
        if (primitive === undefined || !this.register(primitive)) return true;
        const result = await this.executor.exec(id, 'probe', { timeoutMs: opTimeout(primitive, 'monitor', 0) });
        const recorded = await this.record(id, 'monitor', 0, result);
        if (result.rc === OCF.SUCCESS || result.rc === OCF.RUNNING_PROMOTED) {
          this.activeHere.add(id);
          this.startMonitors(primitive, result.rc === OCF.RUNNING_PROMOTED ? 'Promoted' : 'Started');
        } else {
          this.activeHere.delete(id);
        }
        return recorded;
      }),
    );
    return results.every(Boolean);
  }

  private async perform(epoch: number, req: ExecRequest): Promise<void> {
    try {
      await this.performUnguarded(epoch, req);
    } catch (error) {
      // The executor closed under a leave, or a CIB write failed: the coordinator re-plans.
      if (!this.closed) this.emit('error', error);
    }
  }

  private async performUnguarded(epoch: number, req: ExecRequest): Promise<void> {
    if (this.closed) return;
    const primitive = this.primitive(req.rsc);
    let rc: number = OCF.ERR_CONFIGURED;
    if (primitive !== undefined && this.register(primitive)) {
      if (req.op === 'stop') this.executor.cancelRecurring(req.rsc);
      const op = req.op === 'monitor' ? 'monitor' : req.op;
      const starts = req.op === 'start' || req.op === 'promote';
      if (starts) this.starting.add(req.rsc);
      let result: OperationResult;
      try {
        result = await this.executor.exec(req.rsc, op, { timeoutMs: req.timeoutMs });
      } finally {
        if (starts) this.starting.delete(req.rsc);
      }
      rc = result.rc;
      if (req.op === 'start' || req.op === 'promote' || req.op === 'demote') {
        if (!result.failed) this.activeHere.add(req.rsc);
      } else if (req.op === 'stop' && !result.failed) {
        this.activeHere.delete(req.rsc);
      }
      await this.record(req.rsc, req.op, req.intervalMs, result);
      if (!result.failed && (req.op === 'start' || req.op === 'promote' || req.op === 'demote')) {
        this.startMonitors(primitive, req.op === 'promote' ? 'Promoted' : 'Started');
      }
    } else if (primitive !== undefined) {
      rc = OCF.ERR_INSTALLED;
      await this.recordRc(req.rsc, req.op, req.intervalMs, rc, true);
    }
    if (!this.closed) this.options.send({ t: 'result', epoch, key: req.key, node: this.options.nodeName, rc });
  }

  /** The resource's recurring monitors for its role (a promoted instance has its own). */
  private startMonitors(primitive: PrimitiveConfig, role: 'Started' | 'Promoted'): void {
    if (this.closed) return;
    this.executor.cancelRecurring(primitive.id);
    for (const op of primitive.ops ?? []) {
      if (op.name !== 'monitor' || op.intervalMs <= 0) continue;
      if ((op.role === 'Promoted') !== (role === 'Promoted')) continue;
      // The start just proved it running: only a change from here is news.
      this.lastMonitorRc.set(`${primitive.id}/${op.intervalMs}`, role === 'Promoted' ? OCF.RUNNING_PROMOTED : OCF.SUCCESS);
      this.executor.startRecurring(primitive.id, { intervalMs: op.intervalMs, timeoutMs: op.timeoutMs });
    }
  }

  private async onRecurringResult(result: OperationResult): Promise<void> {
    const key = `${result.resourceId}/${result.intervalMs}`;
    if (this.lastMonitorRc.get(key) === result.rc && !result.failed) return;
    this.lastMonitorRc.set(key, result.rc);
    if (result.failed) {
      // A failed resource is the coordinator's to recover; its monitor stops until then.
      this.executor.cancelRecurring(result.resourceId, result.intervalMs);
      this.lastMonitorRc.delete(key);
    }
    await this.record(result.resourceId, 'monitor', result.intervalMs, result);
  }

  /** Stops everything here, each stop bounded by selfStopMs, unless the policy says otherwise. */
  private selfStop(reason: string): void {
    const policy = this.cib?.config.properties?.noQuorumPolicy ?? 'stop';
    if (policy === 'ignore' || policy === 'freeze' || this.stopping || (this.activeHere.size === 0 && this.starting.size === 0)) return;
    this.emit('error', new Error(`stopping resources on ${this.options.nodeName}: ${reason}`));
    // Once quorum and lease are back, this node probes again and records what it found, so the
    // coordinator does not keep believing the stopped resources run here.
    this.probed = false;
    void this.stopAll(this.options.selfStopMs, true);
  }

  /** `record`: write the stops to the CIB (a graceful leave, still quorate), so nobody waits for a deadline. */
  private async stopAll(budgetMs: number, record = false): Promise<void> {
    this.stopping = true;
    const endMs = Date.now() + budgetMs;
    try {
      // Reverse start order, one at a time: a group's later members (an app on a filesystem)
      // stop before the earlier ones. Starts in flight are stopped too (the executor runs the
      // stop after them). The budget is shared, so the whole self-stop ends in time.
      const ids = [...new Set([...this.activeHere, ...this.starting])].reverse();
      for (const id of ids) this.executor.cancelRecurring(id);
      for (const id of ids) {
        const primitive = this.primitive(id);
        const remaining = Math.max(1, endMs - Date.now());
        const timeoutMs = Math.min(remaining, primitive === undefined ? remaining : opTimeout(primitive, 'stop', 0));
        const result = await this.executor.exec(id, 'stop', { timeoutMs });
        if (!result.failed) this.activeHere.delete(id);
        if (record && this.quorate) await this.record(id, 'stop', 0, result);
        else this.emit('resource', { rsc: id, node: this.options.nodeName, op: 'stop', intervalMs: 0, rc: result.rc, ...(result.message === undefined ? {} : { message: result.message }) });
      }
    } finally {
      this.stopping = false;
    }
  }

  private async record(rsc: string, op: OpName, intervalMs: number, result: OperationResult): Promise<boolean> {
    const failed = op === 'monitor' && intervalMs === 0 ? result.rc !== OCF.SUCCESS && result.rc !== OCF.NOT_RUNNING && result.rc !== OCF.RUNNING_PROMOTED : result.failed;
    this.emit('resource', { rsc, node: this.options.nodeName, op, intervalMs, rc: result.rc, ...(result.message === undefined ? {} : { message: result.message }) });
    return this.recordRc(rsc, op, intervalMs, result.rc, failed);
  }

  /** Writes the result to the CIB (only while quorate: a minority must not outvote the majority's copy). */
  private async recordRc(rsc: string, op: OpName, intervalMs: number, rc: number, failed: boolean): Promise<boolean> {
    if (!this.quorate || this.cib === undefined || this.closed) return false;
    const me = this.options.nodeName;
    const now = (this.options.wallClockMs ?? Date.now)();
    const callId = this.nextCallId();
    const ok = await this.propose({ op: 'record-op', node: me, resource: rsc, record: { op, intervalMs, rc, timeMs: now, callId } });
    if (ok && failed) {
      const previous = this.cib.status.nodes[me]?.resources?.[rsc]?.failCount ?? 0;
      // A failed start bans the node for this resource until cleanup (start-failure-is-fatal).
      const failCount = op === 'start' ? INFINITY : Math.min(INFINITY, previous + 1);
      await this.propose({ op: 'set-fail-count', node: me, resource: rsc, failCount, lastFailureMs: now });
    }
    return ok;
  }

  /**
   * Call ids order a node's records across its restarts: they continue above anything this node
   * recorded before (the executor's own ids restart from 1 in every run).
   */
  private nextCallId(): number {
    if (this.lastCallId === undefined) {
      let highest = 0;
      for (const rs of Object.values(this.cib?.status.nodes[this.options.nodeName]?.resources ?? {})) {
        for (const r of rs.ops) highest = Math.max(highest, r.callId);
      }
      this.lastCallId = highest;
    }
    this.lastCallId += 1;
    return this.lastCallId;
  }

  private async propose(change: CibChange): Promise<boolean> {
    try {
      await this.options.updateCib(change);
      return true;
    } catch (error) {
      if (!this.closed) this.emit('error', error);
      return false;
    }
  }

  private primitive(id: string): PrimitiveConfig | undefined {
    if (this.cib === undefined) return undefined;
    return listPrimitives(this.cib.config).find((i) => i.primitive.id === id)?.primitive;
  }

  /** Binds the resource to its agent in the executor; false when no agent serves it here. */
  private register(primitive: PrimitiveConfig): boolean {
    const agent = this.agentFor(primitive.agent);
    if (agent === undefined) return false;
    const params: Record<string, string> = { ...primitive.params };
    if (primitive.agent.class === 'ocf') {
      params['provider'] = primitive.agent.provider ?? 'heartbeat';
      params['type'] = primitive.agent.type;
    } else if (primitive.agent.class === 'systemd' || primitive.agent.class === 'service') {
      params['unit'] ??= primitive.agent.type;
    } else if (primitive.agent.class === 'lsb') {
      params['name'] ??= primitive.agent.type;
    }
    const signature = JSON.stringify([primitive.agent, params]);
    if (this.registered.get(primitive.id) !== signature) {
      this.executor.register(primitive.id, agent, params as never);
      this.registered.set(primitive.id, signature);
    }
    return true;
  }

  private agentFor(ref: AgentRef): ResourceAgent<never> | undefined {
    switch (ref.class) {
      case 'sanode':
        return this.options.agents?.[ref.type] ?? this.builtins[ref.type];
      case 'ocf':
        return (this.builtins['ocf'] ??= ocf() as ResourceAgent<never>);
      case 'systemd':
      case 'service':
        return (this.builtins['systemd'] ??= systemd() as ResourceAgent<never>);
      case 'lsb':
        return (this.builtins['lsb'] ??= lsb() as ResourceAgent<never>);
      default:
        return undefined;
    }
  }
}

function opTimeout(primitive: PrimitiveConfig, name: OpName, intervalMs: number): number {
  return primitive.ops?.find((o) => o.name === name && o.intervalMs === intervalMs)?.timeoutMs ?? 20_000;
}

/**
 * The longest time a VIP of this configuration can outlive a killed holder in its kernel: its
 * lease (renewed by monitor) plus the kernel's one-second rounding.
 */
function kernelLeaseMs(cib: Cib | undefined): number {
  let longest = 0;
  for (const { primitive } of cib === undefined ? [] : listPrimitives(cib.config)) {
    if (primitive.agent.class !== 'sanode' || primitive.agent.type !== 'vip') continue;
    const raw = primitive.params?.['leaseSeconds'];
    const seconds = raw === undefined ? DEFAULT_LEASE_SECONDS : raw === 'forever' ? 0 : Number(raw);
    if (Number.isFinite(seconds) && seconds > 0) longest = Math.max(longest, seconds * 1000 + 1000);
  }
  return longest;
}
