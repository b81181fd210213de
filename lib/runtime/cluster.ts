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
import { Leadership, type LeadershipEvent } from '../controller/leadership.js';
import { QuorumTracker, resolveQuorumConfig, type QuorumDecision } from '../quorum/index.js';
import { PROFILES } from '../totem/index.js';
import type { Delivery, View } from '../totem/types.js';
import type { LinkStatus } from '../transport/index.js';
import { loadKeyFile } from '../wire/index.js';
import { resolveJoinOptions, type JoinClusterOptions, type ResolvedJoinOptions } from './options.js';
import { TotemRuntime } from './totem-runtime.js';

const CHANNEL_CONTROL = 0;
const CHANNEL_APP = 1;

type ControlMessage =
  | { t: 'release'; epoch: number }
  | { t: 'quorate' }
  | { t: 'tiebreak'; seq: number; rep: number; granted: boolean };

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
  private readonly quorum: QuorumTracker;
  private readonly leadership: Leadership;
  private readonly leaderCallbacks = new Set<LeaderCallback>();
  private running: { epoch: number; controller: AbortController; settled: Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private leaveRequested = false;
  private currentView: View | undefined;

  private constructor(options: ResolvedJoinOptions, runtime: TotemRuntime, timers: { tokenTimeoutMs: number; consensusMs: number }) {
    super();
    this.options = options;
    this.runtime = runtime;
    this.quorum = new QuorumTracker(resolveQuorumConfig(options.quorum));
    this.leadership = new Leadership(options.nodeId, {
      // Long enough to outlive the membership change that follows the loss of another node
      // (token loss, then at most a consensus period of gathering), so a follower's death never
      // interrupts the leader; the price is paid only when the leader itself is lost.
      leaseMs: options.leaseMs ?? timers.tokenTimeoutMs + timers.consensusMs,
      tokenTimeoutMs: timers.tokenTimeoutMs,
      clockDriftRatio: options.clockDriftRatio,
    });
    runtime.on('view', (view) => this.onView(view));
    runtime.on('deliver', (delivery) => this.onDeliver(delivery));
    runtime.on('token', () => this.onToken());
    runtime.on('link', (status) => this.emit('link', status));
    // After a stall the lease is checked before anything else is processed: the others may
    // already have taken over.
    runtime.on('stall', () => this.step((now) => this.leadership.tick(now)));
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
    const term = this.leadership.currentTerm;
    return {
      cluster: this.options.cluster,
      node: { id: this.options.nodeId, name: this.options.nodeName, incarnation: this.runtime.incarnation },
      view: this.currentView,
      quorum: this.quorum.decision,
      coordinator: term?.coordinator,
      leading: this.leadership.isLeader,
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
    this.step(() => this.leadership.leave());
    await this.running?.settled;
    await this.releaseDelivered;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.runtime.leave();
  }

  private releaseDelivered: Promise<void> | undefined;

  private onView(view: View): void {
    if (this.closed) return;
    this.currentView = view;
    this.emit('view', view);
    this.step((now) => {
      const decision = this.quorum.onView(view.members, now);
      this.emitQuorum(view);
      this.leadership.onView(view, decision.quorate, now);
      if (decision.quorate && this.options.quorum.waitForAll !== false) this.sendControl({ t: 'quorate' });
      if (decision.reason === 'tie-breaker-pending' && view.members[0] === this.options.nodeId) this.runTieBreaker(view);
    });
  }

  private onToken(): void {
    this.step((now) => this.leadership.onToken(now));
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
      this.onControl(delivery.sender, body as ControlMessage);
    }
  }

  private onControl(from: number, message: ControlMessage): void {
    if (typeof message !== 'object' || message === null) return;
    const view = this.currentView;
    this.step((now) => {
      if (message.t === 'release' && typeof message.epoch === 'number') {
        this.leadership.onRelease(from, { type: 'release', epoch: message.epoch }, now);
        if (from === this.options.nodeId) this.resolveRelease?.();
      } else if (message.t === 'quorate') {
        const before = this.quorum.decision.quorate;
        const after = this.quorum.onMemberQuorate(from);
        if (view !== undefined && after.quorate !== before) {
          this.emitQuorum(view);
          this.leadership.onView(view, after.quorate, now);
        }
      } else if (message.t === 'tiebreak' && view !== undefined && message.seq === view.id.seq && message.rep === view.id.rep) {
        const before = this.quorum.decision.quorate;
        const after = this.quorum.onTieBreakerResult(message.granted === true);
        this.emitQuorum(view);
        if (after.quorate !== before) this.leadership.onView(view, after.quorate, now);
      }
    });
  }

  private resolveRelease: (() => void) | undefined;

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
    const now = performance.now();
    input(now);
    this.quorum.tick(now);
    this.leadership.tick(now);
    const output = this.leadership.takeOutput();
    for (const event of output.events) this.onLeadershipEvent(event);
    for (const release of output.broadcasts) this.sendReleaseWhenSettled(release.epoch);
    this.armTimer();
  }

  private onLeadershipEvent(event: LeadershipEvent): void {
    switch (event.type) {
      case 'coordinator':
        this.emit('leader', { coordinator: event.node, leading: this.leadership.isLeader, epoch: this.leadership.currentTerm?.epoch });
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
        this.emit('leader', { coordinator: this.leadership.currentTerm?.coordinator, leading: false, epoch: this.leadership.currentTerm?.epoch });
        break;
      }
    }
  }

  private invoke(callback: LeaderCallback, epoch: number, signal: AbortSignal): Promise<void> {
    const context: LeaderContext = { epoch, signal, stillLeader: () => !signal.aborted && this.leadership.stillLeader(performance.now()) };
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

  private lastQuorumKey = '';

  private emitQuorum(view: View): void {
    const d = this.quorum.decision;
    const key = `${view.id.seq}.${view.id.rep}/${d.quorate}/${d.reason}/${d.expectedVotes}`;
    if (key === this.lastQuorumKey) return;
    this.lastQuorumKey = key;
    this.emit('quorum', { ...d, viewId: view.id });
  }

  private armTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const deadlines = [this.leadership.nextDeadlineMs(), this.quorum.nextDeadlineMs()].filter((d): d is number => d !== undefined);
    if (deadlines.length === 0 || this.closed) return;
    const delayMs = Math.max(0, Math.min(...deadlines) - performance.now());
    this.timer = setTimeout(() => this.step(() => undefined), delayMs + 1);
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
