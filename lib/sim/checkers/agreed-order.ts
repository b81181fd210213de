/**
 * Agreed order: within one view, the delivery sequences of all members are prefix-consistent.
 *
 * Pairwise prefix consistency is the same as "every sequence is a prefix of the longest one", so
 * the checker keeps, per view, the longest sequence seen so far (the canon) and, per node
 * incarnation, how far into the canon it has delivered. Each delivery costs O(1).
 */
import type { Checker, Observation } from '../types.js';
import { incKey, msgKey, viewKey } from '../types.js';

interface Canon {
  readonly keys: string[];
  /** Who first delivered keys[i], for the report. */
  readonly firstBy: string[];
}

export function createAgreedOrderChecker(): Checker {
  const canons = new Map<string, Canon>();
  const position = new Map<string, { view: string; count: number }>();
  return {
    name: 'agreed-order',
    observe(obs: Observation): string | undefined {
      if (obs.type === 'crash') {
        position.delete(incKey(obs.node, obs.incarnation));
        return undefined;
      }
      if (obs.type !== 'deliver') return undefined;
      const who = incKey(obs.node, obs.incarnation);
      const view = viewKey(obs.delivery.viewId);
      let pos = position.get(who);
      if (pos === undefined || pos.view !== view) {
        pos = { view, count: 0 };
        position.set(who, pos);
      }
      let canon = canons.get(view);
      if (canon === undefined) {
        canon = { keys: [], firstBy: [] };
        canons.set(view, canon);
      }
      const key = msgKey(obs.delivery);
      const index = pos.count;
      pos.count++;
      if (index < canon.keys.length) {
        if (canon.keys[index] !== key) {
          return (
            `in view ${view}, node ${who} delivered ${key} as message #${index + 1}, ` +
            `but node ${canon.firstBy[index]} delivered ${canon.keys[index]} there`
          );
        }
        return undefined;
      }
      canon.keys.push(key);
      canon.firstBy.push(who);
      return undefined;
    },
    finish(): string | undefined {
      return undefined;
    },
  };
}
