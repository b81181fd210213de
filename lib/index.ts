/**
 * sanode: high availability inside a Node.js service.
 *
 *   const cluster = await joinCluster({ cluster: 'web', node: { id: 1 }, transport: { peers: [...] }, keyFile });
 *   cluster.onLeader(async ({ epoch, signal }) => { ... });   // runs on exactly one quorate node
 */
import type { Cluster } from './runtime/cluster.js';
import type { JoinClusterOptions } from './runtime/options.js';
import { joinNode } from './join.js';

/**
 * Checks the options, joins, and with `admin` in the options opens the admin socket that
 * `sanode status` and the other commands use.
 */
export async function joinCluster(options: JoinClusterOptions): Promise<Cluster> {
  return joinNode(options);
}

export { Cluster } from './runtime/cluster.js';
export type { ClusterEvents, ClusterMessage, ClusterStatus, ClusterWarning, FailoverReport, LeaderCallback, LeaderContext, LeaderEvent, QuorumEvent, ResourceEvent } from './runtime/cluster.js';
export type { JoinClusterOptions, TieBreakerContext, ProfileName, AdminOptions } from './runtime/options.js';
export { defaultStateDir } from './runtime/options.js';
export { clusterFileJsonSchema } from './config/schema.js';
export { CHANNELS as DIAGNOSTICS_CHANNELS, type ChannelName, type DiagnosticContext } from './diagnostics.js';
export type { StatusReport } from './admin/report.js';
export type { AlertConfig, AlertEvent, AlertKind } from './alerts/index.js';
export { loadClusterFile, parseClusterFile, type LoadedClusterFile } from './config/file.js';
export { SanodeError, ConfigError, isSanodeError, type ErrorCode } from './errors/index.js';
export { generateKey, writeKeyFile, loadKeyFile } from './wire/index.js';
export type { View, ViewId, NodeId } from './totem/types.js';
export type { QuorumDecision, QuorumReason } from './quorum/index.js';
export type { CibEvent, CibSnapshot } from './runtime/cluster.js';
export type { CibChange, CibChangedEvent, CibVersion } from './cib/replica.js';
export type { Cib, CibConfig, CibStatus, Constraint, NodeConfig, OpRecord, ResourceConfig } from './cib/model.js';
export { CibError } from './cib/validate.js';
