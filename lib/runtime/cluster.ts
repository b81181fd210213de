/**
 * What `joinCluster` returns: the node driver (lib/node) bound to real time, real UDP, the state
 * directory and the resource agents, behind the public API.
 *
 * This file is the runtime half of "one node driver, two bindings": everything a node decides
 * happens in NodeDriver, which the simulator runs too; here only the world is touched — the
 * monotonic clock, one timer, the sockets, the files, the agents, the leader callbacks.
 *
 * Each turn (`step`): feed the driver one input at performance.now(), then IN THIS ORDER persist
 * what it asks (ring seq, last man standing knowledge, CIB), send its packets, start its agent
 * operations, report its events, and re-arm the timer.
 */
import { EventEmitter } from 'eventemitter3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { emptyCib, type Cib } from '../cib/model.js';
import { loadCib, saveCib } from '../cib/persist.js';
import type { CibChange, CibChangedEvent, CibVersion } from '../cib/replica.js';
import { CLI_BAN_PREFIX, CLI_PREFER_PREFIX, INFINITY, type TargetRole } from '../cib/model.js';
import { isSanodeError, SanodeError } from '../errors/index.js';
import type { ResourceEvent } from '../controller/local-resources.js';
import type { FailoverReport } from '../controller/transition.js';
import { defaultLeadershipTimers, NodeController } from '../controller/node-controller.js';
import { NodeDriver, type NodeEvent } from '../node/driver.js';
import { resolveQuorumConfig, type LmsKnowledge, type QuorumDecision } from '../quorum/index.js';
import { createTotem, PROFILES, validateTotemConfig } from '../totem/index.js';
import type { BroadcastResult, TotemStatus, View } from '../totem/types.js';
import { ClusterNet, type AuthFailureSource, type AuthFailureWarning, type LinkStatus } from '../transport/index.js';
import { loadKeyFile } from '../wire/index.js';
import { AgentRunner } from './agent-runner.js';
import { resolveJoinOptions, type JoinClusterOptions, type ResolvedJoinOptions } from './options.js';
import {
  lmsStatePath as lmsStatePathIn,
  nextIncarnation,
  readLmsState,
  readPeerIncarnations,
  readTotemState,
  totemStatePath,
  writePeerIncarnations,
  writeStateFile,
  type PersistedTotemState,
} from './state-file.js';
import { ENVELOPE_RESERVE_BYTES } from './totem-runtime.js';

export type { ResourceEvent } from '../controller/local-resources.js';
export type { FailoverReport } from '../controller/transition.js';

/** Longer than the driver's own bounds on a leave (move away 10 s, final stops, release 1 s). */
const LEAVE_GUARD_MS = 30_000;

export interface LeaderContext {
  /** The term's fencing token: strictly grows across the cluster's life. */
  readonly epoch: number;
  /** Aborted when this node stops being leader (lost quorum, lease lapsed, another coordinator, leave). */
  readonly signal: AbortSignal;
  /** Checks the lease against the monotonic clock now: true only if still safely leader. */
  stillLeader(): boolean;
}

export type LeaderCallback = (context: LeaderContext) => Promise<void> | void;

export interface QuorumEvent extends QuorumDecision {
  readonly viewId: View['id'];
}

export interface LeaderEvent {
  /** The coordinator of the current view, if it is quorate. */
  readonly coordinator: number | undefined;
  /** Whether this node runs leader callbacks right now. */
  readonly leading: boolean;
  readonly epoch: number | undefined;
}

export interface ClusterMessage {
  readonly from: number;
  readonly data: unknown;
}

/** A change of this node's CIB copy: an applied change, or the copy the state exchange adopted. */
export type CibEvent = CibChangedEvent;

export interface CibSnapshot {
  readonly cib: Cib;
  readonly version: CibVersion;
  /** False while a state exchange is pending (the copy may be about to be replaced). */
  readonly synced: boolean;
}

export interface ClusterEvents {
  view: (view: View) => void;
  cib: (event: CibEvent) => void;
  quorum: (quorum: QuorumEvent) => void;
  leader: (leader: LeaderEvent) => void;
  link: (status: LinkStatus) => void;
  message: (message: ClusterMessage) => void;
  /** Every operation result of a resource on this node (start, stop, monitor, probe). */
  resource: (event: ResourceEvent) => void;
  /**
   * On the coordinator, once a lost node's resources have started elsewhere: where the time went,
   * in ms from the last token it handled of a ring with that node (view installed, deadline
   * passed, each resource started). docs/resources.md, "Where a failover's time goes".
   */
  failover: (report: FailoverReport) => void;
  /**
   * A condition worth an operator's attention, always a SanodeError with a stable `code`
   * (SANODE_SELF_STOP, SANODE_RESOURCE_CANNOT_RUN, ...; docs/errors.md). With no listener it
   * is not lost: it goes to process.emitWarning (printed on stderr by default).
   */
  error: (error: unknown) => void;
  /** Something an operator should fix that does not stop this node (e.g. SANODE_KEY_MISMATCH). */
  warning: (warning: ClusterWarning) => void;
}

export type ClusterWarning = AuthFailureWarning;

export interface ClusterStatus {
  readonly cluster: string;
  /** `name`: the CIB's name for this node's id (what resources are recorded under). */
  readonly node: { readonly id: number; readonly name: string; readonly incarnation: number };
  readonly view: View | undefined;
  readonly quorum: QuorumDecision;
  readonly coordinator: number | undefined;
  readonly leading: boolean;
  readonly epoch: number | undefined;
  readonly links: LinkStatus[];
  readonly drops: Readonly<Record<string, number>>;
  /** Sources whose frames of this cluster fail authentication: a peer with another key, most likely. */
  readonly authFailures: AuthFailureSource[];
  readonly totem: TotemStatus;
  /** Resources this node believes run here. */
  readonly activeResources: readonly string[];
}

interface CibRequest {
  resolve: (version: CibVersion) => void;
  reject: (error: unknown) => void;
}

export class Cluster extends EventEmitter<ClusterEvents> {
  private readonly options: ResolvedJoinOptions;
  private readonly driver: NodeDriver;
  private readonly net: ClusterNet;
  private readonly agents: AgentRunner;
  private readonly incarnation: number;
  private readonly totemStatePath: string;
  private totemState: PersistedTotemState;
  private readonly stallThresholdMs: number;
  private readonly leaderCallbacks = new Set<LeaderCallback>();
  private running: { epoch: number; controller: AbortController; settled: Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDueMs = Number.POSITIVE_INFINITY;
  private closed = false;
  private currentView: View | undefined;
  private readonly cibRequests = new Map<string, CibRequest>();
  /** Outcomes reported before updateCib() had registered its request (same turn). */
  private readonly pendingOutcomes = new Map<string, (request: CibRequest) => void>();
  private leaving: { resolve: () => void } | undefined;
  /**
   * Errors raised while joinCluster has not yet returned this cluster (a node the CIB does not
   * list, an orphan found by the first probe): nobody could have subscribed to 'error' yet, so
   * they wait until the caller's code after `await joinCluster(...)` has run.
   */
  private heldReports: unknown[] | undefined = [];
  /** See every reported error without counting as its handler (diagnostics). */
  private readonly errorObservers = new Set<(error: unknown) => void>();
  private leaveDone: Promise<void> | undefined;
  private readonly pendingOperations = new Set<Promise<void>>();

  private constructor(parts: {
    options: ResolvedJoinOptions;
    driver: (cluster: Cluster) => NodeDriver;
    net: ClusterNet;
    agents: AgentRunner;
    incarnation: number;
    totemStatePath: string;
    totemState: PersistedTotemState;
    stallThresholdMs: number;
  }) {
    super();
    this.options = parts.options;
    this.net = parts.net;
    this.agents = parts.agents;
    this.incarnation = parts.incarnation;
    this.totemStatePath = parts.totemStatePath;
    this.totemState = parts.totemState;
    this.stallThresholdMs = parts.stallThresholdMs;
    this.driver = parts.driver(this);
    this.net.on('message', (from, message) => {
      if (typeof message !== 'object' || message === null || typeof (message as { kind?: unknown }).kind !== 'number') return;
      if (!this.closed) this.driver.receive(from, message as Parameters<NodeDriver['receive']>[1], performance.now());
    });
    // The turn ends once per datagram: what answers a whole bundle of messages goes out together.
    this.net.on('batch', () => this.flush());
    this.net.on('link', (status) => this.emit('link', status));
    this.net.on('warning', (warning) => this.emit('warning', warning));
    this.agents.setReporter((report) => this.report(report));
    this.agents.setLeaseGate(() => this.driver.resourceLeaseUntilMs);
    this.flush();
  }

  static async join(raw: JoinClusterOptions): Promise<Cluster> {
    const options = resolveJoinOptions(raw);
    const quorum = resolveQuorumConfig(options.quorum); // refuse bad quorum options before binding anything
    const security =
      options.security.mode === 'insecure'
        ? ({ mode: 'insecure' } as const)
        : {
            mode: 'secure' as const,
            key:
              options.security.key ??
              (await loadKeyFile(options.security.keyFile!, { allowOpenPermissions: options.security.allowOpenKeyPermissions })),
          };
    const timers = { ...PROFILES[options.profile], ...options.timers };
    // Before binding anything: a saved CIB that cannot be read must stop the node, not be replaced.
    const cib = loadCib(join(options.stateDir, 'cib.json')) ?? emptyCib(options.cib);
    // Everything that can be refused is checked before a state file is written or a socket
    // bound: a refused start must leave nothing behind, so a retry in this process can work.
    const storedLms = readLmsState(options.stateDir);
    const previous = readTotemState(options.stateDir);
    const incarnation = nextIncarnation(options.stateDir, previous, Date.now());
    const nodeIds = options.nodes.map((n) => n.id);
    const totemConfig = { nodeId: options.nodeId, incarnation, nodes: nodeIds, ringSeq: previous.ringSeq, timers, maxSendQueue: 10_000, maxMessagesPerToken: 64, maxBytesPerToken: 64 * 1024 };
    validateTotemConfig(totemConfig);
    const floors = readPeerIncarnations(options.stateDir, nodeIds);
    const persisted = { ringSeq: previous.ringSeq, incarnation };
    const statePath = totemStatePath(options.stateDir);
    writeStateFile(statePath, persisted);
    const state = { incarnation, statePath, persisted, previous };
    const net = await ClusterNet.open({
      wire: { cluster: options.cluster, security, nodeId: options.nodeId, incarnation, knownNodes: nodeIds, incarnationFloors: floors },
      links: options.links,
      nodes: options.nodes,
      now: () => performance.now(),
      // Written before the frame is used: a crash right after must not forget it.
      onPeerIncarnation: (node, peerIncarnation) => {
        floors.set(node, peerIncarnation);
        writePeerIncarnations(options.stateDir, floors);
      },
    });
    const agents = new AgentRunner(options.agents, { stateDir: options.stateDir });
    try {
      return await Cluster.bindJoined(options, net, agents, state, totemConfig, quorum, cib, storedLms, timers);
    } catch (error) {
      // Whatever failed after binding, the port is released so the caller can try again.
      await agents.close();
      await net.close();
      throw error;
    }
  }

  private static async bindJoined(
    options: ResolvedJoinOptions,
    net: ClusterNet,
    agents: AgentRunner,
    state: { incarnation: number; statePath: string; persisted: PersistedTotemState },
    totemConfig: Parameters<typeof createTotem>[0],
    quorum: ReturnType<typeof resolveQuorumConfig>,
    cib: Cib,
    storedLms: LmsKnowledge | undefined,
    timers: (typeof PROFILES)[keyof typeof PROFILES],
  ): Promise<Cluster> {
    // The lease outlives the membership change that follows the loss of another node, so a
    // follower's death never interrupts the leader (docs/leadership.md).
    const lease = defaultLeadershipTimers(timers, options.nodes.length, { leaseMs: options.leaseMs, clockDriftRatio: options.clockDriftRatio });
    const cluster = new Cluster({
      options,
      net,
      agents,
      incarnation: state.incarnation,
      totemStatePath: state.statePath,
      totemState: state.persisted,
      stallThresholdMs: Math.max(50, timers.tokenTimeoutMs / 4),
      driver: () => {
        const nowMs = performance.now();
        return new NodeDriver({
          nodeId: options.nodeId,
          nodeName: options.nodeName,
          nodeNameExplicit: options.nodeName !== `node-${options.nodeId}`,
          incarnation: state.incarnation,
          // What is left of a wire message once totem's largest envelope is taken off: no packet
          // totem makes is then refused by the wire.
          core: createTotem({ ...totemConfig, maxPayloadBytes: net.maxMessageBytes - ENVELOPE_RESERVE_BYTES }, nowMs),
          controller: new NodeController({
            nodeId: options.nodeId,
            quorum,
            leadership: lease,
            // What last man standing stored before a restart (the tracker checks it against the config).
            persistedLms: storedLms,
          }),
          cib,
          lease,
          resources: { manage: options.manageResources, selfStopMs: options.selfStopMs, holdoverMs: (p) => agents.holdoverMs(p) },
          wallClockOffsetMs: Date.now() - nowMs,
          maxSendQueue: totemConfig.maxSendQueue,
          nowMs,
        });
      },
    });
    await cluster.waitForFirstView(timers.tokenTimeoutMs * 10 + timers.consensusMs * 4);
    // The caller's code after the await (which attaches its listeners) runs before this.
    setImmediate(() => cluster.releaseReports());
    return cluster;
  }

  /**
   * Calls `handler` with every error this node reports, without being a listener of 'error':
   * an error nobody else listens to still becomes a process warning. For sanode's own
   * observers (diagnostics channels); returns the function that stops it.
   */
  observeErrors(handler: (error: unknown) => void): () => void {
    this.errorObservers.add(handler);
    return () => this.errorObservers.delete(handler);
  }

  private releaseReports(): void {
    const held = this.heldReports ?? [];
    this.heldReports = undefined;
    for (const error of held) this.report(error);
  }

  /** Runs `callback` whenever this node leads; its signal aborts when it stops leading. */
  onLeader(callback: LeaderCallback): () => void {
    this.leaderCallbacks.add(callback);
    if (this.running !== undefined) this.invoke(callback, this.running.epoch, this.running.controller.signal);
    return () => this.leaderCallbacks.delete(callback);
  }

  /** Ordered broadcast to every member (this node included), with totem's guarantees. */
  broadcast(data: unknown): void {
    if (this.closed) throw new SanodeError('SANODE_NOT_JOINED', 'this node has left the cluster; join again to broadcast');
    const result = this.call((d, now) => d.broadcast(data, now));
    if (!result.ok) throw refusal(result, 'broadcast');
  }

  get view(): View | undefined {
    return this.currentView;
  }

  /** This node's copy of the CIB (a copy the caller may keep or change) and its version. */
  cib(): CibSnapshot {
    const c = this.driver.cib;
    return { cib: structuredClone(c.cib), version: c.version, synced: c.synced };
  }

  /**
   * Changes the CIB cluster-wide. Rejects at once with a CibError (SANODE_INVALID_CIB) when the
   * change is invalid against this node's copy, before anything is sent; otherwise resolves with
   * the new version once the change has been applied in agreed order, saved to this node's disk
   * and held by every member of the ring (docs/cib.md), or rejects with the CibError every node
   * reached if a concurrent change made it invalid, or with SANODE_CIB_OUTCOME_UNKNOWN if the
   * membership changed before the change was known to last.
   * Waits for a pending state exchange first, so it is judged against the group's copy.
   */
  async updateCib(change: CibChange, options: { force?: boolean } = {}): Promise<CibVersion> {
    if (this.closed || this.leaving !== undefined) throw new SanodeError('SANODE_NOT_JOINED', 'this node has left the cluster; join again to change the CIB');
    let request: CibRequest | undefined;
    const applied = new Promise<CibVersion>((resolve, reject) => {
      request = { resolve, reject };
    });
    // A refusal (invalid change, no quorum) is thrown here, before anything was sent.
    const id = this.call((d, now) => d.updateCib(change, now, options));
    this.cibRequests.set(id, request!);
    this.pendingOutcomes.get(id)?.(request!);
    this.pendingOutcomes.delete(id);
    return applied;
  }

  /** Clears the resource's failures (on one node, or all) and has every node probe it again. */
  async cleanup(rsc: string, node?: string): Promise<void> {
    const cib = this.driver.cib.cib;
    for (const [name, status] of Object.entries(cib.status.nodes)) {
      if (node !== undefined && name !== node) continue;
      if (status.resources?.[rsc] !== undefined) await this.updateCib({ op: 'clear-fail-count', node: name, resource: rsc });
    }
    this.step((d, now) => {
      const result = d.sendResourceMessage({ t: 'reprobe', rsc }, now);
      if (!result.ok) this.report(new SanodeError('SANODE_SEND_QUEUE_FULL', `could not send the reprobe of ${rsc}: ${result.reason}`));
    });
  }

  /** Standby: resources move away from the node; online again: they may come back (stickiness permitting). */
  async standby(node: string, on: boolean): Promise<void> {
    await this.updateCib({ op: 'set-standby', node, standby: on });
  }

  /** Prefers `node` for the resource until clearResource (pacemaker's cli-prefer). */
  async moveResource(rsc: string, node: string): Promise<void> {
    await this.updateCib({ op: 'set-constraint', constraint: { kind: 'location', id: `${CLI_PREFER_PREFIX}${rsc}`, rsc, node, score: INFINITY } });
  }

  /** Keeps the resource off `node` until clearResource (pacemaker's cli-ban). */
  async banResource(rsc: string, node: string): Promise<void> {
    await this.updateCib({ op: 'set-constraint', constraint: { kind: 'location', id: `${CLI_BAN_PREFIX}${rsc}-on-${node}`, rsc, node, score: -INFINITY } });
  }

  /** Removes the move and ban constraints made for the resource. */
  async clearResource(rsc: string): Promise<void> {
    for (const c of this.driver.cib.cib.config.constraints ?? []) {
      if (c.kind === 'location' && c.rsc === rsc && (c.id === `${CLI_PREFER_PREFIX}${rsc}` || c.id.startsWith(`${CLI_BAN_PREFIX}${rsc}-on-`))) {
        await this.updateCib({ op: 'remove-constraint', id: c.id });
      }
    }
  }

  startResource(rsc: string): Promise<void> {
    return this.setTargetRole(rsc, 'Started');
  }

  stopResource(rsc: string): Promise<void> {
    return this.setTargetRole(rsc, 'Stopped');
  }

  private async setTargetRole(rsc: string, role: TargetRole): Promise<void> {
    const resource = this.driver.cib.cib.config.resources.find((r) => r.id === rsc);
    if (resource === undefined) throw new SanodeError('SANODE_INVALID_CIB', `no top-level resource "${rsc}" (groups and clones are set as a whole)`);
    await this.updateCib({ op: 'set-resource', resource: { ...resource, meta: { ...resource.meta, targetRole: role } } as typeof resource });
  }

  status(): ClusterStatus {
    const term = this.driver.controller.currentTerm;
    return {
      cluster: this.options.cluster,
      node: { id: this.options.nodeId, name: this.driver.name ?? this.options.nodeName, incarnation: this.incarnation },
      view: this.currentView,
      quorum: this.driver.controller.decision,
      coordinator: term?.coordinator,
      leading: this.driver.controller.isLeader,
      epoch: term?.epoch,
      links: this.net.linkStatus(),
      drops: this.net.stats().wire.dropped,
      authFailures: this.net.authFailures(),
      totem: this.driver.totem.status(),
      activeResources: this.driver.activeResources,
    };
  }

  /**
   * Graceful leave: this node's resources move away while it is still a member (a run-time
   * standby), leader callbacks stop and the term is released in agreed order (so a successor
   * need not wait out the lease), then the ring is told, without a timeout.
   */
  async leave(): Promise<void> {
    if (this.closed) return;
    if (this.leaveDone !== undefined) return this.leaveDone;
    this.leaveDone = new Promise<void>((resolve) => {
      // Bounded: the move away, the final stops and the release wait are each bounded in the
      // driver; if they still have not ended by then, leave anyway and say so.
      const guard = setTimeout(() => {
        this.report(new SanodeError('SANODE_NOT_JOINED', `node ${this.options.nodeId}: the graceful leave did not finish within ${LEAVE_GUARD_MS} ms; leaving now`));
        resolve();
      }, LEAVE_GUARD_MS);
      this.leaving = {
        resolve: () => {
          clearTimeout(guard);
          resolve();
        },
      };
      this.step((d, now) => d.leave(now));
    }).then(() => this.close());
    return this.leaveDone;
  }

  // ---------------------------------------------------------------------------------- the loop

  /** One turn: an input to the driver at the current time, then its output acted on. */
  private step(input: (driver: NodeDriver, nowMs: number) => void): void {
    if (this.closed) return;
    input(this.driver, performance.now());
    this.flush();
  }

  /** A turn whose input returns a value or throws a refusal for its caller; the output is acted on either way. */
  private call<T>(input: (driver: NodeDriver, nowMs: number) => T): T {
    try {
      return input(this.driver, performance.now());
    } finally {
      this.flush();
    }
  }

  private flush(): void {
    if (this.closed) return;
    const out = this.driver.takeOutput();
    // Persist, THEN send, THEN report (lib/node/driver.ts).
    if (out.persist.ringSeq !== undefined && out.persist.ringSeq !== this.totemState.ringSeq) {
      this.totemState = { ...this.totemState, ringSeq: out.persist.ringSeq };
      writeStateFile(this.totemStatePath, this.totemState);
    }
    if (out.persist.lms !== undefined) writeStateFile(lmsStatePath(this.options), out.persist.lms);
    if (out.persist.cib !== undefined) {
      try {
        saveCib(join(this.options.stateDir, 'cib.json'), out.persist.cib);
      } catch (error) {
        // The change is applied cluster-wide already; undoing it here would split this copy from
        // the others. The next successful save writes the whole CIB again.
        this.report(error);
      }
    }
    // One packet the wire refuses must not take the rest of this output (a token, another
    // member's retransmission) down with it; the core's own size limit makes this rare.
    if (out.sends.length > 0) this.net.sendBatch(out.sends, (error) => this.report(error));
    for (const operation of out.operations) {
      const done: Promise<void> = this.agents.run(operation).then((outcome) => {
        this.pendingOperations.delete(done);
        this.step((d, now) => d.operationResult(operation.opId, outcome, now));
      });
      this.pendingOperations.add(done);
    }
    for (const event of out.events) this.onEvent(event);
    if (out.tieBreakerFor !== undefined) this.runTieBreaker(out.tieBreakerFor);
    this.armTimer();
  }

  private onEvent(event: NodeEvent): void {
    switch (event.type) {
      case 'view':
        this.currentView = event.view;
        this.emit('view', event.view);
        return;
      case 'quorum':
        this.emit('quorum', { ...event.decision, viewId: event.viewId });
        return;
      case 'coordinator':
        this.emit('leader', { coordinator: event.node, leading: this.driver.controller.isLeader, epoch: this.driver.controller.currentTerm?.epoch });
        return;
      case 'leader-start': {
        const controller = new AbortController();
        const runs = [...this.leaderCallbacks].map((cb) => this.invoke(cb, event.epoch, controller.signal));
        this.running = { epoch: event.epoch, controller, settled: Promise.allSettled(runs).then(() => undefined) };
        this.emit('leader', { coordinator: this.options.nodeId, leading: true, epoch: event.epoch });
        return;
      }
      case 'leader-stop': {
        const running = this.running?.epoch === event.epoch ? this.running : undefined;
        if (running !== undefined) this.running = undefined;
        running?.controller.abort(new SanodeError('SANODE_NOT_JOINED', `leadership of epoch ${event.epoch} ended: ${event.reason}`));
        // A release promises the callbacks have finished: say so only once they have.
        void (running?.settled ?? Promise.resolve()).then(() => this.step((d, now) => d.leaderSettled(event.epoch, now)));
        this.emit('leader', { coordinator: this.driver.controller.currentTerm?.coordinator, leading: false, epoch: this.driver.controller.currentTerm?.epoch });
        return;
      }
      case 'message':
        this.emit('message', { from: event.from, data: event.data });
        return;
      case 'cib':
        this.emit('cib', event.event);
        return;
      case 'cib-synced':
        return;
      case 'cib-outcome': {
        const settle = (request: CibRequest): void => (event.ok ? request.resolve(event.version) : request.reject(event.error));
        const request = this.cibRequests.get(event.requestId);
        this.cibRequests.delete(event.requestId);
        // An outcome can come out of the very turn that proposed the change (a ring of one).
        if (request === undefined) this.pendingOutcomes.set(event.requestId, settle);
        else settle(request);
        return;
      }
      case 'resource':
        this.emit('resource', event.event);
        return;
      case 'failover':
        this.emit('failover', event.report);
        return;
      case 'error':
        if (event.error.code === 'SANODE_SELF_STOP') this.agents.leaseLost(event.error.message);
        this.report(event.error);
        return;
      case 'left':
        this.leaving?.resolve();
        return;
    }
  }

  /** An 'error' nobody listens to is not dropped: it becomes a process warning (stderr by default). */
  private report(error: unknown): void {
    if (this.heldReports !== undefined) {
      this.heldReports.push(error);
      return;
    }
    for (const observe of this.errorObservers) observe(error);
    if (this.listenerCount('error') > 0) {
      this.emit('error', error);
      return;
    }
    const code = isSanodeError(error) ? error.code : 'SANODE_ERROR';
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(`node ${this.options.nodeId}: ${message}`, { type: 'SanodeWarning', code });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    // Give the leave announcement a moment on the wire before the socket goes.
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.closed = true;
    this.driver.close();
    if (this.timer !== undefined) clearTimeout(this.timer);
    const error = new SanodeError('SANODE_NOT_JOINED', 'this node left the cluster before the CIB change was applied here; the others may still apply it');
    for (const r of this.cibRequests.values()) r.reject(error);
    this.cibRequests.clear();
    await this.agents.close();
    await this.net.close();
  }

  private onTimer(): void {
    const dueMs = this.timerDueMs;
    this.timer = undefined;
    this.timerDueMs = Number.POSITIVE_INFINITY;
    if (this.closed) return;
    const lateMs = performance.now() - dueMs;
    if (lateMs > this.stallThresholdMs) {
      // After a stall the leases are judged first (the others may have taken over); then, since
      // Node runs expired timers before polling sockets and the token we were waiting for may
      // already sit in the socket buffer, the poll phase delivers it before the timers run.
      this.step((d, now) => d.stalled(now));
      setImmediate(() => this.step((d, now) => d.tick(now)));
      return;
    }
    this.step((d, now) => d.tick(now));
  }

  private armTimer(): void {
    const deadline = this.closed ? undefined : this.driver.nextDeadlineMs();
    if (deadline === undefined) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDueMs = Number.POSITIVE_INFINITY;
      return;
    }
    // Re-armed when the deadline moves either way: a timer left at an earlier deadline (a token
    // retransmission the ack made unneeded) would wake an idle process for nothing, and a
    // wake-up costs far more than re-arming.
    if (this.timer !== undefined && deadline === this.timerDueMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDueMs = deadline;
    // +1: a timer fires at whole ms; a fractional deadline (a lease) is due just after.
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, deadline - performance.now()) + 1);
  }

  private invoke(callback: LeaderCallback, epoch: number, signal: AbortSignal): Promise<void> {
    const context: LeaderContext = { epoch, signal, stillLeader: () => !signal.aborted && this.driver.controller.stillLeader(performance.now()) };
    return Promise.resolve()
      .then(() => callback(context))
      .catch((error: unknown) => {
        if (!signal.aborted) this.report(error);
      });
  }

  /** Only the lowest member asks, and tells the rest in agreed order, so the view agrees on it. */
  private runTieBreaker(view: View): void {
    const check = this.options.tieBreakerCheck;
    if (check === undefined) return;
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), this.options.tieBreakerTimeoutMs);
    void Promise.resolve()
      .then(() => check({ members: view.members, signal: controller.signal }))
      .then((granted) => granted === true && !controller.signal.aborted)
      .catch((error: unknown) => {
        this.report(error);
        return false;
      })
      .then((granted) => {
        clearTimeout(timeout);
        this.step((d, now) => d.tieBreakerResult(view, granted, now));
      });
  }

  private waitForFirstView(timeoutMs: number): Promise<void> {
    if (this.currentView !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.once('view', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function lmsStatePath(options: ResolvedJoinOptions): string {
  return lmsStatePathIn(options.stateDir);
}

/** The typed error for a broadcast totem refused, naming what was refused and what to do. */
function refusal(result: BroadcastResult & { ok: false }, what: string): SanodeError {
  switch (result.reason) {
    case 'too-large':
      return new SanodeError(
        'SANODE_MESSAGE_TOO_LARGE',
        `${what} refused: it is over the largest message this node sends (${result.maxPayloadBytes} bytes once encoded); ` +
          'nothing was queued; send it in smaller pieces',
        { field: 'maxLargeMessageBytes' },
      );
    case 'queue-full':
      return new SanodeError('SANODE_SEND_QUEUE_FULL', `${what} refused: the ordered send queue is full (the group is slower than this sender); wait for deliveries and retry`);
    case 'left':
      return new SanodeError('SANODE_NOT_JOINED', `${what} refused: this node has left the cluster; join again`);
  }
}
