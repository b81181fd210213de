/**
 * sanode: high availability inside a Node.js service.
 *
 *   const cluster = await joinCluster({ cluster: 'web', node: { id: 1 }, transport: { peers: [...] }, keyFile });
 *   cluster.onLeader(async ({ epoch, signal }) => { ... });   // runs on exactly one quorate node
 */
import { Cluster } from './runtime/cluster.js';
import type { JoinClusterOptions } from './runtime/options.js';

export async function joinCluster(options: JoinClusterOptions): Promise<Cluster> {
  return Cluster.join(options);
}

export { Cluster } from './runtime/cluster.js';
export type { ClusterEvents, ClusterMessage, ClusterStatus, ClusterWarning, LeaderCallback, LeaderContext, LeaderEvent, QuorumEvent } from './runtime/cluster.js';
export type { JoinClusterOptions, TieBreakerContext, ProfileName } from './runtime/options.js';
export { SanodeError, ConfigError, isSanodeError, type ErrorCode } from './errors/index.js';
export { generateKey, writeKeyFile, loadKeyFile } from './wire/index.js';
export type { View, ViewId, NodeId } from './totem/types.js';
export type { QuorumDecision, QuorumReason } from './quorum/index.js';
export type { CibEvent, CibSnapshot } from './runtime/cluster.js';
export type { CibChange, CibChangedEvent, CibVersion } from './cib/replica.js';
export type { Cib, CibConfig, CibStatus, Constraint, NodeConfig, OpRecord, ResourceConfig } from './cib/model.js';
export { CibError } from './cib/validate.js';
