/**
 * Epochs: across the cluster, each leader interval starts with an epoch at least as high as
 * every interval started before it, and equal only when the same node (same incarnation)
 * resumes the same term (Leadership may resume a term after its lease lapsed, once tokens flow
 * again). Independently, at most one coordinator per epoch: every node that reports a term with
 * epoch E names the same coordinator, and only that node ever starts leading E.
 *
 * With `growth: false` (twoNode runs, where both halves of a split may lead at once) only the
 * one-coordinator-per-epoch part is checked.
 */
import type { NodeId } from '../../totem/types.js';
import type { Checker, Observation } from '../types.js';

export function createEpochMonotonicChecker(options: { growth?: boolean } = {}): Checker {
  const growth = options.growth ?? true;
  let max: { epoch: number; node: NodeId; incarnation: number } | undefined;
  const coordinatorOf = new Map<number, { node: NodeId; by: string }>();
  const claim = (epoch: number, coordinator: NodeId, by: string): string | undefined => {
    const known = coordinatorOf.get(epoch);
    if (known === undefined) {
      coordinatorOf.set(epoch, { node: coordinator, by });
      return undefined;
    }
    if (known.node !== coordinator) return `epoch ${epoch} has two coordinators: node ${known.node} (per ${known.by}) and node ${coordinator} (per ${by})`;
    return undefined;
  };
  return {
    name: 'epoch-monotonic',
    observe(obs: Observation): string | undefined {
      switch (obs.type) {
        case 'term':
          return claim(obs.epoch, obs.coordinator, `node ${obs.node}/${obs.incarnation}'s term`);
        case 'leader-start': {
          const problem = claim(obs.epoch, obs.node, `node ${obs.node}/${obs.incarnation}'s leader-start`);
          if (problem !== undefined) return problem;
          if (growth && max !== undefined) {
            if (obs.epoch < max.epoch) {
              return `node ${obs.node}/${obs.incarnation} starts leading epoch ${obs.epoch}, below epoch ${max.epoch} that node ${max.node}/${max.incarnation} already led: epochs must only grow`;
            }
            if (obs.epoch === max.epoch && (obs.node !== max.node || obs.incarnation !== max.incarnation)) {
              return `node ${obs.node}/${obs.incarnation} starts leading epoch ${obs.epoch}, which node ${max.node}/${max.incarnation} already led`;
            }
          }
          if (max === undefined || obs.epoch > max.epoch) max = { epoch: obs.epoch, node: obs.node, incarnation: obs.incarnation };
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
