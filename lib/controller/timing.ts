/**
 * Every safety formula about time, in one place: the leader's lease window and takeover wait,
 * a node's resource lease, and the lost-node deadline. Leadership (leadership.ts), the transition
 * engine (transition.ts), the node's resource controller (local-resources.ts), the node driver
 * (lib/node) and the simulator's checkers all read them from here, so the argument in
 * docs/leadership.md and docs/resources.md has exactly one implementation.
 *
 * Pure arithmetic: no clock, no state.
 */

export interface LeaseTimers {
  /** A holder without proof of an intact ring for this long (on its own clock) gives up. */
  readonly leaseMs: number;
  /** The ring's effective token timeout: how long after the last token a member is declared gone. */
  readonly tokenTimeoutMs: number;
  /** Largest relative clock-rate difference between two nodes (0.01 = 1 %). */
  readonly clockDriftRatio: number;
}

/**
 * The lease as the holder measures it: shrunk by the worst rate difference, so that on any other
 * node's clock it has certainly ended after `leaseMs`.
 */
export function leaseWindowMs(t: LeaseTimers): number {
  return t.leaseMs * (1 - t.clockDriftRatio);
}

/**
 * How long after installing a view without the old holder a successor must wait before the old
 * holder's lease has certainly ended: the old holder may have passed a token up to a token
 * timeout before the survivors declared the ring broken, and its lease runs from there; both
 * stretched by the rate difference seen from the successor's clock.
 */
export function takeoverWaitMs(t: LeaseTimers): number {
  return (t.tokenTimeoutMs + t.leaseMs) * (1 + 2 * t.clockDriftRatio);
}

/**
 * How long after the coordinator saw a node leave the view that node's resources still count as
 * running there. Two ways a lost node can still hold a resource:
 *  - it is alive but cut off: its lease runs out within the takeover wait, then it stops its
 *    resources within `selfStopMs` (each agent's stop is bounded by what remains of it);
 *  - it is dead or frozen: it stopped acting before the survivors saw it go, but an agent may
 *    leave something behind that lives on by itself for a bounded time — the agent's declared
 *    holdover (a VIP held on a kernel lease: the kernel drops it within that lease of the last
 *    renewal, which came before the view change).
 * The later of the two.
 */
export function lostNodeDeadlineMs(t: LeaseTimers, selfStopMs: number, agentHoldoverMs: number): number {
  return Math.max(takeoverWaitMs(t) + selfStopMs, agentHoldoverMs);
}

/**
 * The growing wait before a resource that keeps failing on a node is started there again
 * (docs/resources.md, "Failures and back-off"). The first failure is recovered at once, as
 * pacemaker does; from the second on the wait doubles from `baseMs` up to `maxMs`, so a resource
 * that fails right after every start costs a few operations a minute instead of ten a second.
 */
export function restartBackoffMs(failCount: number, baseMs: number, maxMs: number): number {
  if (!(failCount >= 2)) return 0;
  const exponent = Math.min(failCount - 2, 30);
  return Math.min(maxMs, baseMs * 2 ** exponent);
}
