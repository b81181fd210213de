/**
 * Integrity: each (sender, senderIncarnation, msgId) is delivered at most once per node
 * incarnation, only if that sender really broadcast it (the harness records every accepted
 * broadcast), with the exact payload, in the view the node has installed, which contains the
 * sender.
 */
import type { View } from '../../totem/types.js';
import type { Checker, Observation } from '../types.js';
import { incKey, msgKey, viewKey } from '../types.js';

export function createIntegrityChecker(): Checker {
  const broadcasts = new Map<string, Uint8Array>();
  const delivered = new Map<string, Set<string>>();
  const installed = new Map<string, View>();
  return {
    name: 'integrity',
    observe(obs: Observation): string | undefined {
      switch (obs.type) {
        case 'crash': {
          const who = incKey(obs.node, obs.incarnation);
          delivered.delete(who);
          installed.delete(who);
          return undefined;
        }
        case 'broadcast': {
          const key = msgKey({ sender: obs.node, senderIncarnation: obs.incarnation, msgId: obs.msgId });
          if (broadcasts.has(key)) return `broadcast() at node ${obs.node}/${obs.incarnation} returned msgId ${obs.msgId} a second time`;
          broadcasts.set(key, obs.payload.slice());
          return undefined;
        }
        case 'view':
          installed.set(incKey(obs.node, obs.incarnation), obs.view);
          return undefined;
        case 'deliver': {
          const who = incKey(obs.node, obs.incarnation);
          const d = obs.delivery;
          const key = msgKey(d);
          const sent = broadcasts.get(key);
          if (sent === undefined) return `node ${who} delivered ${key}, which ${d.sender}/${d.senderIncarnation} never broadcast`;
          if (!sameBytes(sent, d.payload)) {
            return `node ${who} delivered ${key} with payload ${hex(d.payload)}, but it was broadcast as ${hex(sent)}`;
          }
          let seen = delivered.get(who);
          if (seen === undefined) {
            seen = new Set();
            delivered.set(who, seen);
          }
          if (seen.has(key)) return `node ${who} delivered ${key} a second time`;
          seen.add(key);
          const view = installed.get(who);
          if (view === undefined) return `node ${who} delivered ${key} before installing any view`;
          if (viewKey(view.id) !== viewKey(d.viewId)) {
            return `node ${who} delivered ${key} in view ${viewKey(d.viewId)}, but its installed view is ${viewKey(view.id)}`;
          }
          if (!view.members.includes(d.sender)) {
            return `node ${who} delivered ${key} in view ${viewKey(view.id)} [${view.members.join(',')}], which does not contain the sender`;
          }
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(bytes: Uint8Array): string {
  const s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
