/**
 * View agreement: all nodes that install view id X see the same member list; the list is sorted,
 * free of duplicates and contains the installer; and the view ids one node installs strictly
 * increase (seq, then rep), also across its restarts.
 */
import type { NodeId, ViewId } from '../../totem/types.js';
import type { Checker, Observation } from '../types.js';
import { compareViewIds, incKey, viewKey } from '../types.js';

export function createViewAgreementChecker(): Checker {
  const membersOf = new Map<string, { members: string; who: string }>();
  /** Keyed by node id, not incarnation: monotonicity must survive restarts. */
  const lastInstalled = new Map<NodeId, ViewId>();
  return {
    name: 'view-agreement',
    observe(obs: Observation): string | undefined {
      if (obs.type !== 'view') return undefined;
      const who = incKey(obs.node, obs.incarnation);
      const { id, members } = obs.view;
      const key = viewKey(id);
      for (let i = 1; i < members.length; i++) {
        if (!(members[i - 1]! < members[i]!)) return `node ${who} installed view ${key} with members [${members.join(',')}], which are not sorted and unique`;
      }
      if (!members.includes(obs.node)) return `node ${who} installed view ${key} with members [${members.join(',')}], which do not include itself`;
      const previous = lastInstalled.get(obs.node);
      if (previous !== undefined && compareViewIds(id, previous) <= 0) {
        return `node ${who} installed view ${key} after view ${viewKey(previous)}: view ids must strictly increase`;
      }
      lastInstalled.set(obs.node, id);
      const listed = members.join(',');
      const first = membersOf.get(key);
      if (first === undefined) {
        membersOf.set(key, { members: listed, who });
        return undefined;
      }
      if (first.members !== listed) return `view ${key} has members [${first.members}] at node ${first.who} but [${listed}] at node ${who}`;
      return undefined;
    },
    finish(): string | undefined {
      return undefined;
    },
  };
}
