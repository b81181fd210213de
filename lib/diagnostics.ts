/**
 * Every node:diagnostics_channel name sanode publishes on, in one place. The library itself never
 * logs: it publishes, and whoever wants logs (the sidecar, an embedding service, a test)
 * subscribes. Names and message fields are append-only.
 *
 *   import { subscribe } from 'node:diagnostics_channel';
 *   subscribe('sanode:resource', (m) => console.log(m));
 *
 * Every message carries `cluster`, `node` (this node's id), `view` (the view seq, when there is
 * one) and `epoch` (the coordinator's term, when there is one), so a line can be read alone.
 */
import { channel } from 'node:diagnostics_channel';
import type { Cluster } from './runtime/cluster.js';

export const CHANNELS = {
  /** A new membership view: `{ members }`. */
  view: 'sanode:view',
  /** Quorum gained or lost: `{ quorate, reason }`. */
  quorum: 'sanode:quorum',
  /** The coordinator changed or this node started/stopped leading: `{ coordinator, leading }`. */
  leader: 'sanode:leader',
  /** A resource operation's result on this node: `{ resource, op, intervalMs, rc, message? }`. */
  resource: 'sanode:resource',
  /** The CIB copy changed: `{ version, cause, from }`. */
  cib: 'sanode:cib',
  /** A link to a peer went up or down: `{ link, peers }`. */
  link: 'sanode:link',
  /** An error the node survived: `{ code?, message }`. */
  error: 'sanode:error',
  /** A command received on the admin socket: `{ cmd, args, ok, code? }`. */
  admin: 'sanode:admin',
  /** An alert that failed after its retries: `{ alert, event, error }`. */
  alert: 'sanode:alert',
} as const;

export type ChannelName = (typeof CHANNELS)[keyof typeof CHANNELS];

export interface DiagnosticContext {
  readonly cluster: string;
  readonly node: number;
  readonly view: number | undefined;
  readonly epoch: number | undefined;
}

export function contextOf(cluster: Cluster): DiagnosticContext {
  const s = cluster.status();
  return { cluster: s.cluster, node: s.node.id, view: s.view?.id.seq, epoch: s.epoch };
}

export function publish(name: ChannelName, cluster: Cluster, fields: Record<string, unknown>): void {
  const ch = channel(name);
  // Building the message costs a status() call: only when someone listens.
  if (ch.hasSubscribers) ch.publish({ ...contextOf(cluster), ...fields });
}

/**
 * Publishes a node's public events on the channels above. It listens to the Cluster's events
 * rather than living inside it, so the runtime stays free of observability code. Returns the
 * function that stops it.
 */
export function publishClusterDiagnostics(cluster: Cluster): () => void {
  const onView = (view: { members: readonly number[] }) => publish(CHANNELS.view, cluster, { members: [...view.members] });
  const onQuorum = (q: { quorate: boolean; reason: string }) => publish(CHANNELS.quorum, cluster, { quorate: q.quorate, reason: q.reason });
  const onLeader = (l: { coordinator: number | undefined; leading: boolean; epoch: number | undefined }) =>
    publish(CHANNELS.leader, cluster, { coordinator: l.coordinator, leading: l.leading, epoch: l.epoch });
  const onResource = (e: { rsc: string; node: string; op: string; intervalMs: number; rc: number; message?: string }) =>
    publish(CHANNELS.resource, cluster, { resource: e.rsc, nodeName: e.node, op: e.op, intervalMs: e.intervalMs, rc: e.rc, ...(e.message === undefined ? {} : { message: e.message }) });
  const onCib = (e: { version: { adminEpoch: number; epoch: number; numUpdates: number }; cause: string; from?: number }) =>
    publish(CHANNELS.cib, cluster, { version: `${e.version.adminEpoch}.${e.version.epoch}.${e.version.numUpdates}`, cause: e.cause, from: e.from });
  const onLink = (l: { link: number; peers: readonly { node: number; healthy: boolean }[] }) =>
    publish(CHANNELS.link, cluster, { link: l.link, peers: l.peers.map((p) => ({ node: p.node, healthy: p.healthy })) });
  const onError = (error: unknown) =>
    publish(CHANNELS.error, cluster, { code: (error as { code?: unknown } | null)?.code, message: error instanceof Error ? error.message : String(error) });
  const handlers = { view: onView, quorum: onQuorum, leader: onLeader, resource: onResource, cib: onCib, link: onLink } as const;
  // One table for on and off, so a listener added is always a listener removed.
  const events = cluster as unknown as { on(e: string, h: (...a: never[]) => void): void; off(e: string, h: (...a: never[]) => void): void };
  for (const [event, handler] of Object.entries(handlers)) events.on(event, handler);
  // Not an 'error' listener: that would count as handling the error, and one nobody else listens
  // to must still become a process warning (README, "errors").
  const stopErrors = cluster.observeErrors(onError);
  // joinCluster resolves after the first view: say where the node stands now, so a subscriber
  // that starts with the node does not miss its first view, quorum and coordinator.
  const now = cluster.status();
  if (now.view !== undefined) onView(now.view);
  onQuorum(now.quorum);
  onLeader({ coordinator: now.coordinator, leading: now.leading, epoch: now.epoch });
  return () => {
    for (const [event, handler] of Object.entries(handlers)) events.off(event, handler);
    stopErrors();
  };
}
