/**
 * Leader overlap: the leader intervals of different nodes never overlap in global simulated
 * time. An interval runs from a node's `leader-start` to its `leader-stop`, or to its crash (the
 * process is gone). A paused node's interval continues until it resumes and its first turn
 * stops it: that is what a frozen process does. The guarantee therefore holds only for pauses
 * below the configured bound (see lib/sim/leadership-plan.ts), and never for twoNode clusters,
 * whose split-brain protection is fencing; the simulator turns this checker off for those runs.
 */
import type { NodeId } from '../../totem/types.js';
import type { Checker, Observation } from '../types.js';
import { formatTimeUs } from '../types.js';

interface Interval {
  readonly incarnation: number;
  readonly epoch: number;
  readonly startUs: number;
}

export function createLeaderOverlapChecker(): Checker {
  const open = new Map<NodeId, Interval>();
  return {
    name: 'leader-overlap',
    observe(obs: Observation): string | undefined {
      switch (obs.type) {
        case 'leader-start': {
          const mine = open.get(obs.node);
          if (mine !== undefined) {
            return `node ${obs.node}/${obs.incarnation} starts leading epoch ${obs.epoch} while its interval for epoch ${mine.epoch} (since ${formatTimeUs(mine.startUs)}) is still open`;
          }
          for (const [other, iv] of open) {
            return `node ${obs.node}/${obs.incarnation} starts leading epoch ${obs.epoch} at ${formatTimeUs(obs.timeUs)} while node ${other}/${iv.incarnation} has led epoch ${iv.epoch} since ${formatTimeUs(iv.startUs)} and has not stopped`;
          }
          open.set(obs.node, { incarnation: obs.incarnation, epoch: obs.epoch, startUs: obs.timeUs });
          return undefined;
        }
        case 'leader-stop':
        case 'crash': {
          const mine = open.get(obs.node);
          if (mine !== undefined && mine.incarnation === obs.incarnation) open.delete(obs.node);
          return undefined;
        }
        default:
          return undefined;
      }
    },
    finish(): string | undefined {
      return undefined;
    },
  };
}
