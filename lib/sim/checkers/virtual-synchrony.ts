/**
 * Virtual synchrony: nodes that install the same next view V' directly after V delivered exactly
 * the same set of messages in V.
 *
 * Checked at install time: the first node to move V -> V' records what it delivered in V; every
 * later node making the same move must match it. Only moves within one incarnation count (a
 * restarted node did not "come from" any view).
 */
import type { Checker, Observation } from '../types.js';
import { incKey, msgKey, viewKey } from '../types.js';

export function createVirtualSynchronyChecker(): Checker {
  /** Per node incarnation: its installed view and the messages it delivered in it. */
  const current = new Map<string, { view: string; delivered: Set<string> }>();
  /** Per move "V->V'": the first mover and what it delivered in V. */
  const moves = new Map<string, { who: string; delivered: Set<string> }>();
  return {
    name: 'virtual-synchrony',
    observe(obs: Observation): string | undefined {
      const who = obs.type === 'start' || obs.type === 'crash' || obs.type === 'view' || obs.type === 'deliver'
        ? incKey(obs.node, obs.incarnation)
        : '';
      switch (obs.type) {
        case 'crash':
          current.delete(who);
          return undefined;
        case 'deliver': {
          const cur = current.get(who);
          // A delivery outside the installed view is the integrity checker's finding; here it
          // simply does not count towards any view.
          if (cur !== undefined && cur.view === viewKey(obs.delivery.viewId)) cur.delivered.add(msgKey(obs.delivery));
          return undefined;
        }
        case 'view': {
          const next = viewKey(obs.view.id);
          const prev = current.get(who);
          current.set(who, { view: next, delivered: new Set() });
          if (prev === undefined) return undefined;
          const move = `${prev.view}->${next}`;
          const first = moves.get(move);
          if (first === undefined) {
            moves.set(move, { who, delivered: prev.delivered });
            return undefined;
          }
          const onlyFirst = [...first.delivered].filter((k) => !prev.delivered.has(k));
          const onlyThis = [...prev.delivered].filter((k) => !first.delivered.has(k));
          if (onlyFirst.length === 0 && onlyThis.length === 0) return undefined;
          return (
            `nodes ${first.who} and ${who} both moved from view ${prev.view} to ${next} but delivered different messages in ${prev.view}: ` +
            `only ${first.who} delivered [${onlyFirst.slice(0, 5).join(' ')}${onlyFirst.length > 5 ? ' …' : ''}], ` +
            `only ${who} delivered [${onlyThis.slice(0, 5).join(' ')}${onlyThis.length > 5 ? ' …' : ''}]`
          );
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
