/**
 * sanode: high availability inside a Node.js service.
 *
 *   const cluster = await joinCluster({ cluster: 'web', node: { id: 1 }, transport: { peers: [...] }, keyFile });
 *   cluster.onLeader(async ({ epoch, signal }) => { ... });   // runs on exactly one quorate node
 */
import { Cluster } from './runtime/cluster.js';
import { lockNode } from './runtime/node-lock.js';
import { resolveJoinOptions, type JoinClusterOptions } from './runtime/options.js';

/**
 * Checks the options, locks the node's state directory (one copy of a node per host), joins, and
 * releases the lock on leave() or on any failure to join.
 */
export async function joinCluster(options: JoinClusterOptions): Promise<Cluster> {
  const resolved = resolveJoinOptions(options);
  const unlock = lockNode(resolved.stateDir, resolved.cluster, resolved.nodeId);
  let cluster: Cluster;
  try {
    cluster = await Cluster.join({ ...options, stateDir: resolved.stateDir });
  } catch (error) {
    unlock();
    throw error;
  }
  const leave = cluster.leave.bind(cluster);
  // The lock outlives the node's last write: released only once leave() has finished.
  cluster.leave = async () => {
    try {
      await leave();
    } finally {
      unlock();
    }
  };
  return cluster;
}

export { Cluster } from './runtime/cluster.js';
export type { ClusterEvents, ClusterMessage, ClusterStatus, LeaderCallback, LeaderContext, LeaderEvent, QuorumEvent } from './runtime/cluster.js';
export type { JoinClusterOptions, TieBreakerContext, ProfileName, AdminOptions } from './runtime/options.js';
export { defaultStateDir } from './runtime/options.js';
export { clusterFileJsonSchema } from './config/schema.js';
export { loadClusterFile, parseClusterFile, type LoadedClusterFile } from './config/file.js';
export { SanodeError, ConfigError, isSanodeError, type ErrorCode } from './errors/index.js';
export { generateKey, writeKeyFile, loadKeyFile } from './wire/index.js';
export type { View, ViewId, NodeId } from './totem/types.js';
export type { QuorumDecision, QuorumReason } from './quorum/index.js';
export type { CibEvent, CibSnapshot } from './runtime/cluster.js';
export type { CibChange, CibChangedEvent, CibVersion } from './cib/replica.js';
export type { Cib, CibConfig, CibStatus, Constraint, NodeConfig, OpRecord, ResourceConfig } from './cib/model.js';
export { CibError } from './cib/validate.js';
