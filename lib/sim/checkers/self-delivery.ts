/**
 * Self-delivery: at the end of the liveness phase, every message a node broadcast (and the core
 * accepted) has been delivered by that same node, unless the node crashed after broadcasting.
 */
import type { Checker, EndState, Observation } from '../types.js';
import { incKey, msgKey } from '../types.js';

export function createSelfDeliveryChecker(): Checker {
  /** Per node incarnation: own messages not yet delivered back to it, in broadcast order. */
  const outstanding = new Map<string, Set<string>>();
  return {
    name: 'self-delivery',
    observe(obs: Observation): string | undefined {
      switch (obs.type) {
        case 'crash':
          outstanding.delete(incKey(obs.node, obs.incarnation));
          return undefined;
        case 'broadcast': {
          const who = incKey(obs.node, obs.incarnation);
          let own = outstanding.get(who);
          if (own === undefined) {
            own = new Set();
            outstanding.set(who, own);
          }
          own.add(msgKey({ sender: obs.node, senderIncarnation: obs.incarnation, msgId: obs.msgId }));
          return undefined;
        }
        case 'deliver':
          if (obs.delivery.sender === obs.node && obs.delivery.senderIncarnation === obs.incarnation) {
            outstanding.get(incKey(obs.node, obs.incarnation))?.delete(msgKey(obs.delivery));
          }
          return undefined;
        default:
          return undefined;
      }
    },
    finish(end: EndState): string | undefined {
      const problems: string[] = [];
      for (const n of end.live) {
        const own = outstanding.get(incKey(n.node, n.incarnation));
        if (own === undefined || own.size === 0) continue;
        const keys = [...own];
        problems.push(`node ${n.node}/${n.incarnation} never delivered ${keys.length} of its own messages: ${keys.slice(0, 5).join(' ')}${keys.length > 5 ? ' …' : ''}`);
      }
      return problems.length === 0 ? undefined : problems.join('; ');
    },
  };
}
