/**
 * joinCluster options: the shape a service writes, checked field by field, turned into what the
 * layers below take. Every refusal names the field, the value and the fix.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '../errors/index.js';
import type { CibConfig } from '../cib/model.js';
import type { ResourceAgent } from '../../agents/types.js';
import { CibError, validateConfig } from '../cib/validate.js';
import type { LinkConfig, NodeAddress } from '../transport/index.js';
import type { TotemTimers } from '../totem/types.js';
import type { QuorumConfig } from '../quorum/index.js';

export type ProfileName = 'lan' | 'fast' | 'wan';

export interface TieBreakerContext {
  /** Members of the view whose even split must be decided. */
  readonly members: readonly number[];
  readonly signal: AbortSignal;
}

export interface JoinClusterOptions {
  /** Cluster name: nodes only talk to nodes of the same name (and key). */
  cluster: string;
  node: { id: number; name?: string };
  transport: {
    /** Shorthand for one link: 'udpu' (unicast to each peer, the default) or 'mcast'. */
    mode?: 'udpu' | 'mcast';
    port?: number;
    /** Shorthand: every node's address, node id = position + 1 (this node's own included). */
    peers?: string[];
    /** Explicit nodelist, like corosync's: `addrs[k]` is the node's address on link k. */
    nodes?: { id: number; name?: string; addrs: string[] }[];
    /** Explicit links (up to 8, like knet links); default: one link built from the shorthand. */
    links?: LinkConfig[];
    mcastAddr?: string;
    ttl?: number;
  };
  /** Path of the cluster key made by `sanode keygen`. Required unless `security: 'insecure'`. */
  keyFile?: string;
  /** The key itself, for callers that manage secrets their own way. */
  key?: Uint8Array;
  /** Only 'insecure' can be given, and only by name: for debugging on a trusted host. */
  security?: 'insecure';
  /** Accept a key file that group or others can read (ssh refuses those; so do we by default). */
  allowOpenKeyPermissions?: boolean;
  profile?: ProfileName;
  timers?: Partial<TotemTimers>;
  quorum?: Omit<QuorumConfig, 'nodes'> & { votes?: Record<number, number> };
  /** An async check that decides an even split (see QuorumConfig.tieBreaker for 'vote' vs 'veto'). */
  tieBreakerCheck?: (context: TieBreakerContext) => Promise<boolean>;
  tieBreakerTimeoutMs?: number;
  /** Where the node keeps its ring seq, incarnation and epochs. Default: ./.sanode/<cluster>/node-<id>. */
  stateDir?: string;
  /** A leader without proof of an intact quorate ring for this long aborts. Default: token timeout + consensus timeout. */
  leaseMs?: number;
  /** Largest clock-rate difference assumed between nodes; lengthens takeover waits. Default 0.01. */
  clockDriftRatio?: number;
  /**
   * The CIB configuration a node starts from when it has no saved copy (`<stateDir>/cib.json`),
   * at version 0.0.0: any copy the cluster has changed since wins the state exchange. Default:
   * the transport's nodes and no resources.
   */
  cib?: CibConfig;
  /** Agents for resources whose agent is `{ class: 'sanode', type: NAME }`, beside the built-in vip, process, filesystem and dummy. */
  agents?: Record<string, ResourceAgent<never>>;
  resources?: {
    /**
     * How long a node that lost quorum or its lease has to stop its resources; the majority waits
     * this (after the lost node's lease) before starting them elsewhere. Default 1000.
     */
    selfStopMs?: number;
    /**
     * false: this node neither runs resource agents nor coordinates resources; it still keeps the
     * CIB (for tools and tests that use only the replicated configuration). Default true.
     */
    manage?: boolean;
  };
}

export interface ResolvedJoinOptions {
  cluster: string;
  nodeId: number;
  nodeName: string;
  nodes: NodeAddress[];
  nodeNames: Map<number, string>;
  links: LinkConfig[];
  security: { mode: 'secure'; keyFile?: string; key?: Uint8Array; allowOpenKeyPermissions: boolean } | { mode: 'insecure' };
  profile: ProfileName;
  timers: Partial<TotemTimers>;
  quorum: QuorumConfig;
  tieBreakerCheck: JoinClusterOptions['tieBreakerCheck'];
  tieBreakerTimeoutMs: number;
  stateDir: string;
  leaseMs: number | undefined;
  clockDriftRatio: number;
  /** The initial CIB configuration (validated), used only when no saved copy exists. */
  cib: CibConfig;
  agents: Record<string, ResourceAgent<never>> | undefined;
  selfStopMs: number;
  manageResources: boolean;
}

const describe = (value: unknown): string => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value));

function stripPort(address: string): string {
  if (isIP(address) !== 0) return address;
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (bracketed !== null) return bracketed[1]!;
  const v4 = /^([\d.]+):\d+$/.exec(address);
  return v4 !== null ? v4[1]! : address;
}

export function resolveJoinOptions(raw: JoinClusterOptions): ResolvedJoinOptions {
  if (typeof raw !== 'object' || raw === null) throw new ConfigError('options', `expected an object, got ${describe(raw)}`);
  if (typeof raw.cluster !== 'string' || !/^[\w.-]{1,64}$/.test(raw.cluster)) {
    throw new ConfigError('cluster', `expected a name of 1-64 letters, digits, '.', '_' or '-', got ${describe(raw.cluster)}`);
  }
  if (typeof raw.node !== 'object' || raw.node === null) {
    throw new ConfigError('node', `expected { id: <1..65535>, name?: string }, got ${describe(raw.node)}`);
  }
  const nodeId = raw.node.id;
  // Epochs pack the node id into 16 bits (docs/leadership.md).
  if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > 65_535) {
    throw new ConfigError('node.id', `expected an integer 1..65535, got ${describe(nodeId)}`);
  }
  const transport = raw.transport;
  if (typeof transport !== 'object' || transport === null) {
    throw new ConfigError('transport', "expected e.g. { mode: 'udpu', port: 5405, peers: ['10.0.0.11', '10.0.0.12', '10.0.0.13'] }");
  }
  if (transport.peers !== undefined && transport.nodes !== undefined) {
    throw new ConfigError('transport.peers', 'give either peers (ids by position) or nodes (explicit ids), not both');
  }
  let nodes: NodeAddress[];
  const nodeNames = new Map<number, string>();
  if (transport.nodes !== undefined) {
    if (!Array.isArray(transport.nodes) || transport.nodes.length === 0) {
      throw new ConfigError('transport.nodes', `expected a non-empty list of { id, addrs: [...] }, got ${describe(transport.nodes)}`);
    }
    nodes = transport.nodes.map((n, i) => {
      if (typeof n !== 'object' || n === null || !Number.isInteger(n.id) || n.id < 1 || n.id > 65_535) {
        throw new ConfigError(`transport.nodes[${i}].id`, `expected an integer 1..65535, got ${describe(n?.id)}`);
      }
      if (!Array.isArray(n.addrs) || n.addrs.length === 0) {
        throw new ConfigError(`transport.nodes[${i}].addrs`, `expected one address per link, got ${describe(n.addrs)}`);
      }
      if (n.name !== undefined) nodeNames.set(n.id, n.name);
      return { id: n.id, addrs: [...n.addrs] };
    });
  } else if (transport.peers !== undefined) {
    if (!Array.isArray(transport.peers) || transport.peers.length === 0 || transport.peers.some((p) => typeof p !== 'string')) {
      throw new ConfigError('transport.peers', `expected a list of every node's address (this node's included), got ${describe(transport.peers)}`);
    }
    nodes = transport.peers.map((address, i) => ({ id: i + 1, addrs: [address] }));
  } else {
    throw new ConfigError('transport', "needs peers: ['addr of node 1', 'addr of node 2', ...] or nodes: [{ id, addrs }]");
  }
  const me = nodes.find((n) => n.id === nodeId);
  if (me === undefined) {
    throw new ConfigError('node.id', `node ${nodeId} is not in the node list (ids ${nodes.map((n) => n.id).join(', ')}); with peers, node id N is the N-th address`);
  }
  const port = transport.port ?? 5405;
  let links: LinkConfig[];
  if (transport.links !== undefined) {
    links = transport.links;
  } else {
    const mode = transport.mode ?? 'udpu';
    if (mode !== 'udpu' && mode !== 'mcast') throw new ConfigError('transport.mode', `expected 'udpu' or 'mcast', got ${describe(mode)}`);
    const bindAddr = stripPort(me.addrs[0]!);
    links = [
      mode === 'udpu'
        ? { mode, bindAddr, port }
        : { mode, bindAddr, port, mcastAddr: transport.mcastAddr ?? '239.255.54.5', ttl: transport.ttl ?? 1, mcastInterface: isIP(bindAddr) === 4 ? bindAddr : undefined },
    ] as LinkConfig[];
  }

  let security: ResolvedJoinOptions['security'];
  if (raw.security !== undefined) {
    if (raw.security !== 'insecure') throw new ConfigError('security', `the only value is 'insecure' (for debugging); remove it to encrypt, got ${describe(raw.security)}`);
    if (raw.keyFile !== undefined || raw.key !== undefined) throw new ConfigError('security', "'insecure' with a key makes no sense; remove one of them");
    security = { mode: 'insecure' };
  } else if (raw.key !== undefined) {
    if (!(raw.key instanceof Uint8Array) || raw.key.length < 32) throw new ConfigError('key', 'expected at least 32 bytes of key material, as `sanode keygen` writes');
    security = { mode: 'secure', key: raw.key, allowOpenKeyPermissions: false };
  } else if (typeof raw.keyFile === 'string' && raw.keyFile.length > 0) {
    security = { mode: 'secure', keyFile: raw.keyFile, allowOpenKeyPermissions: raw.allowOpenKeyPermissions === true };
  } else {
    throw new ConfigError('keyFile', "cluster traffic is encrypted: make a key with `sanode keygen --out FILE`, copy it to every node and pass keyFile: FILE (or security: 'insecure' to debug)");
  }

  const profile = raw.profile ?? 'lan';
  if (!['lan', 'fast', 'wan'].includes(profile)) throw new ConfigError('profile', `expected 'lan', 'fast' or 'wan', got ${describe(profile)}`);
  const votes = raw.quorum?.votes ?? {};
  const { votes: _votes, ...quorumRest } = raw.quorum ?? {};
  void _votes;
  const quorum: QuorumConfig = { ...quorumRest, nodes: nodes.map((n) => ({ id: n.id, votes: votes[n.id] ?? 1 })) };
  if (quorum.tieBreaker !== undefined && quorum.tieBreaker !== 'none' && raw.tieBreakerCheck === undefined) {
    throw new ConfigError('tieBreakerCheck', `quorum.tieBreaker is '${quorum.tieBreaker}' but no tieBreakerCheck function was given`);
  }
  if (raw.tieBreakerCheck !== undefined && typeof raw.tieBreakerCheck !== 'function') {
    throw new ConfigError('tieBreakerCheck', 'expected an async function ({ members, signal }) => boolean');
  }
  const positive = (field: string, value: number | undefined): void => {
    if (value !== undefined && (!Number.isFinite(value) || value <= 0)) throw new ConfigError(field, `expected a positive number of milliseconds, got ${describe(value)}`);
  };
  positive('leaseMs', raw.leaseMs);
  positive('tieBreakerTimeoutMs', raw.tieBreakerTimeoutMs);
  positive('resources.selfStopMs', raw.resources?.selfStopMs);
  if (raw.agents !== undefined) {
    if (typeof raw.agents !== 'object' || raw.agents === null) throw new ConfigError('agents', 'expected an object of agents by type name, e.g. { myapp: { start, stop, monitor } }');
    for (const [name, agent] of Object.entries(raw.agents)) {
      const a = agent as unknown as Record<string, unknown> | null;
      if (typeof a !== 'object' || a === null || ['start', 'stop', 'monitor'].some((h) => typeof a[h] !== 'function')) {
        throw new ConfigError(`agents.${name}`, 'an agent needs async start, stop and monitor functions');
      }
    }
  }
  const clockDriftRatio = raw.clockDriftRatio ?? 0.01;
  if (!(clockDriftRatio >= 0 && clockDriftRatio < 0.2)) throw new ConfigError('clockDriftRatio', `expected 0 <= ratio < 0.2, got ${describe(clockDriftRatio)}`);

  const nodeName = raw.node.name ?? nodeNames.get(nodeId) ?? `node-${nodeId}`;
  let cib: CibConfig;
  if (raw.cib !== undefined) {
    try {
      validateConfig(raw.cib);
    } catch (error) {
      if (!(error instanceof CibError)) throw error;
      // Reads as "cib: resources[0].agent (ip): needs { class, type }, ...": the path inside the
      // option, the object and the fix.
      throw new ConfigError('cib', error.message, { cause: error });
    }
    cib = structuredClone(raw.cib);
  } else {
    cib = defaultCibConfig(nodes, nodeId, nodeName, nodeNames);
  }

  return {
    cluster: raw.cluster,
    nodeId,
    nodeName,
    nodes,
    nodeNames,
    links,
    security,
    profile,
    timers: raw.timers ?? {},
    quorum,
    tieBreakerCheck: raw.tieBreakerCheck,
    tieBreakerTimeoutMs: raw.tieBreakerTimeoutMs ?? 2000,
    stateDir: raw.stateDir ?? join(process.cwd(), '.sanode', raw.cluster, `node-${nodeId}`),
    leaseMs: raw.leaseMs,
    clockDriftRatio,
    cib,
    agents: raw.agents,
    selfStopMs: raw.resources?.selfStopMs ?? 1000,
    manageResources: raw.resources?.manage ?? true,
  };
}

/**
 * The transport's nodes, so status and node attributes can name them from the start. Names the
 * CIB would refuse (it keys status by host-like names) are left out rather than refusing to start
 * a service that never uses the CIB.
 */
function defaultCibConfig(nodes: NodeAddress[], nodeId: number, nodeName: string, nodeNames: Map<number, string>): CibConfig {
  const seen = new Set<string>();
  const cibNodes: CibConfig['nodes'] = [];
  for (const n of nodes) {
    const name = n.id === nodeId ? nodeName : (nodeNames.get(n.id) ?? `node-${n.id}`);
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || seen.has(name)) continue;
    seen.add(name);
    cibNodes.push({ id: String(n.id), name });
  }
  return { nodes: cibNodes, resources: [] };
}
