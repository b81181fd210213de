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
import { performance } from 'node:perf_hooks';
import { SanodeError } from '../errors/index.js';
import type { LeadershipEvent } from '../controller/leadership.js';
import { defaultLeadershipTimers, NodeController, parseControlMessage, type ControlMessage } from '../controller/node-controller.js';
import { resolveQuorumConfig, type QuorumDecision } from '../quorum/index.js';
import { PROFILES } from '../totem/index.js';
import type { Delivery, View } from '../totem/types.js';
import type { LinkStatus } from '../transport/index.js';
import { loadKeyFile } from '../wire/index.js';
import { resolveJoinOptions, type JoinClusterOptions, type ResolvedJoinOptions } from './options.js';
import { TotemRuntime } from './totem-runtime.js';

const CHANNEL_CONTROL = 0;
const CHANNEL_APP = 1;

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

export interface ClusterEvents {
  view: (view: View) => void;
  quorum: (quorum: QuorumEvent) => void;
  leader: (leader: LeaderEvent) => void;
  link: (status: LinkStatus) => void;
  message: (message: ClusterMessage) => void;
  error: (error: unknown) => void;
}

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

  private constructor(options: ResolvedJoinOptions, runtime: TotemRuntime, timers: { tokenTimeoutMs: number; consensusMs: number; tokenPerMemberMs?: number | undefined }) {
    super();
    this.options = options;
    this.runtime = runtime;
    this.controller = new NodeController({
      nodeId: options.nodeId,
      quorum: resolveQuorumConfig(options.quorum),
      // The lease outlives the membership change that follows the loss of another node, so a
      // follower's death never interrupts the leader (docs/leadership.md).
      leadership: defaultLeadershipTimers(timers, options.nodes.length, { leaseMs: options.leaseMs, clockDriftRatio: options.clockDriftRatio }),
    });
    runtime.on('view', (view) => this.onView(view));
    runtime.on('deliver', (delivery) => this.onDeliver(delivery));
    runtime.on('token', (provenAtMs) => this.step((now) => this.controller.onToken(provenAtMs, now)));
    runtime.on('link', (status) => this.emit('link', status));
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
    const runtime = await TotemRuntime.start({
      nodeId: options.nodeId,
      stateDir: options.stateDir,
      profile: options.profile,
      timers: options.timers,
      net: { wire: { cluster: options.cluster, security }, links: options.links, nodes: options.nodes },
    });
    const cluster = new Cluster(options, runtime, timers);
    if (runtime.view !== undefined) cluster.onView(runtime.view);
    await cluster.waitForFirstView(timers.tokenTimeoutMs * 10 + timers.consensusMs * 4);
    return cluster;
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
    if (!result.ok) {
      throw new SanodeError(
        result.reason === 'queue-full' ? 'SANODE_SEND_QUEUE_FULL' : 'SANODE_NOT_JOINED',
        result.reason === 'queue-full'
          ? 'the ordered send queue is full: the group is slower than this sender; wait for deliveries and retry'
          : 'this node has left the cluster',
      );
    }
  }

  get view(): View | undefined {
    return this.currentView;
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
      totem: runtimeStatus.totem,
    };
  }

  /**
   * Graceful leave: stop leader callbacks and wait for them, release the term in agreed order
   * (so a successor need not wait out the lease), then leave the ring without a timeout.
   */
  async leave(): Promise<void> {
    if (this.closed || this.leaveRequested) return;
    this.leaveRequested = true;
    this.step(() => this.controller.leave());
    // A leader's release is broadcast only once its callbacks have settled, so waiting for our
    // own release to be delivered (at most 1 s) also waits for the callbacks.
    await this.releaseDelivered;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.runtime.leave();
  }

  private onView(view: View): void {
    if (this.closed) return;
    this.currentView = view;
    this.emit('view', view);
    this.step((now) => this.controller.onView(view, now));
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
    }
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
      if (event.type === 'quorum') this.emit('quorum', { ...event.decision, viewId: event.viewId });
      else this.onLeadershipEvent(event);
    }
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
        this.emit('leader', { coordinator: this.options.nodeId, leading: true, epoch: event.epoch });
        break;
      }
      case 'leader-stop': {
        this.running?.controller.abort(new SanodeError('SANODE_NOT_JOINED', `leadership of epoch ${event.epoch} ended: ${event.reason}`));
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
    const deadline = this.controller.nextDeadlineMs();
    if (deadline === undefined || this.closed) return;
    const delayMs = Math.max(0, deadline - performance.now());
    this.timer = setTimeout(() => this.step((now) => this.controller.tick(now)), delayMs + 1);
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
