/**
 * One node's life around the Cluster: checked options, the state-directory lock, diagnostics
 * publishing and the optional admin socket, set up in that order and torn down in reverse on
 * leave() or on any failure to start. Shared by joinCluster and the sidecar.
 */
import { AdminServer, type AdminServerHooks } from './admin/server.js';
import { publishClusterDiagnostics } from './diagnostics.js';
import { Alerts } from './alerts/index.js';
import { Cluster } from './runtime/cluster.js';
import { lockNode } from './runtime/node-lock.js';
import { resolveJoinOptions, type JoinClusterOptions } from './runtime/options.js';

export interface NodeHandle {
  readonly cluster: Cluster;
  readonly admin: AdminServer | undefined;
}

export async function startNode(options: JoinClusterOptions, hooks: AdminServerHooks = {}): Promise<NodeHandle> {
  const resolved = resolveJoinOptions(options);
  const unlock = lockNode(resolved.stateDir, resolved.cluster, resolved.nodeId);
  let cluster: Cluster;
  try {
    cluster = await Cluster.join({ ...options, stateDir: resolved.stateDir });
  } catch (error) {
    unlock();
    throw error;
  }
  const stopDiagnostics = publishClusterDiagnostics(cluster);
  const alerts = resolved.alerts.length === 0 ? undefined : new Alerts(cluster, resolved.alerts);
  let admin: AdminServer | undefined;
  const leave = cluster.leave.bind(cluster);
  if (resolved.admin !== undefined) {
    try {
      admin = await AdminServer.start(cluster, resolved.admin, { onLeave: hooks.onLeave ?? (() => cluster.leave()), alertFailures: () => alerts?.failures() ?? [] });
    } catch (error) {
      alerts?.close();
      stopDiagnostics();
      await leave().catch(() => undefined);
      unlock();
      throw error;
    }
  }
  // Torn down after the node has left: status stays answerable while it leaves, and the lock
  // outlives the node's last write. (An override of the instance's method, because the Cluster
  // class belongs to the runtime and has no close hook of its own.)
  let leaving: Promise<void> | undefined;
  cluster.leave = () => {
    leaving ??= (async () => {
      try {
        await leave();
      } finally {
        await admin?.close();
        alerts?.close();
        stopDiagnostics();
        unlock();
      }
    })();
    return leaving;
  };
  return { cluster, admin };
}

export async function joinNode(options: JoinClusterOptions): Promise<Cluster> {
  return (await startNode(options)).cluster;
}
