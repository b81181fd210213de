/**
 * What `joinCluster` returns: the totem runtime, quorum, leadership and the ordered application
 * channel bound together on one node, on real time.
 *
 * Ordered messages carry a channel number so sanode's own control messages (leader releases,
 * quorum notes, tie-breaker results) share the agreed order with the application's messages but
 * never reach its 'message' listeners. Channel numbers are append-only.
 */
import { EventEmitter } from 'eventemitter3';
import { pack, unpack } from 'msgpackr';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { emptyCib, type Cib } from '../cib/model.js';
import { loadCib, saveCib } from '../cib/persist.js';
import { CibReplica, type CibChange, type CibChangedEvent, type CibMessage, type CibVersion } from '../cib/replica.js';
import { SanodeError } from '../errors/index.js';
import type { LeadershipEvent } from '../controller/leadership.js';
import { defaultLeadershipTimers, NodeController, parseControlMessage, type ControlMessage } from '../controller/node-controller.js';
import { parseResourceMessage, ResourceManager, type ResourceEvent, type ResourceMessage } from './resource-manager.js';
import { CLI_BAN_PREFIX, CLI_PREFER_PREFIX, INFINITY, type TargetRole } from '../cib/model.js';
import { resolveQuorumConfig, type LmsKnowledge, type QuorumDecision } from '../quorum/index.js';
import { PROFILES } from '../totem/index.js';
import type { BroadcastResult, Delivery, View } from '../totem/types.js';
import type { AuthFailureSource, AuthFailureWarning, LinkStatus } from '../transport/index.js';
import { loadKeyFile } from '../wire/index.js';
import { resolveJoinOptions, type JoinClusterOptions, type ResolvedJoinOptions } from './options.js';
import { lmsStatePath as lmsStatePathIn, readLmsState, writeStateFile } from './state-file.js';
import { TotemRuntime } from './totem-runtime.js';

const CHANNEL_CONTROL = 0;
const CHANNEL_APP = 1;
/** The CIB replica's messages (lib/cib/replica.ts). */
const CHANNEL_CIB = 2;
const CHANNEL_RESOURCES = 3;

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
  error: (error: unknown) => void;
  /** Something an operator should fix that does not stop this node (e.g. SANODE_KEY_MISMATCH). */
  warning: (warning: ClusterWarning) => void;
}

export type ClusterWarning = AuthFailureWarning;

export interface ClusterStatus {
  readonly cluster: string;
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
  readonly totem: ReturnType<TotemRuntime['status']>['totem'];
}

export class Cluster extends EventEmitter<ClusterEvents> {
  private readonly options: ResolvedJoinOptions;
  private readonly runtime: TotemRuntime;
  /** Quorum and leadership for this node: the same wiring the simulator checks. */
  private readonly controller: NodeController;
  private readonly leaderCallbacks = new Set<LeaderCallback>();
  private running: { epoch: number; controller: AbortController; settled: Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private leaveRequested = false;
  private currentView: View | undefined;
  private releaseDelivered: Promise<void> | undefined;
  private resolveRelease: (() => void) | undefined;
  /** The replicated CIB; it changes only on CHANNEL_CIB deliveries and views (docs/cib.md). */
  private readonly cibReplica: CibReplica;
  private readonly cibRequests = new Map<string, { resolve: (version: CibVersion) => void; reject: (error: unknown) => void }>();
  private cibSyncWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  /** Resource management: the coordinator's transitions and this node's own resources. */
  private readonly resources: ResourceManager;

  private constructor(
    options: ResolvedJoinOptions,
    runtime: TotemRuntime,
    timers: { tokenTimeoutMs: number; consensusMs: number; tokenPerMemberMs?: number | undefined },
    cib: Cib,
    storedLms: LmsKnowledge | undefined,
  ) {
    super();
    this.options = options;
    this.runtime = runtime;
    this.cibReplica = new CibReplica({ nodeId: options.nodeId, session: runtime.incarnation, initial: cib });
    this.controller = new NodeController({
      nodeId: options.nodeId,
      quorum: resolveQuorumConfig(options.quorum),
      // The lease outlives the membership change that follows the loss of another node, so a
      // follower's death never interrupts the leader (docs/leadership.md).
      leadership: defaultLeadershipTimers(timers, options.nodes.length, { leaseMs: options.leaseMs, clockDriftRatio: options.clockDriftRatio }),
      // What last man standing stored before a restart (the tracker checks it against the config).
      persistedLms: storedLms,
    });
    const leadershipTimers = defaultLeadershipTimers(timers, options.nodes.length, { leaseMs: options.leaseMs, clockDriftRatio: options.clockDriftRatio });
    // A lost node's lease runs out within the leader takeover wait; then it has selfStopMs.
    const takeoverWaitMs = (leadershipTimers.tokenTimeoutMs + leadershipTimers.leaseMs) * (1 + 2 * leadershipTimers.clockDriftRatio);
    this.resources = new ResourceManager({
      nodeName: options.nodeName,
      nodes: cib.config.nodes.map((n) => n.name),
      agents: options.agents,
      lostNodeDeadlineMs: takeoverWaitMs + options.selfStopMs,
      leaseWindowMs: leadershipTimers.leaseMs * (1 - leadershipTimers.clockDriftRatio),
      selfStopMs: options.selfStopMs,
      manage: options.manageResources,
      nowMs: performance.now(),
      updateCib: (change) => this.updateCib(change),
      send: (message) => this.sendResources(message),
    });
    this.resources.onCib(this.cibReplica.current, this.cibReplica.synced, performance.now());
    this.resources.on('resource', (event) => this.emit('resource', event));
    this.resources.on('error', (error) => this.emit('error', error));
    runtime.on('view', (view, transitional) => this.onView(view, transitional));
    runtime.on('deliver', (delivery) => this.onDeliver(delivery));
    runtime.on('token', (provenAtMs) => {
      this.resources.onToken(provenAtMs);
      this.step((now) => this.controller.onToken(provenAtMs, now));
    });
    runtime.on('link', (status) => this.emit('link', status));
    runtime.on('error', (error) => this.emit('error', error));
    runtime.on('warning', (warning) => this.emit('warning', warning));
    // After a stall the lease is checked before anything else is processed: the others may
    // already have taken over.
    runtime.on('stall', () => this.step((now) => this.controller.tick(now)));
  }

  static async join(raw: JoinClusterOptions): Promise<Cluster> {
    const options = resolveJoinOptions(raw);
    resolveQuorumConfig(options.quorum); // refuse bad quorum options before binding anything
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
    const cib = loadCib(cibPathOf(options)) ?? emptyCib(options.cib);
    const storedLms = readLmsState(options.stateDir);
    const runtime = await TotemRuntime.start({
      nodeId: options.nodeId,
      stateDir: options.stateDir,
      profile: options.profile,
      timers: options.timers,
      net: { wire: { cluster: options.cluster, security }, links: options.links, nodes: options.nodes },
    });
    try {
      const cluster = new Cluster(options, runtime, timers, cib, storedLms);
      if (runtime.view !== undefined) cluster.onView(runtime.view);
      await cluster.waitForFirstView(timers.tokenTimeoutMs * 10 + timers.consensusMs * 4);
      return cluster;
    } catch (error) {
      // Whatever failed after binding, the port is released so the caller can try again.
      await runtime.close();
      throw error;
    }
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
    const result = this.runtime.broadcast(pack([CHANNEL_APP, data]));
    if (!result.ok) throw refusal(result, 'broadcast');
  }

  get view(): View | undefined {
    return this.currentView;
  }

  /** This node's copy of the CIB (a copy the caller may keep or change) and its version. */
  cib(): CibSnapshot {
    return { cib: structuredClone(this.cibReplica.current), version: this.cibReplica.version, synced: this.cibReplica.synced };
  }

  /**
   * Changes the CIB cluster-wide. Rejects at once with a CibError (SANODE_INVALID_CIB) when the
   * change is invalid against this node's copy, before anything is sent; otherwise resolves with
   * the new version once the change has been applied in agreed order and saved to this node's
   * disk, or rejects with the CibError every node reached if a concurrent change made it invalid.
   * Waits for a pending state exchange first, so it is judged against the group's copy.
   */
  async updateCib(change: CibChange, options: { force?: boolean } = {}): Promise<CibVersion> {
    await this.cibSynced();
    // A partition without quorum must not change the CIB: with enough changes its copy would win
    // when the partition heals (pacemaker refuses such writes too, unless forced).
    if (!this.controller.decision.quorate && options.force !== true) {
      throw new SanodeError('SANODE_NO_QUORUM', `this partition is not quorate (${this.controller.decision.reason}); CIB changes need quorum, or { force: true }`);
    }
    const { requestId, message } = this.cibReplica.propose(change);
    const applied = new Promise<CibVersion>((resolve, reject) => this.cibRequests.set(requestId, { resolve, reject }));
    const sent = this.sendCib(message);
    if (!sent.ok) {
      this.cibReplica.forget(requestId);
      this.cibRequests.delete(requestId);
      throw refusal(sent, 'CIB change');
    }
    return applied;
  }

  /** Clears the resource's failures (on one node, or all) and has every node probe it again. */
  async cleanup(rsc: string, node?: string): Promise<void> {
    const cib = this.cibReplica.current;
    for (const [name, status] of Object.entries(cib.status.nodes)) {
      if (node !== undefined && name !== node) continue;
      if (status.resources?.[rsc] !== undefined) await this.updateCib({ op: 'clear-fail-count', node: name, resource: rsc });
    }
    this.sendResources({ t: 'reprobe', rsc });
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
    for (const c of this.cibReplica.current.config.constraints ?? []) {
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
    const resource = this.cibReplica.current.config.resources.find((r) => r.id === rsc);
    if (resource === undefined) throw new SanodeError('SANODE_INVALID_CIB', `no top-level resource "${rsc}" (groups and clones are set as a whole)`);
    await this.updateCib({ op: 'set-resource', resource: { ...resource, meta: { ...resource.meta, targetRole: role } } as typeof resource });
  }

  status(): ClusterStatus {
    const runtimeStatus = this.runtime.status();
    const term = this.controller.currentTerm;
    return {
      cluster: this.options.cluster,
      node: { id: this.options.nodeId, name: this.options.nodeName, incarnation: this.runtime.incarnation },
      view: this.currentView,
      quorum: this.controller.decision,
      coordinator: term?.coordinator,
      leading: this.controller.isLeader,
      epoch: term?.epoch,
      links: runtimeStatus.links,
      drops: this.runtime.netStats().wire.dropped,
      authFailures: this.runtime.authFailures(),
      totem: runtimeStatus.totem,
    };
  }

  /**
   * Graceful leave: stop leader callbacks and wait for them, release the term in agreed order
   * (so a successor need not wait out the lease), then leave the ring without a timeout.
   */
  async leave(): Promise<void> {
    if (this.closed || this.leaveRequested) return;
    // Stop this node's resources and record it while still quorate, so they can start elsewhere
    // at once instead of after the lost-node deadline.
    await this.resources.close().catch((error: unknown) => this.emit('error', error));
    this.leaveRequested = true;
    this.step(() => this.controller.leave());
    // A leader's release is broadcast only once its callbacks have settled, so waiting for our
    // own release to be delivered (at most 1 s) also waits for the callbacks.
    await this.releaseDelivered;
    this.closed = true;
    this.failCibWaiters();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.runtime.leave();
  }

  private onView(view: View, transitional?: readonly number[]): void {
    if (this.closed) return;
    this.currentView = view;
    this.emit('view', view);
    this.resources.onView(view.members.map((id) => this.nameOf(id)), performance.now());
    this.step((now) => this.controller.onView(view, now, transitional));
    this.stepCib(() => this.cibReplica.onView(view));
  }

  private onDeliver(delivery: Delivery): void {
    let decoded: unknown;
    try {
      decoded = unpack(delivery.payload);
    } catch {
      return; // a member running another version; nothing to act on
    }
    if (!Array.isArray(decoded) || decoded.length !== 2) return;
    const [channel, body] = decoded as [number, unknown];
    if (channel === CHANNEL_APP) {
      this.emit('message', { from: delivery.sender, data: body });
    } else if (channel === CHANNEL_CONTROL) {
      this.onControl(delivery.sender, body);
    } else if (channel === CHANNEL_CIB) {
      this.stepCib(() => this.cibReplica.onDeliver(delivery.sender, body));
    } else if (channel === CHANNEL_RESOURCES) {
      const message = parseResourceMessage(body);
      const fromCoordinator = delivery.sender === this.controller.currentTerm?.coordinator;
      if (message !== undefined) this.step((now) => this.resources.onMessage(message, fromCoordinator, now));
    }
  }

  /** Feeds the CIB replica, then: persist, THEN send, THEN report (lib/cib/replica.ts). */
  private stepCib(input: () => void): void {
    if (this.closed) return;
    input();
    const output = this.cibReplica.takeOutput();
    if (output.persist !== undefined) {
      try {
        saveCib(cibPathOf(this.options), output.persist);
      } catch (error) {
        // The change is applied cluster-wide already; undoing it here would split this copy from
        // the others. The next successful save writes the whole CIB again.
        this.emit('error', error);
      }
    }
    for (const message of output.sends) this.sendCib(message);
    for (const event of output.changed) this.emit('cib', event);
    for (const outcome of output.outcomes) {
      const request = this.cibRequests.get(outcome.requestId);
      this.cibRequests.delete(outcome.requestId);
      if (outcome.ok) request?.resolve(outcome.version);
      else request?.reject(outcome.error);
    }
    this.resources.onCib(this.cibReplica.current, this.cibReplica.synced, performance.now());
    this.armTimer();
    if (this.cibReplica.synced) {
      const waiters = this.cibSyncWaiters;
      this.cibSyncWaiters = [];
      for (const w of waiters) w.resolve();
    }
  }

  private sendCib(message: CibMessage): BroadcastResult {
    if (this.closed) return { ok: false, reason: 'left' };
    const result = this.runtime.broadcast(pack([CHANNEL_CIB, message]));
    if (!result.ok && result.reason !== 'left' && message.t !== 'change') {
      // A lost announcement stalls this view's exchange until the next view; say so.
      this.emit('error', refusal(result, `CIB ${message.t} message`));
    }
    return result;
  }

  private cibSynced(): Promise<void> {
    if (this.closed || this.leaveRequested) return Promise.reject(new SanodeError('SANODE_NOT_JOINED', 'this node has left the cluster; join again to change the CIB'));
    if (this.cibReplica.synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.cibSyncWaiters.push({ resolve, reject }));
  }

  private failCibWaiters(): void {
    const unsent = new SanodeError('SANODE_NOT_JOINED', 'this node left the cluster before the CIB change was sent');
    for (const w of this.cibSyncWaiters) w.reject(unsent);
    const error = new SanodeError('SANODE_NOT_JOINED', 'this node left the cluster before the CIB change was applied here; the others may still apply it');
    this.cibSyncWaiters = [];
    for (const r of this.cibRequests.values()) r.reject(error);
    this.cibRequests.clear();
  }

  private onControl(from: number, body: unknown): void {
    const message = parseControlMessage(body);
    if (message === undefined) return; // a member running another version; nothing to act on
    if (message.t === 'release' && from === this.options.nodeId) this.resolveRelease?.();
    this.step((now) => this.controller.onControl(from, message, now));
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
        this.emit('error', error);
        return false;
      })
      .then((granted) => {
        clearTimeout(timeout);
        if (this.currentView === view) this.sendControl({ t: 'tiebreak', seq: view.id.seq, rep: view.id.rep, granted });
      });
  }

  /** Apply an input to the pure machines at the current time, then act on what they emit. */
  private step(input: (nowMs: number) => void): void {
    if (this.closed) return;
    input(performance.now());
    const output = this.controller.takeOutput();
    for (const event of output.events) {
      if (event.type === 'quorum') {
        this.emit('quorum', { ...event.decision, viewId: event.viewId });
        this.resources.onQuorum(event.decision.quorate, performance.now());
      } else {
        this.onLeadershipEvent(event);
      }
    }
    this.resources.tick(performance.now());
    // Last man standing knowledge is on disk before any note saying we stored it goes out.
    if (output.persist !== undefined) writeStateFile(lmsStatePath(this.options), output.persist);
    for (const control of output.controls) this.sendControl(control);
    for (const release of output.releases) this.sendReleaseWhenSettled(release.epoch);
    if (output.tieBreakerFor !== undefined) this.runTieBreaker(output.tieBreakerFor);
    this.armTimer();
  }

  private onLeadershipEvent(event: LeadershipEvent): void {
    switch (event.type) {
      case 'coordinator':
        this.emit('leader', { coordinator: event.node, leading: this.controller.isLeader, epoch: this.controller.currentTerm?.epoch });
        break;
      case 'leader-start': {
        const controller = new AbortController();
        const runs = [...this.leaderCallbacks].map((cb) => this.invoke(cb, event.epoch, controller.signal));
        this.running = { epoch: event.epoch, controller, settled: Promise.allSettled(runs).then(() => undefined) };
        this.resources.onCoordinator(event.epoch, performance.now());
        this.emit('leader', { coordinator: this.options.nodeId, leading: true, epoch: event.epoch });
        break;
      }
      case 'leader-stop': {
        this.running?.controller.abort(new SanodeError('SANODE_NOT_JOINED', `leadership of epoch ${event.epoch} ended: ${event.reason}`));
        this.resources.onCoordinator(undefined, performance.now());
        this.emit('leader', { coordinator: this.controller.currentTerm?.coordinator, leading: false, epoch: this.controller.currentTerm?.epoch });
        break;
      }
    }
  }

  private invoke(callback: LeaderCallback, epoch: number, signal: AbortSignal): Promise<void> {
    const context: LeaderContext = { epoch, signal, stillLeader: () => !signal.aborted && this.controller.stillLeader(performance.now()) };
    return Promise.resolve()
      .then(() => callback(context))
      .catch((error: unknown) => {
        if (!signal.aborted) this.emit('error', error);
      });
  }

  /** A release promises the callbacks have finished: send it only once they have. */
  private sendReleaseWhenSettled(epoch: number): void {
    const running = this.running;
    this.running = undefined;
    this.releaseDelivered = new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, 1000);
      this.resolveRelease = () => {
        clearTimeout(timeout);
        resolve();
      };
    });
    void (running?.settled ?? Promise.resolve()).then(() => this.sendControl({ t: 'release', epoch }, true));
  }

  private sendControl(message: ControlMessage, evenWhenLeaving = false): void {
    if (this.closed && !evenWhenLeaving) return;
    this.runtime.broadcast(pack([CHANNEL_CONTROL, message]));
  }

  private armTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const a = this.controller.nextDeadlineMs();
    const b = this.resources.nextDeadlineMs();
    const deadline = a === undefined ? b : b === undefined ? a : Math.min(a, b);
    if (deadline === undefined || this.closed) return;
    const delayMs = Math.max(0, deadline - performance.now());
    this.timer = setTimeout(() => this.step((now) => this.controller.tick(now)), delayMs + 1);
  }

  private nameOf(id: number): string {
    return this.cibReplica.current.config.nodes.find((n) => n.id === String(id))?.name ?? this.options.nodeNames.get(id) ?? `node-${id}`;
  }

  private sendResources(message: ResourceMessage): void {
    if (this.closed) return;
    const result = this.runtime.broadcast(pack([CHANNEL_RESOURCES, message]));
    if (!result.ok) this.emit('error', new SanodeError('SANODE_SEND_QUEUE_FULL', `could not send the resource ${message.t} message: ${result.reason}`));
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

function lmsStatePath(options: ResolvedJoinOptions): string {
  return lmsStatePathIn(options.stateDir);
}

function cibPathOf(options: ResolvedJoinOptions): string {
  return join(options.stateDir, 'cib.json');
}
