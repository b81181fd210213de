/**
 * Liveness: when the fault-free liveness phase ends, all live nodes are operational in one view
 * whose members are exactly the live nodes; no view changed during the final stability window;
 * no node still has queued broadcasts; and every message broadcast in that final view by a live
 * node has been delivered by every live node.
 */
import type { Checker, EndState, Observation } from '../types.js';
import { formatTimeUs, incKey, msgKey, viewKey } from '../types.js';

export function createLivenessChecker(): Checker {
  let lastViewChangeUs = -1;
  let lastViewChangeBy = '';
  /** Per node incarnation: installed view, and messages delivered in it. */
  const current = new Map<string, { view: string; delivered: Set<string> }>();
  /** Messages broadcast, with the view their sender had installed at the time. */
  const sentIn = new Map<string, string[]>();
  return {
    name: 'liveness',
    observe(obs: Observation): string | undefined {
      switch (obs.type) {
        case 'crash':
          current.delete(incKey(obs.node, obs.incarnation));
          return undefined;
        case 'view':
          lastViewChangeUs = obs.timeUs;
          lastViewChangeBy = incKey(obs.node, obs.incarnation);
          current.set(incKey(obs.node, obs.incarnation), { view: viewKey(obs.view.id), delivered: new Set() });
          return undefined;
        case 'broadcast': {
          const cur = current.get(incKey(obs.node, obs.incarnation));
          if (cur === undefined) return undefined;
          let list = sentIn.get(cur.view);
          if (list === undefined) {
            list = [];
            sentIn.set(cur.view, list);
          }
          list.push(msgKey({ sender: obs.node, senderIncarnation: obs.incarnation, msgId: obs.msgId }));
          return undefined;
        }
        case 'deliver': {
          const cur = current.get(incKey(obs.node, obs.incarnation));
          if (cur !== undefined && cur.view === viewKey(obs.delivery.viewId)) cur.delivered.add(msgKey(obs.delivery));
          return undefined;
        }
        default:
          return undefined;
      }
    },
    finish(end: EndState): string | undefined {
      if (end.live.length === 0) return undefined;
      const liveIds = end.live.map((n) => n.node).join(',');
      const problems: string[] = [];
      for (const n of end.live) {
        const s = n.status;
        const members = s.view?.members.join(',');
        if (s.state !== 'operational' || s.view === undefined || members !== liveIds) {
          problems.push(`node ${n.node}/${n.incarnation} is ${s.state} in view ${s.view ? `${viewKey(s.view.id)}[${members}]` : 'none'}`);
        }
      }
      const views = new Set(end.live.map((n) => (n.status.view ? viewKey(n.status.view.id) : 'none')));
      if (problems.length > 0 || views.size !== 1) {
        return `after the liveness phase the live nodes [${liveIds}] do not share one view of exactly themselves: ${problems.join('; ') || [...views].join(' vs ')}`;
      }
      if (lastViewChangeUs >= end.stableFromUs) {
        return `a view changed at ${formatTimeUs(lastViewChangeUs)} (node ${lastViewChangeBy}), inside the stability window that starts at ${formatTimeUs(end.stableFromUs)}`;
      }
      const queued = end.live.filter((n) => n.status.sendQueueLength > 0);
      if (queued.length > 0) {
        return `after the liveness phase broadcasts are still queued: ${queued.map((n) => `node ${n.node} has ${n.status.sendQueueLength}`).join(', ')}`;
      }
      const finalView = [...views][0]!;
      for (const key of sentIn.get(finalView) ?? []) {
        for (const n of end.live) {
          const cur = current.get(incKey(n.node, n.incarnation));
          if (cur === undefined || cur.view !== finalView || !cur.delivered.has(key)) {
            return `message ${key}, broadcast in the final view ${finalView}, was never delivered by node ${n.node}/${n.incarnation}`;
          }
        }
      }
      return undefined;
    },
  };
}
