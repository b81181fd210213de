/**
 * The resource checkers: what DESIGN.md promises about resources and the CIB, judged on the
 * world model (where resources really run, lib/sim/resources.ts) and on what nodes report.
 *
 *  - resource-exclusivity: a primitive is never active on two nodes at once. A crashed, paused
 *    or cut-off node's resources count as active until the world says they are gone (a VIP's
 *    kernel lease, an orphan's own end, a completed stop), not until some node believes so.
 *  - cib-convergence: after the faults stop, every live node holds the same CIB version and
 *    contents.
 *  - cib-durability: a CIB change acknowledged to its writer is never lost, across restarts of
 *    every node.
 *  - resource-liveness: after the faults stop, every resource that can run somewhere is running,
 *    on exactly one live node.
 *  - hand-off: a graceful leave moves every resource of the leaver elsewhere with a gap no
 *    longer than the hand-off bound (unless another fault interferes).
 *  - flapping: no resource starts on one node faster than its restart back-off allows.
 *  - fail-counts: a node's fail count for a resource never exceeds the failures that node's
 *    current run reported (pacemaker's fail counts are transient node attributes: a restart of
 *    the node's stack erases them). Kept across restarts, a crash leftover that each probe finds
 *    failed adds up until migrationThreshold bans the resource from every node for good.
 */
import { INFINITY, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED, OCF_SUCCESS } from '../../cib/model.js';
import type { NodeId } from '../../totem/types.js';
import type { Checker, EndState, Observation, RunBounds } from '../types.js';
import { formatTimeUs } from '../types.js';

export interface ExclusivityOptions {
  /** Check only these resource ids (long-pause runs: only kernel-leased ones are protected). */
  readonly only?: (rsc: string) => boolean;
}

export function createExclusivityChecker(options: ExclusivityOptions = {}): Checker {
  const activeOn = new Map<string, Map<NodeId, { sinceUs: number; why: string }>>();
  return {
    name: 'resource-exclusivity',
    observe(obs: Observation): string | undefined {
      if (obs.type !== 'rsc-active') return undefined;
      if (options.only !== undefined && !options.only(obs.rsc)) return undefined;
      let nodes = activeOn.get(obs.rsc);
      if (nodes === undefined) {
        nodes = new Map();
        activeOn.set(obs.rsc, nodes);
      }
      if (!obs.active) {
        nodes.delete(obs.node);
        return undefined;
      }
      for (const [other, since] of nodes) {
        if (other === obs.node) continue;
        return `${obs.rsc} becomes active on n${obs.node} at ${formatTimeUs(obs.timeUs)} (${obs.why}) while it has been active on n${other} since ${formatTimeUs(since.sinceUs)} (${since.why})`;
      }
      nodes.set(obs.node, { sinceUs: obs.timeUs, why: obs.why });
      return undefined;
    },
    finish(): string | undefined {
      return undefined;
    },
  };
}

export function createConvergenceChecker(): Checker {
  return {
    name: 'cib-convergence',
    observe(): string | undefined {
      return undefined;
    },
    finish(end: EndState): string | undefined {
      const withCib = end.live.filter((n) => n.cib !== undefined);
      if (withCib.length < 2) return undefined;
      const first = withCib[0]!;
      for (const n of withCib.slice(1)) {
        if (n.cib!.version !== first.cib!.version || n.cib!.digest !== first.cib!.digest) {
          return `after the faults stopped, n${first.node} holds CIB ${first.cib!.version} (${first.cib!.digest.slice(0, 8)}) but n${n.node} holds ${n.cib!.version} (${n.cib!.digest.slice(0, 8)})`;
        }
      }
      return undefined;
    },
  };
}

export function createDurabilityChecker(): Checker {
  const acked = new Map<string, string>();
  const started = new Set<NodeId>();
  return {
    name: 'cib-durability',
    observe(obs: Observation): string | undefined {
      if (obs.type === 'cib-ack') acked.set(obs.attribute, `n${obs.node}/${obs.incarnation} at ${formatTimeUs(obs.timeUs)}`);
      if (obs.type === 'start') started.add(obs.node);
      return undefined;
    },
    finish(end: EndState): string | undefined {
      // Judged when every node is back: the nodes that stored a change may all be down otherwise.
      if ([...started].some((id) => !end.live.some((n) => n.node === id))) return undefined;
      for (const n of end.live) {
        const cib = n.cib?.cib;
        if (cib === undefined) continue;
        const present = new Set<string>();
        for (const node of cib.config.nodes) for (const name of Object.keys(node.attributes ?? {})) present.add(name);
        for (const [name, by] of acked) {
          if (!present.has(name)) return `the CIB write of ${name}, acknowledged to ${by}, is missing from n${n.node}'s CIB ${n.cib!.version} at the end`;
        }
      }
      return undefined;
    },
  };
}

/** `atLeastOnce`: twoNode runs, where both halves of a split may run a resource by design. */
export function createResourceLivenessChecker(options: { atLeastOnce?: boolean } = {}): Checker {
  return {
    name: 'resource-liveness',
    observe(): string | undefined {
      return undefined;
    },
    finish(end: EndState): string | undefined {
      const live = end.live;
      if (live.length === 0 || live.some((n) => n.quorate !== true) || end.primitives === undefined) return undefined;
      const cib = live[0]!.cib?.cib;
      if (cib === undefined) return undefined;
      const liveNames = new Map<string, NodeId>();
      for (const n of live) if (n.name !== undefined) liveNames.set(n.name, n.node);
      const failCount = (nodeName: string, rsc: string): number => cib.status.nodes[nodeName]?.resources?.[rsc]?.failCount ?? 0;
      for (const p of end.primitives) {
        // A group member can run only where every member up to it can (start-failure bans one node).
        const chain = p.group === undefined ? [p.id] : p.group.slice(0, p.group.indexOf(p.id) + 1);
        const canRun = [...liveNames.keys()].some((name) => chain.every((rsc) => failCount(name, rsc) < INFINITY));
        if (!canRun) continue;
        const where = (end.world ?? []).filter((w) => w.rsc === p.id).map((w) => w.node);
        const onLive = where.filter((id) => live.some((n) => n.node === id));
        if (onLive.length === 0 || (onLive.length > 1 && options.atLeastOnce !== true)) {
          return `after the faults stopped, ${p.id} can run (on ${[...liveNames.keys()].filter((name) => chain.every((rsc) => failCount(name, rsc) < INFINITY)).join(', ')}) but is active on ${onLive.length === 0 ? 'no live node' : onLive.map((id) => `n${id}`).join(' and ')}${where.length > onLive.length ? ` (and on crashed ${where.filter((id) => !onLive.includes(id)).map((id) => `n${id}`).join(', ')})` : ''}`;
        }
      }
      return undefined;
    },
  };
}

export function createHandOffChecker(bounds: RunBounds): Checker {
  /** Leaves in progress: the leaver, and per resource when it went down there. */
  let pending: { node: NodeId; sinceUs: number; resources: Map<string, number | undefined> } | undefined;
  return {
    name: 'hand-off',
    observe(obs: Observation): string | undefined {
      switch (obs.type) {
        case 'leave':
          // Two leaves at once, or a leave during another, are judged by the other checkers only;
          // so is a leave made while a partition, cut or freeze is in effect: the leave itself may
          // not reach the others (seed 7389: every packet of the leaver was cut), and then they
          // rightly wait out its lost-node deadline.
          pending = pending === undefined && obs.resources.length > 0 && !obs.disturbed ? { node: obs.node, sinceUs: obs.timeUs, resources: new Map(obs.resources.map((r) => [r, undefined])) } : undefined;
          return undefined;
        case 'fault':
          pending = undefined;
          return undefined;
        case 'crash':
          // The leaver's process ended before its leave had finished (the simulator ends leaving
          // nodes when the liveness phase begins, seeds 8207, 10677, 14326): the others see a
          // crash, not a clean leave, so what was not yet started elsewhere (and, if it
          // coordinated, its successor's takeover) waits as for a crashed node, not a hand-off.
          if (pending !== undefined && obs.node === pending.node && (obs.leaveCutShort === true || [...pending.resources.values()].some((downUs) => downUs === undefined))) pending = undefined;
          return undefined;
        case 'self-stop':
          // The leaver's ring broke under it (loss during the leave, seed 5829: its lease ran out
          // and it stopped everything on its own): the others lost it as a node, not a leaver,
          // and rightly wait out its lost-node deadline.
          if (pending !== undefined && obs.node === pending.node) pending = undefined;
          return undefined;
        case 'quorum':
          // The leave took the rest below quorum (a node was down already): nobody may take over.
          if (pending !== undefined && obs.node !== pending.node && !obs.quorate) pending = undefined;
          return undefined;
        case 'rsc-active': {
          const p = pending;
          if (p === undefined || !p.resources.has(obs.rsc)) return undefined;
          if (!obs.active && obs.node === p.node) {
            p.resources.set(obs.rsc, obs.timeUs);
            return undefined;
          }
          if (obs.active && obs.node !== p.node) {
            const downUs = p.resources.get(obs.rsc);
            p.resources.delete(obs.rsc);
            if (p.resources.size === 0) pending = undefined;
            if (downUs !== undefined && obs.timeUs - downUs > bounds.handOffMs * 1000) {
              return `n${p.node} left gracefully at ${formatTimeUs(p.sinceUs)}: ${obs.rsc} stopped there at ${formatTimeUs(downUs)} but started on n${obs.node} only at ${formatTimeUs(obs.timeUs)}, over the hand-off bound of ${bounds.handOffMs}ms`;
            }
          }
          return undefined;
        }
        default:
          return undefined;
      }
    },
    finish(end: EndState): string | undefined {
      const p = pending;
      if (p === undefined) return undefined;
      for (const [rsc, downUs] of p.resources) {
        if (downUs === undefined) continue;
        if (end.timeUs - downUs > bounds.handOffMs * 1000 && !(end.world ?? []).some((w) => w.rsc === rsc)) {
          return `n${p.node} left gracefully at ${formatTimeUs(p.sinceUs)}: ${rsc} stopped there at ${formatTimeUs(downUs)} and never started elsewhere`;
        }
      }
      return undefined;
    },
  };
}

/**
 * With the back-off of timing.ts (first restart at once, then base, 2·base, 4·base, ...), a
 * resource starts at most 5 times on one node in any window of 8·base; 6 leaves slack for a
 * probe-driven restart after a rejoin.
 */
export const FLAPPING_STARTS_MAX = 6;

export function createFlappingChecker(bounds: RunBounds): Checker {
  const starts = new Map<string, number[]>();
  const windowUs = 8 * bounds.backoffBaseMs * 1000;
  return {
    name: 'flapping',
    observe(obs: Observation): string | undefined {
      // The back-off runs on fail counts, which belong to one run of a node (a restart clears
      // them, as pacemaker's transient attributes): a restarted node's window starts afresh.
      if (obs.type === 'start') {
        for (const key of [...starts.keys()]) if (key.startsWith(`${obs.node}\u0000`)) starts.delete(key);
        return undefined;
      }
      if (obs.type !== 'rsc-active' || !obs.active || obs.why !== 'start begins' || windowUs <= 0) return undefined;
      const key = `${obs.node}\u0000${obs.rsc}`;
      const list = (starts.get(key) ?? []).filter((t) => obs.timeUs - t < windowUs);
      list.push(obs.timeUs);
      starts.set(key, list);
      if (list.length > FLAPPING_STARTS_MAX) {
        return `${obs.rsc} started ${list.length} times on n${obs.node} within ${(windowUs / 1000).toFixed(0)}ms (since ${formatTimeUs(list[0]!)}): faster than its restart back-off allows`;
      }
      return undefined;
    },
    finish(): string | undefined {
      return undefined;
    },
  };
}

/** An operation's rc that the node counts as a failure (docs/executor.md, "Fail count"). */
function countsAsFailure(op: string, intervalMs: number, rc: number): boolean {
  if (rc === OCF_SUCCESS) return false;
  if (op === 'monitor' && rc === OCF_RUNNING_PROMOTED) return false;
  if (op === 'monitor' && intervalMs === 0 && rc === OCF_NOT_RUNNING) return false; // a probe that finds it stopped
  return true;
}

export function createFailCountChecker(): Checker {
  // node → incarnation whose failures are counted, and per resource how many it reported (a failed start: INFINITY).
  const runs = new Map<NodeId, { incarnation: number; failures: Map<string, number> }>();
  return {
    name: 'fail-counts',
    observe(obs: Observation): string | undefined {
      if (obs.type !== 'resource-op' || !countsAsFailure(obs.op, obs.intervalMs, obs.rc)) return undefined;
      let run = runs.get(obs.node);
      if (run === undefined || run.incarnation !== obs.incarnation) {
        run = { incarnation: obs.incarnation, failures: new Map() };
        runs.set(obs.node, run);
      }
      const add = obs.op === 'start' ? INFINITY : 1;
      run.failures.set(obs.rsc, Math.min(INFINITY, (run.failures.get(obs.rsc) ?? 0) + add));
      return undefined;
    },
    finish(end: EndState): string | undefined {
      for (const n of end.live) {
        // Judged only once this run has probed: its first probe is what clears the earlier run's counts.
        if (n.probed !== true || n.quorate !== true || n.name === undefined || n.cib === undefined) continue;
        const run = runs.get(n.node);
        const reported = run !== undefined && run.incarnation === n.incarnation ? run.failures : new Map<string, number>();
        for (const [rsc, rs] of Object.entries(n.cib.cib.status.nodes[n.name]?.resources ?? {})) {
          const count = rs.failCount ?? 0;
          const allowed = reported.get(rsc) ?? 0;
          if (count > allowed) {
            return `n${n.node}/${n.incarnation}'s CIB gives ${rsc} a fail count of ${count} on ${n.name}, but this run of the node reported ${allowed} failure${allowed === 1 ? '' : 's'} of it: counts of an earlier run were kept`;
          }
        }
      }
      return undefined;
    },
  };
}
