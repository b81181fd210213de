/**
 * One node running `joinCluster` in its own OS process, reporting over JSON lines on stdout.
 * Shared by the API tests, the namespace tests and the demo-style benchmarks.
 *
 * stdout: {ev:'starting'} (the process is up, before joinCluster) {ev:'ready', incarnation} {ev:'view', seq, rep, members} {ev:'quorum', quorate, reason}
 *         {ev:'leader-start', epoch} {ev:'leader-abort', epoch} {ev:'leader-tick', epoch} (leaderTickMs)
 *         {ev:'message', from, data}
 *         {ev:'status', status} {ev:'join-error', code, message}
 *         {ev:'cib-changed', version, cause, from} {ev:'cib-updated', ref, version}
 *         {ev:'cib-error', ref, code, message} {ev:'cib-state', cib, version, synced}
 *         {ev:'resource', rsc, node, op, intervalMs, rc, message?} (every operation result on this node)
 *         {ev:'admin-done', ref, op} {ev:'admin-error', ref, op, code, message}
 *         {ev:'error', code, message} (the cluster's error events: self-stops, failed CIB writes…)
 *         — every event carries atMs (epoch ms).
 * stdin:  {cmd:'leave'} {cmd:'status'} {cmd:'broadcast', data}
 *         {cmd:'cib-update', change, ref?} {cmd:'cib-get'}
 *         {cmd:'admin', op, args, ref}: op is a Cluster method returning a promise — cleanup,
 *         standby, moveResource, banResource, clearResource, startResource, stopResource.
 */
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { joinCluster, isSanodeError, type CibChange, type JoinClusterOptions } from '../../lib/index.js';

export interface ClusterProcessConfig {
  options: Omit<JoinClusterOptions, 'key'> & { keyHex?: string };
  /**
   * While its leader callback runs, emit {ev:'leader-tick', epoch} this often, each time after
   * `stillLeader()` said yes: a stand-in for the work a real leader does, so a recorder can tell
   * when a callback last acted (the fault lab).
   */
  leaderTickMs?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ClusterProcessConfig;
const emit = (event: object): void => {
  process.stdout.write(`${JSON.stringify({ ...event, atMs: performance.timeOrigin + performance.now() })}\n`);
};

const { keyHex, ...options } = config.options;
// Before joinCluster, which waits for a first view: when the process itself is up.
emit({ ev: 'starting' });
let cluster;
try {
  cluster = await joinCluster({ ...options, ...(keyHex === undefined ? {} : { key: Buffer.from(keyHex, 'hex') }) });
} catch (error) {
  emit({ ev: 'join-error', code: isSanodeError(error) ? error.code : 'unexpected', message: (error as Error).message });
  process.exit(3);
}

cluster.on('view', (v) => emit({ ev: 'view', seq: v.id.seq, rep: v.id.rep, members: v.members }));
cluster.on('quorum', (q) => emit({ ev: 'quorum', quorate: q.quorate, reason: q.reason, expectedVotes: q.expectedVotes }));
cluster.on('message', (m) => emit({ ev: 'message', from: m.from, data: m.data }));
cluster.on('cib', (c) => emit({ ev: 'cib-changed', version: c.version, cause: c.cause, from: c.from }));
// The resource event and the admin methods are looked up by name, so this fixture also runs
// against a build that does not have them.
(cluster as unknown as { on(event: string, listener: (e: Record<string, unknown>) => void): void }).on('resource', (e) =>
  emit({ ev: 'resource', rsc: e.rsc, node: e.node, op: e.op, intervalMs: e.intervalMs, rc: e.rc, ...(e.message === undefined ? {} : { message: e.message }) }),
);
(cluster as unknown as { on(event: string, listener: (e: Record<string, unknown>) => void): void }).on('failover', (f) => emit({ ev: 'failover', ...f }));
(cluster as unknown as { on(event: string, listener: (e: unknown) => void): void }).on('error', (error) =>
  emit({ ev: 'error', code: isSanodeError(error) ? error.code : 'unexpected', message: (error as Error)?.message ?? String(error) }),
);
const ADMIN_OPS = new Set(['cleanup', 'standby', 'moveResource', 'banResource', 'clearResource', 'startResource', 'stopResource']);
cluster.onLeader(async ({ epoch, signal, stillLeader }) => {
  emit({ ev: 'leader-start', epoch });
  const tick = config.leaderTickMs === undefined ? undefined : setInterval(() => {
    // As docs/leadership.md asks of a callback: act only after the synchronous lease check.
    if (stillLeader()) emit({ ev: 'leader-tick', epoch });
  }, config.leaderTickMs);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(tick);
  emit({ ev: 'leader-abort', epoch });
});
const initial = cluster.status();
if (initial.view !== undefined) emit({ ev: 'view', seq: initial.view.id.seq, rep: initial.view.id.rep, members: initial.view.members });
emit({ ev: 'quorum', quorate: initial.quorum.quorate, reason: initial.quorum.reason, expectedVotes: initial.quorum.expectedVotes });

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as { cmd: string; data?: unknown; change?: CibChange; ref?: unknown; op?: string; args?: unknown[] };
  if (command.cmd === 'leave') {
    void cluster.leave().then(() => {
      emit({ ev: 'left' });
      process.exit(0);
    });
  } else if (command.cmd === 'status') {
    emit({ ev: 'status', status: cluster.status() });
  } else if (command.cmd === 'broadcast') {
    cluster.broadcast(command.data);
  } else if (command.cmd === 'cib-update') {
    const ref = command.ref;
    cluster.updateCib(command.change!).then(
      (version) => emit({ ev: 'cib-updated', ref, version }),
      (error: unknown) => emit({ ev: 'cib-error', ref, code: isSanodeError(error) ? error.code : 'unexpected', message: (error as Error).message }),
    );
  } else if (command.cmd === 'cib-get') {
    const { cib, version, synced } = cluster.cib();
    emit({ ev: 'cib-state', cib, version, synced });
  } else if (command.cmd === 'admin') {
    const { ref, op = '' } = command;
    const method = (cluster as unknown as Record<string, unknown>)[op];
    if (!ADMIN_OPS.has(op) || typeof method !== 'function') {
      emit({ ev: 'admin-error', ref, op, code: 'unknown-op', message: `no Cluster method ${op}` });
      return;
    }
    Promise.resolve()
      .then(() => (method as (...args: unknown[]) => unknown).apply(cluster, command.args ?? []))
      .then(
        () => emit({ ev: 'admin-done', ref, op }),
        (error: unknown) => emit({ ev: 'admin-error', ref, op, code: isSanodeError(error) ? error.code : 'unexpected', message: (error as Error).message }),
      );
  }
});
emit({ ev: 'ready', incarnation: cluster.status().node.incarnation });
