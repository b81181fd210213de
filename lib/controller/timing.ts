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
 * How long after the last proof that a lost node shared a ring with this node (this node's last
 * token, or install, of a ring that contained it: see `unprovenLastProofMs`) that node's
 * resources still count as active there.
 *
 * Why the last token bounds the lost node's lease: a node renews its resource lease only when a
 * token it passed on comes back (TotemOutput.tokenAcceptedMs), and it dates the renewal from when
 * it passed the token, not from when it came back. A token that came back had gone through every
 * member, this node included, after that moment; so every renewal the lost node made is older
 * than this node's last token of a ring with it. Its lease ends within `leaseMs` of that (on any
 * clock, since the holder measures a window shrunk by the drift: leaseWindowMs).
 *
 * What may outlive the lease: `afterLeaseMs`, the longest of the resources' holdover bounds
 * (`holdoverAfterLeaseMs`). Both parts are measured on other nodes' clocks, so both are stretched
 * by the rate difference.
 */
export function lostNodeDeadlineMs(t: LeaseTimers, afterLeaseMs: number): number {
  return (t.leaseMs + afterLeaseMs) * (1 + 2 * t.clockDriftRatio);
}

/**
 * The last proof to count from when this node has no token of a ring with the lost node: it
 * started after that node was gone, or never shared a ring with it. The lost node's renewals are
 * then bounded only by the view change seen here, and it may have renewed up to a token timeout
 * before the survivors gave up on its ring (the margin the takeover wait has).
 */
export function unprovenLastProofMs(t: LeaseTimers, viewChangeMs: number): number {
  return viewChangeMs + t.tokenTimeoutMs * (1 + 2 * t.clockDriftRatio);
}

/**
 * One resource's holdover: how long after its node's lease ended what its agent started may
 * still be active, whatever that node does meanwhile (runs on cut off, freezes, dies).
 *  - An agent whose resource the kernel ends by itself declares that bound
 *    (ResourceAgent.holdoverMs: a VIP on a kernel lease), and it holds even if the node's stop
 *    never runs; a resource's `holdoverMs` meta attribute overrides it (a service that is
 *    reachable only through a kernel-leased address of its group: 0).
 *  - Anything else is ended by its node. A node cut off stops its resources within `selfStopMs`
 *    of its lease's end. A node frozen just before its lease ended does nothing while frozen,
 *    but its resources are still there, and it stops them only when it resumes (its first turn
 *    judges the lease before anything else); sanode rides out stalls shorter than the lease
 *    (docs/leadership.md, "Stalls"), so such a node has resumed and begun to stop within
 *    `leaseMs`. The later of the two.
 */
export function holdoverAfterLeaseMs(t: LeaseTimers, selfStopMs: number, declaredMs: number | undefined): number {
  return declaredMs ?? Math.max(selfStopMs, t.leaseMs);
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
