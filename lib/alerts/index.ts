/**
 * Alerts, like Pacemaker's alert agents and keepalived's notify scripts: on node, resource,
 * leader and quorum events, run a script (with CRM_alert_* variables, so Pacemaker's sample alert
 * agents work unchanged, and SANODE_ALERT_* ones) or POST the event as JSON to a webhook.
 *
 * Takes: a Cluster's public events and the `alerts` configuration. Emits: script runs and HTTP
 * requests, and a 'sanode:alert' diagnostics message for every alert that failed after its
 * retries (also kept, the last MAX_FAILURES, for `sanode status`).
 * Never: blocks or slows the cluster. Deliveries run in the background, one at a time per alert,
 * from a bounded queue (the oldest is dropped, and counted, when a recipient cannot keep up);
 * every attempt has a timeout.
 */
import { execFile } from 'node:child_process';
import { CHANNELS, publish } from '../diagnostics.js';
import type { Cluster } from '../runtime/cluster.js';

export type AlertKind = 'node' | 'resource' | 'leader' | 'quorum';

export interface AlertConfig {
  id: string;
  /** An executable, run with the event in its environment. */
  script?: string;
  /** An http(s) URL the event is POSTed to as JSON. */
  webhook?: string;
  /** Which events; default all. */
  events?: AlertKind[];
  /** One attempt gives up after this long. Default 5000. */
  timeoutMs?: number;
  /** Attempts after the first one fails. Default 2. */
  retries?: number;
  /** Passed as CRM_alert_recipient (Pacemaker's recipient value, e.g. a file or an address). */
  recipient?: string;
}

export interface AlertEvent {
  readonly kind: AlertKind;
  readonly cluster: string;
  /** The node the event is about (for node events, the node that joined or left). */
  readonly node: string;
  readonly nodeId: number | undefined;
  readonly rsc?: string;
  readonly task?: string;
  readonly rc?: number;
  readonly desc: string;
  readonly timestamp: string;
  readonly epoch: number | undefined;
  readonly view: number | undefined;
}

export interface AlertFailure {
  readonly alert: string;
  readonly event: AlertEvent;
  readonly error: string;
  readonly attempts: number;
}

const MAX_QUEUE = 100;
const MAX_FAILURES = 20;
/** Between attempts: long enough for a restarting receiver, short enough to stay relevant. */
const RETRY_DELAY_MS = 500;

/** The environment a script sees: Pacemaker's names first, then sanode's. */
export function alertEnvironment(event: AlertEvent, alert: AlertConfig): Record<string, string> {
  const env: Record<string, string> = {
    CRM_alert_version: 'sanode-1',
    CRM_alert_kind: event.kind,
    CRM_alert_node: event.node,
    CRM_alert_desc: event.desc,
    CRM_alert_timestamp: event.timestamp,
    CRM_alert_recipient: alert.recipient ?? '',
  };
  if (event.nodeId !== undefined) env.CRM_alert_nodeid = String(event.nodeId);
  if (event.rsc !== undefined) env.CRM_alert_rsc = event.rsc;
  if (event.task !== undefined) env.CRM_alert_task = event.task;
  if (event.rc !== undefined) {
    env.CRM_alert_rc = String(event.rc);
    env.CRM_alert_target_rc = '0';
  }
  for (const [key, value] of Object.entries(env)) env[key.replace('CRM_alert_', 'SANODE_ALERT_').toUpperCase()] = value;
  env.SANODE_ALERT_CLUSTER = event.cluster;
  if (event.epoch !== undefined) env.SANODE_ALERT_EPOCH = String(event.epoch);
  if (event.view !== undefined) env.SANODE_ALERT_VIEW = String(event.view);
  return env;
}

function runScript(path: string, env: Record<string, string>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(path, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(error.killed ? `timed out after ${timeoutMs} ms` : `exit ${String(error.code)}${stderr.trim() === '' ? '' : `: ${stderr.trim().split('\n').pop()}`}`));
    });
  });
}

async function postWebhook(url: string, event: AlertEvent, timeoutMs: number): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(timeoutMs) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
}

class AlertQueue {
  private readonly queue: AlertEvent[] = [];
  private busy = false;
  dropped = 0;

  constructor(
    private readonly config: AlertConfig,
    private readonly deliver: (event: AlertEvent) => Promise<void>,
  ) {}

  push(event: AlertEvent): void {
    if (this.config.events !== undefined && !this.config.events.includes(event.kind)) return;
    this.queue.push(event);
    if (this.queue.length > MAX_QUEUE) {
      this.queue.shift();
      this.dropped += 1;
    }
    // Started on a later turn: the cluster's event handler never pays for a spawn or a connect.
    if (!this.busy) {
      this.busy = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.deliver(this.queue.shift()!);
    this.busy = false;
  }
}

export class Alerts {
  private readonly queues: AlertQueue[];
  private readonly recorded: AlertFailure[] = [];
  private readonly stop: () => void;
  private closed = false;
  private members: Set<number> | undefined;

  constructor(
    private readonly cluster: Cluster,
    configs: readonly AlertConfig[],
  ) {
    this.queues = configs.map((config) => new AlertQueue(config, (event) => this.attempt(config, event)));
    const nameOf = (id: number) => cluster.cib().cib.config.nodes.find((n) => n.id === String(id))?.name ?? `node-${id}`;
    const onView = (view: { members: readonly number[] }) => {
      const now = new Set(view.members);
      // The first view is where the node starts, not a change to report.
      if (this.members !== undefined) {
        for (const id of now) if (!this.members.has(id)) this.emit({ kind: 'node', node: nameOf(id), nodeId: id, desc: 'member' });
        for (const id of this.members) if (!now.has(id)) this.emit({ kind: 'node', node: nameOf(id), nodeId: id, desc: 'lost' });
      }
      this.members = now;
    };
    const onResource = (e: { rsc: string; node: string; op: string; intervalMs: number; rc: number; message?: string }) => {
      // A recurring monitor that keeps succeeding is not news (Pacemaker does not alert on it either).
      if (e.op === 'monitor' && e.intervalMs > 0 && e.rc === 0) return;
      this.emit({ kind: 'resource', node: e.node, nodeId: cluster.status().node.id, rsc: e.rsc, task: e.op, rc: e.rc, desc: e.message ?? (e.rc === 0 ? 'ok' : `rc ${e.rc}`) });
    };
    const onLeader = (l: { leading: boolean; epoch: number | undefined }) => {
      const me = cluster.status().node;
      if (l.leading) this.emit({ kind: 'leader', node: me.name, nodeId: me.id, desc: `coordinates, epoch ${String(l.epoch)}` });
    };
    const onQuorum = (q: { quorate: boolean; reason: string }) => {
      const me = cluster.status().node;
      this.emit({ kind: 'quorum', node: me.name, nodeId: me.id, desc: q.quorate ? 'quorate' : `no quorum: ${q.reason}` });
    };
    const current = cluster.status().view;
    if (current !== undefined) this.members = new Set(current.members);
    cluster.on('view', onView);
    cluster.on('resource', onResource);
    cluster.on('leader', onLeader);
    cluster.on('quorum', onQuorum);
    this.stop = () => {
      cluster.off('view', onView);
      cluster.off('resource', onResource);
      cluster.off('leader', onLeader);
      cluster.off('quorum', onQuorum);
    };
  }

  failures(): AlertFailure[] {
    return [...this.recorded];
  }

  private emit(fields: Omit<AlertEvent, 'cluster' | 'timestamp' | 'epoch' | 'view'>): void {
    if (this.closed) return;
    const s = this.cluster.status();
    const event: AlertEvent = { ...fields, cluster: s.cluster, timestamp: new Date().toISOString(), epoch: s.epoch, view: s.view?.id.seq };
    for (const q of this.queues) q.push(event);
  }

  private async attempt(config: AlertConfig, event: AlertEvent): Promise<void> {
    const attempts = 1 + (config.retries ?? 2);
    const timeoutMs = config.timeoutMs ?? 5000;
    let lastError = '';
    for (let i = 0; i < attempts; i += 1) {
      try {
        if (config.script !== undefined) await runScript(config.script, alertEnvironment(event, config), timeoutMs);
        else if (config.webhook !== undefined) await postWebhook(config.webhook, event, timeoutMs);
        return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        if (i + 1 < attempts) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS).unref());
      }
    }
    const failure: AlertFailure = { alert: config.id, event, error: lastError, attempts };
    this.recorded.push(failure);
    if (this.recorded.length > MAX_FAILURES) this.recorded.shift();
    publish(CHANNELS.alert, this.cluster, { alert: config.id, event: event.kind, error: lastError, attempts });
  }

  close(): void {
    this.closed = true;
    this.stop();
  }
}
