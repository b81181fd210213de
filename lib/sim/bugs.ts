/**
 * Deliberate bugs for proving the checkers. With `--inject-bug NAME` either the HARNESS corrupts
 * what one node reports (between the core's takeOutput() and the checkers), or, for `stall`, what
 * one node sends — the core itself untouched — or, for the core bugs (CORE_BUGS), the node's own
 * machines are built with the bug (NodeDriverOptions.injectedBugs): a core that DOES the wrong
 * thing. Either way a violation must follow, and the checker that fires says which guarantee the
 * bug broke.
 *
 * Each bug fires once (except `stall`, which lasts), at the first node and moment where it is
 * observable: e.g. reordering needs two deliveries in one view with more than one member.
 */
import type { LeadershipTimers } from '../controller/leadership.js';
import type { QuorumMachine } from '../controller/node-controller.js';
import type { QuorumDecision } from '../quorum/index.js';
import type { NodeId, TotemEvent, View } from '../totem/types.js';
import type { CheckerName } from './types.js';
import { msgKey, viewKey } from './types.js';

export const BUGS = {
  'reorder-delivery': 'swap two consecutive deliveries in one view at one node',
  'drop-delivery': "drop one delivery of another node's message at one node",
  'duplicate-delivery': 'report one delivery twice at one node',
  'invent-delivery': 'report a delivery of a message nobody broadcast',
  'corrupt-payload': "flip a byte of one delivery's payload",
  'wrong-view-members': 'remove one peer from a member list at one node',
  'non-monotonic-view': 'after a node installs a view, report its previous view again',
  'skip-old-view-delivery': 'drop the last delivery before a view change at one node',
  'lose-own-message': "during the liveness phase, drop one of a node's deliveries of its own message",
  'stall': "during the liveness phase, black-hole every packet one node sends",
  'no-takeover-wait': 'configure every Leadership with no takeover wait (a negative clock-drift ratio zeroes it)',
  'leader-ignores-quorum': 'every node treats every view as quorate',
  'epoch-reuse': 'one leader reports the epoch of an earlier term instead of its own',
  'start-before-deadline': "core: the coordinator starts a lost node's resources without waiting for its lease, self-stop and holdover to run out",
  'no-self-stop': 'core: a node that loses quorum or its lease keeps its resources running',
  'no-backoff': 'core: a resource that keeps failing is restarted at once every time, without the growing back-off',
  'skip-cib-persist': 'core: the node reports CIB changes applied without asking for them to be persisted',
  'keep-old-fail-counts': "core: a restarted node keeps the fail counts its earlier run left (they add up across restarts until migrationThreshold bans a resource everywhere)",
  'deliver-past-gap': 'core: totem delivers the next message it holds beyond a missing one (once per node), as if the gap were not there',
} as const;

/** Bugs that change what a node's machines do (passed to NodeDriver as injectedBugs). */
export const CORE_BUGS: ReadonlySet<BugName> = new Set<BugName>(['start-before-deadline', 'no-self-stop', 'no-backoff', 'skip-cib-persist', 'deliver-past-gap', 'keep-old-fail-counts']);

export type BugName = keyof typeof BUGS;

/**
 * The checkers that may legitimately catch each bug. The first is the one it targets; the others
 * see its side effects (an extra or missing delivery also shifts the agreed sequence, a member
 * missing from a view makes its messages look foreign, a stalled node never hears its own
 * messages back).
 */
export const BUG_CATCHERS: Readonly<Record<BugName, readonly CheckerName[]>> = {
  'reorder-delivery': ['agreed-order', 'virtual-synchrony'],
  'drop-delivery': ['agreed-order', 'virtual-synchrony', 'liveness', 'self-delivery'],
  'duplicate-delivery': ['integrity', 'agreed-order'],
  'invent-delivery': ['integrity', 'agreed-order', 'virtual-synchrony'],
  'corrupt-payload': ['integrity'],
  'wrong-view-members': ['view-agreement', 'integrity', 'liveness'],
  'non-monotonic-view': ['view-agreement', 'integrity', 'virtual-synchrony', 'agreed-order', 'liveness'],
  'skip-old-view-delivery': ['virtual-synchrony', 'self-delivery', 'liveness'],
  'lose-own-message': ['self-delivery', 'agreed-order', 'virtual-synchrony', 'liveness'],
  // A node that sends nothing cannot take part in the CIB exchange or run what it is given.
  'stall': ['liveness', 'self-delivery', 'cib-convergence', 'resource-liveness', 'cib-durability'],
  'no-takeover-wait': ['leader-overlap'],
  // Every partition believes itself quorate: each runs the resources and writes its own CIB.
  'leader-ignores-quorum': ['single-quorate-partition', 'leader-overlap', 'epoch-monotonic', 'resource-exclusivity', 'cib-durability', 'cib-convergence'],
  'epoch-reuse': ['epoch-monotonic'],
  'start-before-deadline': ['resource-exclusivity'],
  'no-self-stop': ['resource-exclusivity'],
  'no-backoff': ['flapping'],
  // Restarted without their CIB, nodes also forget where resources ran (a VIP still held on its
  // kernel lease by a crashed node), and where they failed.
  'skip-cib-persist': ['cib-durability', 'cib-convergence', 'resource-exclusivity', 'flapping'],
  'keep-old-fail-counts': ['fail-counts'],
  // A skipped message is missing at one member only: its sequence of deliveries differs.
  'deliver-past-gap': ['agreed-order', 'virtual-synchrony', 'self-delivery', 'integrity', 'liveness', 'cib-convergence', 'cib-durability', 'resource-liveness', 'hand-off'],
};

export function isBugName(name: string): name is BugName {
  return Object.hasOwn(BUGS, name);
}

export interface BugContext {
  readonly timeUs: number;
  readonly phase: 'safety' | 'liveness';
  /** Records what the bug did in the run's trace. */
  note(text: string): void;
}

export interface BugInjector {
  readonly name: BugName;
  /** Filters the events one node reported in one step. */
  events(node: NodeId, events: readonly TotemEvent[], ctx: BugContext): TotemEvent[];
  /** Whether a packet sent by `from` is black-holed. */
  dropsSend(from: NodeId, ctx: BugContext): boolean;
  /** The node crashed: whatever was held back for it dies with it. */
  crashed(node: NodeId): void;
  /** End of run: releases anything still held back. */
  flush(node: NodeId): TotemEvent[];
  /** The Leadership timers a node is created with. */
  leadershipTimers(timers: LeadershipTimers): LeadershipTimers;
  /** The quorum machine a node is created with. */
  wrapQuorum(machine: QuorumMachine): QuorumMachine;
  /** The epoch a node reports when it starts leading. */
  leaderEpoch(node: NodeId, epoch: number, ctx: BugContext): number;
  /** For a core bug: the set every node's driver is built with. */
  readonly coreBugs: ReadonlySet<string> | undefined;
}

/** A quorum machine that calls every view quorate (the `leader-ignores-quorum` bug). */
function alwaysQuorate(inner: QuorumMachine): QuorumMachine {
  const lie = (d: QuorumDecision): QuorumDecision => (d.quorate ? d : { ...d, quorate: true, reason: 'majority' });
  return {
    get decision() {
      return lie(inner.decision);
    },
    onView: (members, nowMs, viewId, transitional) => lie(inner.onView(members, nowMs, viewId, transitional)),
    onLmsNote: (from, note) => lie(inner.onLmsNote(from, note)),
    takeNotes: () => inner.takeNotes(),
    takePersist: () => inner.takePersist(),
    onMemberQuorate: (member) => lie(inner.onMemberQuorate(member)),
    onTieBreakerResult: (granted) => lie(inner.onTieBreakerResult(granted)),
    tick: (nowMs) => lie(inner.tick(nowMs)),
    nextDeadlineMs: () => inner.nextDeadlineMs(),
  };
}

export function createBugInjector(name: BugName): BugInjector {
  /** Each node's installed view, as the core reported it (before any corruption). */
  const views = new Map<NodeId, View>();
  /** Events held back at one node while a bug waits for its moment. */
  const held = new Map<NodeId, TotemEvent[]>();
  let fired = false;
  let stalled: NodeId | undefined;
  let ownSeen = 0;
  let delivered = 0;
  let firstEpoch: number | undefined;

  const multiMember = (node: NodeId): boolean => (views.get(node)?.members.length ?? 0) >= 2;
  const track = (node: NodeId, e: TotemEvent): void => {
    if (e.type === 'view') views.set(node, e.view);
  };
  const describe = (e: TotemEvent): string => (e.type === 'deliver' ? `${msgKey(e.delivery)} in ${viewKey(e.delivery.viewId)}` : `view ${viewKey(e.view.id)}`);

  const perEvent: (node: NodeId, e: TotemEvent, out: TotemEvent[], ctx: BugContext) => void = (node, e, out, ctx) => {
    switch (name) {
      case 'reorder-delivery': {
        const hold = held.get(node);
        if (hold !== undefined) {
          held.delete(node);
          const h = hold[0]!;
          if (e.type === 'deliver' && h.type === 'deliver' && viewKey(e.delivery.viewId) === viewKey(h.delivery.viewId)) {
            fired = true;
            ctx.note(`reorder-delivery: n${node} reports ${describe(e)} before ${describe(h)}`);
            out.push(e, h);
            return;
          }
          out.push(h);
        }
        if (!fired && held.size === 0 && e.type === 'deliver' && multiMember(node)) {
          held.set(node, [e]);
          return;
        }
        out.push(e);
        return;
      }
      case 'drop-delivery':
        if (!fired && e.type === 'deliver' && e.delivery.sender !== node && multiMember(node) && ++delivered >= 3) {
          fired = true;
          ctx.note(`drop-delivery: n${node} does not report ${describe(e)}`);
          return;
        }
        out.push(e);
        return;
      case 'duplicate-delivery':
        out.push(e);
        if (!fired && e.type === 'deliver' && ++delivered >= 3) {
          fired = true;
          ctx.note(`duplicate-delivery: n${node} reports ${describe(e)} twice`);
          out.push(e);
        }
        return;
      case 'invent-delivery':
        out.push(e);
        if (!fired && e.type === 'deliver' && ++delivered >= 3) {
          fired = true;
          const invented: TotemEvent = {
            type: 'deliver',
            delivery: { ...e.delivery, msgId: e.delivery.msgId + 1_000_000, payload: Uint8Array.of(0x66, 0x61, 0x6b, 0x65) },
          };
          ctx.note(`invent-delivery: n${node} reports ${describe(invented)}, which was never broadcast`);
          out.push(invented);
        }
        return;
      case 'corrupt-payload':
        if (!fired && e.type === 'deliver' && ++delivered >= 3) {
          fired = true;
          const payload = e.delivery.payload.length === 0 ? Uint8Array.of(1) : Uint8Array.from(e.delivery.payload);
          if (e.delivery.payload.length > 0) payload[payload.length - 1] = payload[payload.length - 1]! ^ 0x01;
          ctx.note(`corrupt-payload: n${node} reports ${describe(e)} with a flipped payload byte`);
          out.push({ type: 'deliver', delivery: { ...e.delivery, payload } });
          return;
        }
        out.push(e);
        return;
      case 'wrong-view-members':
        if (!fired && e.type === 'view' && e.view.members.length >= 2) {
          fired = true;
          const victim = e.view.members.find((m) => m !== node)!;
          const members = e.view.members.filter((m) => m !== victim);
          ctx.note(`wrong-view-members: n${node} reports view ${viewKey(e.view.id)} without n${victim}`);
          out.push({ type: 'view', view: { id: e.view.id, members } });
          return;
        }
        out.push(e);
        return;
      case 'non-monotonic-view': {
        const before = views.get(node);
        out.push(e);
        if (!fired && e.type === 'view' && before !== undefined) {
          fired = true;
          ctx.note(`non-monotonic-view: n${node} reports its previous view ${viewKey(before.id)} again after ${viewKey(e.view.id)}`);
          out.push({ type: 'view', view: before });
        }
        return;
      }
      case 'skip-old-view-delivery': {
        const hold = held.get(node);
        if (hold !== undefined) {
          held.delete(node);
          if (e.type === 'view' && !fired) {
            fired = true;
            ctx.note(`skip-old-view-delivery: n${node} does not report ${describe(hold[0]!)}, its last delivery before view ${viewKey(e.view.id)}`);
          } else out.push(hold[0]!);
        }
        if (!fired && e.type === 'deliver' && multiMember(node)) {
          held.set(node, [e]);
          return;
        }
        out.push(e);
        return;
      }
      case 'lose-own-message':
        if (!fired && ctx.phase === 'liveness' && e.type === 'deliver' && e.delivery.sender === node && ++ownSeen >= 2) {
          fired = true;
          ctx.note(`lose-own-message: n${node} does not report its own ${describe(e)}`);
          return;
        }
        out.push(e);
        return;
      default:
        out.push(e);
        return;
    }
  };

  return {
    name,
    coreBugs: CORE_BUGS.has(name) ? new Set([name]) : undefined,
    events(node, events, ctx) {
      const out: TotemEvent[] = [];
      for (const e of events) {
        perEvent(node, e, out, ctx);
        track(node, e);
      }
      return out;
    },
    dropsSend(from, ctx) {
      if (name !== 'stall' || ctx.phase !== 'liveness') return false;
      if (stalled === undefined) {
        stalled = from;
        ctx.note(`stall: every packet n${from} sends is black-holed from now on`);
      }
      return stalled === from;
    },
    crashed(node) {
      held.delete(node);
      views.delete(node);
    },
    flush(node) {
      const out = held.get(node) ?? [];
      held.delete(node);
      return out;
    },
    leadershipTimers(timers) {
      // takeover wait = (tokenTimeout + lease) * (1 + 2 * ratio): zero at ratio -0.5.
      return name === 'no-takeover-wait' ? { ...timers, clockDriftRatio: -0.5 } : timers;
    },
    wrapQuorum(machine) {
      return name === 'leader-ignores-quorum' ? alwaysQuorate(machine) : machine;
    },
    leaderEpoch(node, epoch, ctx) {
      if (name !== 'epoch-reuse' || fired) return epoch;
      if (firstEpoch === undefined) {
        firstEpoch = epoch;
        return epoch;
      }
      if (epoch <= firstEpoch) return epoch;
      fired = true;
      ctx.note(`epoch-reuse: n${node} reports epoch ${firstEpoch} (an earlier term's) instead of ${epoch}`);
      return firstEpoch;
    },
  };
}
