/**
 * What `sanode status` shows, as data: one node's view of the cluster (its status and its CIB
 * copy), in a stable, versioned JSON shape (`format`). Failed actions come from the CIB's
 * operation history, which every node holds in agreed order, so every node lists every node's
 * failures alike (as crm_mon reads them from the status section); the answering node adds the
 * agent's message for the ones it saw itself.
 *
 * Takes: Cluster.status(), Cluster.cib() and the failures this node saw. Emits: a StatusReport. Pure.
 */
import { listPrimitives, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED, RC_PENDING, type Cib, type CibConfig } from '../cib/model.js';
import { ocfRcName } from '../../agents/types.js';
import type { ClusterStatus } from '../runtime/cluster.js';
import { readCluster } from '../scheduler/state.js';
import type { AlertFailure } from '../alerts/index.js';

export const STATUS_FORMAT = 'sanode-status/1';

export interface FailureRecord {
  readonly rsc: string;
  readonly node: string;
  readonly op: string;
  readonly intervalMs: number;
  readonly rc: number;
  /** The OCF name of rc (not-running, err-generic, ...). */
  readonly reason?: string;
  /** The agent's own words, when the answering node saw the failure itself. */
  readonly message?: string;
  /** Wall-clock time it ended (the CIB record's stamp), for people reading it (never used to decide anything). */
  readonly at: string;
}

export interface StatusReport {
  readonly format: typeof STATUS_FORMAT;
  readonly cluster: string;
  readonly node: { id: number; name: string; incarnation: number };
  readonly view: { seq: number; members: number[] } | undefined;
  readonly quorum: { quorate: boolean; reason: string };
  readonly coordinator: number | undefined;
  readonly epoch: number | undefined;
  readonly leading: boolean;
  readonly cib: { version: string; synced: boolean };
  readonly properties: CibConfig['properties'];
  readonly nodes: { id: string; name: string; member: boolean; state: string; standby: boolean; maintenance: boolean }[];
  readonly resources: {
    id: string;
    parent: string | undefined;
    agent: string;
    targetRole: string | undefined;
    managed: boolean;
    /** managed false: left as it is there (the resource is unmanaged, or its node is in maintenance). */
    running: { node: string; role: string; failed: boolean; managed: boolean }[];
    failCounts: Record<string, number>;
  }[];
  readonly failures: FailureRecord[];
  /** Alerts that failed after their retries (script exit code, timeout, HTTP status). */
  readonly alertFailures: { alert: string; kind: string; error: string; attempts: number; at: string }[];
  readonly links: ClusterStatus['links'];
  readonly drops: ClusterStatus['drops'];
}

/** A result that means the resource did not do what was asked (a probe's "not running" is an answer). */
export function isFailure(event: { op: string; intervalMs: number; rc: number }): boolean {
  if (event.rc === 0) return false;
  if (event.rc === OCF_NOT_RUNNING && event.op === 'monitor' && event.intervalMs === 0) return false;
  if (event.rc === OCF_NOT_RUNNING && event.op === 'stop') return false;
  // A promoted instance's monitor answers "running promoted".
  if (event.rc === OCF_RUNNING_PROMOTED && event.op === 'monitor') return false;
  return true;
}

/**
 * Every node's failed operations in the CIB's history, oldest first. The history keeps the last
 * record of each operation and interval, so a failure shows until the same operation succeeds
 * again there or a cleanup forgets it (a recovered resource's failed monitor stays, like
 * crm_mon's last failure). `seen` gives a message to the failures the answering node saw.
 */
export function failedActions(cib: Cib, seen: readonly FailureRecord[] = []): FailureRecord[] {
  const out: (FailureRecord & { callId: number; timeMs: number })[] = [];
  for (const [node, ns] of Object.entries(cib.status.nodes)) {
    for (const [rsc, rs] of Object.entries(ns.resources ?? {})) {
      for (const op of rs.ops) {
        if (op.rc === RC_PENDING || !isFailure(op)) continue;
        const local = [...seen].reverse().find((f) => f.rsc === rsc && f.node === node && f.op === op.op && f.intervalMs === op.intervalMs && f.rc === op.rc);
        out.push({
          rsc,
          node,
          op: op.op,
          intervalMs: op.intervalMs,
          rc: op.rc,
          reason: ocfRcName(op.rc),
          ...(local?.message === undefined ? {} : { message: local.message }),
          at: new Date(op.timeMs).toISOString(),
          callId: op.callId,
          timeMs: op.timeMs,
        });
      }
    }
  }
  out.sort((a, b) => a.timeMs - b.timeMs || a.node.localeCompare(b.node) || a.callId - b.callId);
  return out.map(({ callId: _c, timeMs: _t, ...f }) => f);
}

export function buildStatusReport(
  status: ClusterStatus,
  snapshot: { cib: Cib; version: { adminEpoch: number; epoch: number; numUpdates: number }; synced: boolean },
  failures: readonly FailureRecord[],
  alertFailures: readonly AlertFailure[] = [],
): StatusReport {
  const { cib } = snapshot;
  const members = new Set((status.view?.members ?? []).map(String));
  const view = readCluster(cib, listPrimitives(cib.config), Date.now());
  return {
    format: STATUS_FORMAT,
    cluster: status.cluster,
    node: { ...status.node },
    view: status.view === undefined ? undefined : { seq: status.view.id.seq, members: [...status.view.members] },
    quorum: { quorate: status.quorum.quorate, reason: status.quorum.reason },
    coordinator: status.coordinator,
    epoch: status.epoch,
    leading: status.leading,
    cib: { version: `${snapshot.version.adminEpoch}.${snapshot.version.epoch}.${snapshot.version.numUpdates}`, synced: snapshot.synced },
    properties: cib.config.properties,
    nodes: view.nodes.map((n) => ({
      id: n.id,
      name: n.name,
      member: members.has(n.id),
      state: !members.has(n.id) ? 'offline' : n.maintenance ? 'maintenance' : n.standby ? 'standby' : n.unclean ? 'unclean' : 'online',
      standby: n.standby,
      maintenance: n.maintenance,
    })),
    resources: [...view.primitives.values()].map((p) => ({
      id: p.info.primitive.id,
      parent: p.info.group?.id ?? p.info.clone?.id,
      agent: [p.info.primitive.agent.class, p.info.primitive.agent.provider, p.info.primitive.agent.type].filter((x) => x !== undefined).join(':'),
      targetRole: p.meta.targetRole,
      managed: !p.blocked,
      running: p.active.map((a) => ({ node: a.node, role: a.role, failed: a.failed, managed: !p.blocked && !p.blockedOn.includes(a.node) })),
      failCounts: Object.fromEntries([...p.failCount].filter(([, n]) => n > 0)),
    })),
    failures: failedActions(cib, failures),
    alertFailures: alertFailures.map((f) => ({ alert: f.alert, kind: f.event.kind, error: f.error, attempts: f.attempts, at: f.event.timestamp })),
    links: status.links,
    drops: status.drops,
  };
}

/** The one screen `sanode status` prints, in the spirit of `crm_mon -1`. */
export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  const dc = r.coordinator === undefined ? 'NONE' : (r.nodes.find((n) => n.id === String(r.coordinator))?.name ?? `node ${r.coordinator}`);
  lines.push(`Cluster: ${r.cluster}   (seen from ${r.node.name}, node ${r.node.id})`);
  lines.push(`  * Quorum: ${r.quorum.quorate ? 'quorate' : `NO QUORUM (${r.quorum.reason})`}`);
  lines.push(`  * Coordinator (DC): ${dc}${r.epoch === undefined ? '' : `, epoch ${r.epoch}`}${r.leading ? ' (this node)' : ''}`);
  lines.push(`  * View: ${r.view === undefined ? 'none' : `seq ${r.view.seq}, members ${r.view.members.join(', ')}`}`);
  lines.push(`  * CIB: ${r.cib.version}${r.cib.synced ? '' : ' (state exchange pending)'}${r.properties?.maintenanceMode === true ? ', MAINTENANCE MODE' : ''}`);
  lines.push('', 'Node List:');
  for (const n of r.nodes) lines.push(`  * ${n.name} (${n.id}): ${n.state}${n.maintenance && n.state !== 'maintenance' ? ' (maintenance)' : ''}`);
  lines.push('', 'Resources:');
  if (r.resources.length === 0) lines.push('  * No resources');
  for (const res of r.resources) {
    const where = res.running.length === 0 ? 'Stopped' : res.running.map((a) => `${a.role}${a.failed ? ' (FAILED)' : ''} ${a.node}${res.managed && !a.managed ? ' (unmanaged)' : ''}`).join(', ');
    const notes = [res.targetRole === undefined ? undefined : `target-role ${res.targetRole}`, res.managed ? undefined : 'unmanaged'].filter((x) => x !== undefined);
    lines.push(`  * ${res.parent === undefined ? '' : `${res.parent}/`}${res.id} (${res.agent}): ${where}${notes.length === 0 ? '' : ` [${notes.join(', ')}]`}`);
  }
  const counts = r.resources.flatMap((res) => Object.entries(res.failCounts).map(([node, n]) => `  * ${res.id} on ${node}: fail count ${n >= 1_000_000 ? 'INFINITY' : n}`));
  if (counts.length > 0 || r.failures.length > 0) {
    lines.push('', 'Failed Resource Actions:');
    lines.push(...counts);
    for (const f of r.failures) lines.push(`  * ${f.rsc} ${f.op}${f.intervalMs > 0 ? `/${f.intervalMs}ms` : ''} on ${f.node}: rc ${f.rc}${f.reason === undefined ? '' : ` ${f.reason}`}${f.message === undefined ? '' : ` (${f.message})`} at ${f.at}`);
  }
  if (r.alertFailures.length > 0) {
    lines.push('', 'Failed Alerts:');
    for (const a of r.alertFailures) lines.push(`  * ${a.alert} (${a.kind} event at ${a.at}): ${a.error} after ${a.attempts} attempt${a.attempts === 1 ? '' : 's'}`);
  }
  lines.push('', 'Links:');
  for (const l of r.links) {
    const peers = l.peers.map((p) => `node ${p.node} ${p.healthy ? 'up' : 'DOWN'}`).join(', ');
    lines.push(`  * link ${l.link} ${l.mode} ${l.local}: ${peers || 'no peers'}`);
  }
  return `${lines.join('\n')}\n`;
}
