/**
 * joinCluster options: the shape a service writes, checked field by field, turned into what the
 * layers below take. Every refusal names the field, the value and the fix.
 */
import { isIP } from 'node:net';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { ConfigError } from '../errors/index.js';
import type { z } from 'zod';
import { describeValue, joinOptionsSchema, parseConfig } from '../config/schema.js';
import type { CibConfig } from '../cib/model.js';
import type { ResourceAgent } from '../../agents/types.js';
import { CibError, validateConfig } from '../cib/validate.js';
import type { LinkConfig, NodeAddress } from '../transport/index.js';
import type { TotemTimers } from '../totem/types.js';
import { PROFILES, validateTimers } from '../totem/config.js';
import { validateLinks } from '../transport/config.js';
import type { QuorumConfig } from '../quorum/index.js';
import type { AlertConfig } from '../alerts/index.js';

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
  /**
   * Where the node keeps its ring seq, incarnation, epochs and CIB: an absolute path (a relative
   * one is refused). Default: /var/lib/sanode/<cluster>/node-<id> for root, else
   * $XDG_STATE_HOME/sanode/<cluster>/node-<id> (or ~/.local/state/sanode/...). One node at a time
   * may use it: a second start with the same directory is refused (SANODE_NODE_RUNNING).
   */
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
  /** The local admin socket that `sanode status` and the other commands talk to (lib/admin). Off unless given. */
  admin?: AdminOptions;
  /** Scripts or webhooks told about node, resource, leader and quorum events (lib/alerts). */
  alerts?: AlertConfig[];
}

export interface AdminOptions {
  /** Default: /run/sanode/admin.sock for root, else $XDG_RUNTIME_DIR/sanode/admin.sock. */
  socket?: string;
  /** File mode of the admin socket. Default 0o600: only its owner (root for a system service) may use it. */
  mode?: number;
  /** Group id given the sockets, so that mode 0o660 lets that group in. */
  gid?: number;
  /** A second socket that answers only read-only commands (status, lists, show). Off unless given. */
  readOnlySocket?: string;
  /** File mode of the read-only socket. Default 0o666. */
  readOnlyMode?: number;
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
  admin: AdminOptions | undefined;
  alerts: AlertConfig[];
}

const describe = describeValue;

function stripPort(address: string): string {
  if (isIP(address) !== 0) return address;
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (bracketed !== null) return bracketed[1]!;
  const v4 = /^([\d.]+):\d+$/.exec(address);
  return v4 !== null ? v4[1]! : address;
}

/**
 * Where a node keeps its state unless told: an absolute path, so a service started from another
 * directory finds the same incarnation and CIB (a relative default silently made a new, empty
 * node). root: /var/lib/sanode, as a packaged daemon keeps its state; anyone else: the XDG state
 * directory, which needs no privileges.
 */
export function defaultStateDir(cluster: string, nodeId: number, env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.()): string {
  const leaf = join('sanode', cluster, `node-${nodeId}`);
  if (uid === 0) return join('/var/lib', leaf);
  const xdg = env.XDG_STATE_HOME;
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, leaf);
  const home = env.HOME;
  if (home !== undefined && isAbsolute(home)) return join(home, '.local', 'state', leaf);
  throw new ConfigError('stateDir', `no default for a user without HOME or XDG_STATE_HOME; pass stateDir: '/var/lib/sanode/${cluster}/node-${nodeId}' (any absolute directory this user can write)`);
}

/** The port written in an address ("10.0.0.1:5406", "[fd00::1]:5406"), else the link's port. */
function portOf(address: string, fallback: number): number {
  return stripPort(address) === address ? fallback : Number(address.slice(address.lastIndexOf(':') + 1));
}

/** Two nodes on one address and port would each read the other's datagrams as their own. */
function refuseDuplicateAddresses(nodes: NodeAddress[], port: number, usingPeers: boolean): void {
  const seen = new Map<string, { id: number; field: string }>();
  for (const [index, n] of nodes.entries()) {
    for (const [k, address] of n.addrs.entries()) {
      const field = usingPeers ? `transport.peers[${index}]` : `transport.nodes[${index}].addrs[${k}]`;
      const host = stripPort(address);
      const endpoint = `${k}|${host}|${portOf(address, port)}`;
      const previous = seen.get(endpoint);
      if (previous !== undefined) {
        throw new ConfigError(
          field,
          `${describe(address)} is also node ${previous.id}'s address (${previous.field}); every node needs its own address, or its own port ('${host.includes(':') ? `[${host}]` : host}:${port + 1}') when several run on one host`,
        );
      }
      seen.set(endpoint, { id: n.id, field });
    }
  }
}

export function resolveJoinOptions(input: JoinClusterOptions): ResolvedJoinOptions {
  // The shape first (types, ranges, unknown keys with suggestions), then what spans fields.
  const raw = parseConfig(joinOptionsSchema, input) as unknown as JoinClusterOptions;
  const nodeId = raw.node.id;
  const transport = raw.transport;
  if (transport.peers !== undefined && transport.nodes !== undefined) {
    throw new ConfigError('transport.peers', 'give either peers (ids by position) or nodes (explicit ids), not both');
  }
  let nodes: NodeAddress[];
  const nodeNames = new Map<number, string>();
  if (transport.nodes !== undefined) {
    if (transport.nodes.length === 0) {
      throw new ConfigError('transport.nodes', `expected a non-empty list of { id, addrs: [...] }, got ${describe(transport.nodes)}`);
    }
    const ids = new Map<number, number>();
    nodes = transport.nodes.map((n, i) => {
      if (n.addrs.length === 0) {
        throw new ConfigError(`transport.nodes[${i}].addrs`, `expected one address per link, got ${describe(n.addrs)}`);
      }
      const twin = ids.get(n.id);
      if (twin !== undefined) throw new ConfigError(`transport.nodes[${i}].id`, `node id ${n.id} is also transport.nodes[${twin}]'s; give every node its own id`);
      ids.set(n.id, i);
      if (n.name !== undefined) nodeNames.set(n.id, n.name);
      return { id: n.id, addrs: [...n.addrs] };
    });
  } else if (transport.peers !== undefined) {
    if (transport.peers.length === 0) {
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
  // In mcast mode the addresses only pick the interface; two nodes may share one there in tests.
  const unicast = transport.links !== undefined ? transport.links.every((l) => l.mode === 'udpu') : (transport.mode ?? 'udpu') === 'udpu';
  if (unicast) refuseDuplicateAddresses(nodes, port, transport.peers !== undefined);
  let links: LinkConfig[];
  if (transport.links !== undefined) {
    // The transport's own checks (count, modes, addresses, ports), here so that `config verify`
    // refuses what the node would, naming the option as the user wrote it.
    try {
      links = validateLinks(transport.links);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new ConfigError('transport', error.message, { cause: error });
    }
  } else {
    const mode = transport.mode ?? 'udpu';
    const bindAddr = stripPort(me.addrs[0]!);
    // Several nodes on one host: each binds the port written in its own address.
    const bindPort = mode === 'udpu' ? portOf(me.addrs[0]!, port) : port;
    links = [
      mode === 'udpu'
        ? { mode, bindAddr, port: bindPort }
        : { mode, bindAddr, port, mcastAddr: transport.mcastAddr ?? '239.255.54.5', ttl: transport.ttl ?? 1, mcastInterface: isIP(bindAddr) === 4 ? bindAddr : undefined },
    ] as LinkConfig[];
  }

  let security: ResolvedJoinOptions['security'];
  if (raw.security !== undefined) {
    if (raw.keyFile !== undefined || raw.key !== undefined) throw new ConfigError('security', "'insecure' with a key makes no sense; remove one of them");
    security = { mode: 'insecure' };
  } else if (raw.key !== undefined) {
    security = { mode: 'secure', key: raw.key, allowOpenKeyPermissions: false };
  } else if (typeof raw.keyFile === 'string' && raw.keyFile.length > 0) {
    security = { mode: 'secure', keyFile: raw.keyFile, allowOpenKeyPermissions: raw.allowOpenKeyPermissions === true };
  } else {
    throw new ConfigError('keyFile', "cluster traffic is encrypted: make a key with `sanode keygen --out FILE`, copy it to every node and pass keyFile: FILE (or security: 'insecure' to debug)");
  }

  const profile = raw.profile ?? 'lan';
  // The relations between timers (a retransmit or hold below half the token timeout, and so on)
  // hold for the profile with the overrides applied; checked here, before anything binds.
  validateTimers({ ...PROFILES[profile], ...raw.timers });
  const votes = raw.quorum?.votes ?? {};
  const { votes: _votes, ...quorumRest } = raw.quorum ?? {};
  void _votes;
  const quorum: QuorumConfig = { ...quorumRest, nodes: nodes.map((n) => ({ id: n.id, votes: votes[n.id] ?? 1 })) };
  if (quorum.tieBreaker !== undefined && quorum.tieBreaker !== 'none' && raw.tieBreakerCheck === undefined) {
    throw new ConfigError('tieBreakerCheck', `quorum.tieBreaker is '${quorum.tieBreaker}' but no tieBreakerCheck function was given`);
  }
  const clockDriftRatio = raw.clockDriftRatio ?? 0.01;
  if (raw.stateDir !== undefined && !isAbsolute(raw.stateDir)) {
    throw new ConfigError('stateDir', `${describe(raw.stateDir)} is relative, so the node's state would depend on the directory it is started from; give an absolute path such as '${resolvePath(raw.stateDir)}'`);
  }

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
    stateDir: raw.stateDir ?? defaultStateDir(raw.cluster, nodeId),
    leaseMs: raw.leaseMs,
    clockDriftRatio,
    cib,
    agents: raw.agents,
    selfStopMs: raw.resources?.selfStopMs ?? 1000,
    manageResources: raw.resources?.manage ?? true,
    admin: raw.admin,
    alerts: raw.alerts ?? [],
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

/**
 * Compile-time proof that the hand-written option types (kept for their doc comments) and the
 * schema agree: an option added to one and not the other fails the build here.
 */
export const optionsMatchSchema = (options: JoinClusterOptions): z.input<typeof joinOptionsSchema> => options;
