/**
 * At most one quorate partition: at no global instant do two nodes consider themselves quorate
 * in two views whose member sets are disjoint. A node's belief lasts from its quorum decision
 * until its next one or its crash; a paused node keeps believing what it last decided.
 *
 * Not checked for twoNode clusters: corosync's two_node deliberately makes each half of a split
 * quorate (fencing decides), and so does sanode's twoNode.
 */
import type { NodeId, View } from '../../totem/types.js';
import type { Checker, Observation } from '../types.js';
import { formatView } from '../types.js';

export function createSinglePartitionChecker(): Checker {
  const quorate = new Map<NodeId, { incarnation: number; view: View; reason: string }>();
  return {
    name: 'single-quorate-partition',
    observe(obs: Observation): string | undefined {
      switch (obs.type) {
        case 'quorum': {
          if (!obs.quorate) {
            quorate.delete(obs.node);
            return undefined;
          }
          const mine = new Set(obs.view.members);
          for (const [other, b] of quorate) {
            if (other === obs.node) continue;
            if (b.view.members.some((m) => mine.has(m))) continue;
            return `node ${obs.node}/${obs.incarnation} is quorate (${obs.reason}) in ${formatView(obs.view)} while node ${other}/${b.incarnation} is quorate (${b.reason}) in ${formatView(b.view)}: two disjoint quorate partitions`;
          }
          quorate.set(obs.node, { incarnation: obs.incarnation, view: obs.view, reason: obs.reason });
          return undefined;
        }
        case 'crash': {
          const b = quorate.get(obs.node);
          if (b !== undefined && b.incarnation === obs.incarnation) quorate.delete(obs.node);
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
