/**
 * The CIB (cluster information base) as plain data: configuration and status, with the version
 * counters pacemaker keeps (admin_epoch, epoch, num_updates).
 *
 * Takes: nothing; it only defines shapes and a few pure helpers that return new objects.
 * Emits: JSON-serializable values only — no classes, no hidden state — so a CIB can be replicated
 * as an ordered message, written to disk and compared byte for byte.
 * Must never: mutate its inputs (every helper returns a copy), read the clock or do I/O.
 *
 * Replication over totem and persistence live elsewhere and build on these types.
 */

/** Pacemaker's INFINITY: scores saturate at ±1,000,000 and -INFINITY wins over +INFINITY. */
export const INFINITY = 1_000_000;

/** A score: an integer clamped to [-INFINITY, INFINITY]. */
export type Score = number;

export type Role = 'Stopped' | 'Started' | 'Unpromoted' | 'Promoted';
export type TargetRole = Role;
export type OnFail = 'ignore' | 'block' | 'stop' | 'restart' | 'standby' | 'fence';
export type OpName = 'start' | 'stop' | 'monitor' | 'promote' | 'demote';
export type NoQuorumPolicy = 'stop' | 'freeze' | 'ignore' | 'demote';

export interface ResourceMeta {
  targetRole?: TargetRole;
  resourceStickiness?: Score;
  /** Failures on a node before the resource is banned there; INFINITY (default) means never. */
  migrationThreshold?: number;
  /** A failure older than this no longer counts; 0 or absent means failures never expire. */
  failureTimeoutMs?: number;
  priority?: number;
  isManaged?: boolean;
  /**
   * sanode: how long after its node's lease ended this resource may still be active by itself
   * (ms), overriding its agent's own bound (docs/resources.md, "The lost-node deadline"). 0 for a
   * service that is reachable only through a kernel-leased address of the same group. Absent:
   * the agent's bound, or, for an agent that declares none, the node's selfStopMs.
   */
  holdoverMs?: number;
}

export interface CloneMeta extends ResourceMeta {
  /** Instances in total; default: the number of configured nodes. */
  cloneMax?: number;
  /** Instances per node; default 1. */
  cloneNodeMax?: number;
  promotable?: boolean;
  /** Promoted instances in total; default 1. */
  promotedMax?: number;
  /** Promoted instances per node; default 1. */
  promotedNodeMax?: number;
  /**
   * Orders and colocations with another clone bind each instance to that clone's instance on the
   * same node, rather than to the clone as a whole; default false.
   */
  interleave?: boolean;
}

export interface OpConfig {
  name: OpName;
  /** 0 for one-shot operations; > 0 for a recurring monitor. */
  intervalMs: number;
  timeoutMs: number;
  onFail?: OnFail;
  /** A monitor that runs only in this role (promotable clones monitor each role separately). */
  role?: 'Started' | 'Unpromoted' | 'Promoted';
}

export interface AgentRef {
  class: 'ocf' | 'lsb' | 'systemd' | 'service' | 'stonith' | 'sanode';
  provider?: string;
  type: string;
}

export interface PrimitiveConfig {
  kind: 'primitive';
  id: string;
  agent: AgentRef;
  params?: Record<string, string>;
  meta?: ResourceMeta;
  ops?: OpConfig[];
}

export interface GroupConfig {
  kind: 'group';
  id: string;
  members: PrimitiveConfig[];
  meta?: ResourceMeta;
}

export interface CloneConfig {
  kind: 'clone';
  id: string;
  child: PrimitiveConfig | GroupConfig;
  meta?: CloneMeta;
}

export type ResourceConfig = PrimitiveConfig | GroupConfig | CloneConfig;

export type RuleOperation = 'eq' | 'ne' | 'lt' | 'gt' | 'lte' | 'gte' | 'defined' | 'not_defined';

/** One test on a node attribute; `#uname` is the node's name, `#id` its id. */
export interface RuleExpression {
  attribute: string;
  operation: RuleOperation;
  value?: string;
  /** How values compare: 'string' (default), 'integer' or 'number'. */
  type?: 'string' | 'integer' | 'number';
}

export interface Rule {
  /** Added to a node's score when the rule matches it. */
  score: Score;
  booleanOp?: 'and' | 'or';
  expressions: RuleExpression[];
}

export interface LocationConstraint {
  kind: 'location';
  id: string;
  rsc: string;
  /** Either node + score, or rules. */
  node?: string;
  score?: Score;
  rules?: Rule[];
  /** Only constrain instances in this role (promotable clones). */
  role?: 'Started' | 'Unpromoted' | 'Promoted';
}

export interface ColocationConstraint {
  kind: 'colocation';
  id: string;
  /** The dependent: placed where `withRsc` is (score > 0) or away from it (score < 0). */
  rsc: string;
  withRsc: string;
  score: Score;
  rscRole?: 'Started' | 'Unpromoted' | 'Promoted';
  withRscRole?: 'Started' | 'Unpromoted' | 'Promoted';
}

export type OrderAction = 'start' | 'stop' | 'promote' | 'demote';

export interface OrderConstraint {
  kind: 'order';
  id: string;
  first: string;
  then: string;
  /** Mandatory (default): `then` cannot run unless `first` does. Optional: ordering only. */
  orderKind?: 'Mandatory' | 'Optional';
  firstAction?: OrderAction;
  thenAction?: OrderAction;
  /** Default true: stops happen in the reverse order. */
  symmetrical?: boolean;
}

export type Constraint = LocationConstraint | ColocationConstraint | OrderConstraint;

export interface NodeConfig {
  id: string;
  name: string;
  attributes?: Record<string, string>;
  standby?: boolean;
}

export interface ClusterProperties {
  noQuorumPolicy?: NoQuorumPolicy;
  maintenanceMode?: boolean;
  stonithEnabled?: boolean;
  symmetricCluster?: boolean;
}

/** Values every operation takes unless it sets its own (Pacemaker's op_defaults). */
export interface OpDefaults {
  timeoutMs?: number;
  onFail?: OnFail;
}

export interface CibConfig {
  properties?: ClusterProperties;
  rscDefaults?: ResourceMeta;
  opDefaults?: OpDefaults;
  nodes: NodeConfig[];
  resources: ResourceConfig[];
  constraints?: Constraint[];
}

/** One recorded operation result; rc is the OCF exit code (0 ok, 7 not running, 8 promoted). */
export interface OpRecord {
  op: OpName;
  intervalMs: number;
  rc: number;
  timeMs: number;
  /** Increases with each operation on a node; orders records that share a timestamp. */
  callId: number;
}

export interface ResourceStatus {
  /** Operation history, any order; the scheduler reads it by callId. */
  ops: OpRecord[];
  failCount?: number;
  lastFailureMs?: number;
}

export type NodeState = 'online' | 'offline' | 'unclean';

export interface NodeStatus {
  state: NodeState;
  /** Standby set at run time (crm_standby --lifetime reboot); config standby also counts. */
  standby?: boolean;
  /** Transient attributes, e.g. a promotion score `master-<rsc>` set by an agent. */
  attributes?: Record<string, string>;
  /** Keyed by primitive id (clone instances share their primitive's id, as pacemaker does). */
  resources?: Record<string, ResourceStatus>;
}

export interface CibStatus {
  /** Keyed by node name. A node without an entry is taken as online with nothing running. */
  nodes: Record<string, NodeStatus>;
}

export interface Cib {
  adminEpoch: number;
  epoch: number;
  numUpdates: number;
  /**
   * The ring (totem view seq) in which the last change was applied; absent before the first.
   * Changes are applied only in the quorate view they were proposed in, so the copy written in
   * the newest ring holds the newest acknowledged writes: the state exchange prefers it to a
   * copy with a higher version from an older ring (docs/cib.md, "Which copy wins").
   */
  lastWriteRing?: number;
  config: CibConfig;
  status: CibStatus;
}

export const OCF_SUCCESS = 0;
export const OCF_NOT_RUNNING = 7;
/**
 * Not an agent's code: the record of an operation that has been handed to the agent and has not
 * answered yet (pacemaker's record-pending, rc 193). A pending start counts as running, so a new
 * coordinator never starts the resource elsewhere while the start may still be going on.
 */
export const RC_PENDING = 193;
export const OCF_RUNNING_PROMOTED = 8;

/** Prefix of the constraints `moveResource`/`banResource` add (pacemaker's crm_resource). */
export const CLI_PREFER_PREFIX = 'cli-prefer-';
export const CLI_BAN_PREFIX = 'cli-ban-';

export function emptyCib(config: CibConfig): Cib {
  return { adminEpoch: 0, epoch: 0, numUpdates: 0, config, status: { nodes: {} } };
}

/** Saturating score addition, as pacemaker adds scores: -INFINITY wins over +INFINITY. */
export function addScores(a: Score, b: Score): Score {
  if (a <= -INFINITY || b <= -INFINITY) return -INFINITY;
  if (a >= INFINITY || b >= INFINITY) return INFINITY;
  return clampScore(a + b);
}

export function clampScore(s: number): Score {
  if (s >= INFINITY) return INFINITY;
  if (s <= -INFINITY) return -INFINITY;
  return Math.trunc(s);
}

/** Parses pacemaker's score spellings: an integer, INFINITY, +INFINITY, -INFINITY. */
export function parseScore(text: string): Score | undefined {
  const t = text.trim();
  if (/^\+?inf(inity)?$/i.test(t)) return INFINITY;
  if (/^-inf(inity)?$/i.test(t)) return -INFINITY;
  if (!/^[+-]?\d+$/.test(t)) return undefined;
  return clampScore(Number(t));
}

export function formatScore(s: Score): string {
  if (s >= INFINITY) return 'INFINITY';
  if (s <= -INFINITY) return '-INFINITY';
  return String(s);
}

/** Every primitive in the configuration, with its group and clone parents. */
export interface PrimitiveInfo {
  primitive: PrimitiveConfig;
  group?: GroupConfig;
  clone?: CloneConfig;
  top: ResourceConfig;
}

export function listPrimitives(config: CibConfig): PrimitiveInfo[] {
  const out: PrimitiveInfo[] = [];
  for (const top of config.resources) {
    if (top.kind === 'primitive') out.push({ primitive: top, top });
    else if (top.kind === 'group') for (const m of top.members) out.push({ primitive: m, group: top, top });
    else if (top.child.kind === 'primitive') out.push({ primitive: top.child, clone: top, top });
    else for (const m of top.child.members) out.push({ primitive: m, group: top.child, clone: top, top });
  }
  return out;
}

/** Every resource id (primitives, groups, clones) mapped to its config. */
export function resourceIndex(config: CibConfig): Map<string, ResourceConfig> {
  const map = new Map<string, ResourceConfig>();
  for (const top of config.resources) {
    map.set(top.id, top);
    if (top.kind === 'group') for (const m of top.members) map.set(m.id, m);
    if (top.kind === 'clone') {
      map.set(top.child.id, top.child);
      if (top.child.kind === 'group') for (const m of top.child.members) map.set(m.id, m);
    }
  }
  return map;
}

/**
 * `crm_resource --move`: prefers `node` for `rsc` with INFINITY (a copy of the config is returned).
 * Like pacemaker, it replaces an earlier move of the same resource.
 */
export function moveResource(config: CibConfig, rsc: string, node: string): CibConfig {
  const kept = (config.constraints ?? []).filter((c) => c.id !== `${CLI_PREFER_PREFIX}${rsc}`);
  const prefer: LocationConstraint = { kind: 'location', id: `${CLI_PREFER_PREFIX}${rsc}`, rsc, node, score: INFINITY };
  return { ...config, constraints: [...kept, prefer] };
}

/** `crm_resource --ban`: forbids `node` for `rsc` until cleared. */
export function banResource(config: CibConfig, rsc: string, node: string): CibConfig {
  const id = `${CLI_BAN_PREFIX}${rsc}-on-${node}`;
  const kept = (config.constraints ?? []).filter((c) => c.id !== id);
  const ban: LocationConstraint = { kind: 'location', id, rsc, node, score: -INFINITY };
  return { ...config, constraints: [...kept, ban] };
}

/** `crm_resource --clear`: removes every move and ban of `rsc` (all of them when rsc is omitted). */
export function clearResource(config: CibConfig, rsc?: string): CibConfig {
  const isCli = (c: Constraint): boolean =>
    c.kind === 'location' &&
    (c.id.startsWith(CLI_PREFER_PREFIX) || c.id.startsWith(CLI_BAN_PREFIX)) &&
    (rsc === undefined || c.rsc === rsc);
  return { ...config, constraints: (config.constraints ?? []).filter((c) => !isCli(c)) };
}

/** Bumps epoch (a configuration change) and resets num_updates, as pacemaker does. */
export function withConfig(cib: Cib, config: CibConfig): Cib {
  return { ...cib, epoch: cib.epoch + 1, numUpdates: 0, config };
}

/** Bumps num_updates (a status change). */
export function withStatus(cib: Cib, status: CibStatus): Cib {
  return { ...cib, numUpdates: cib.numUpdates + 1, status };
}

/** Orders two CIB versions as pacemaker does: admin_epoch, then epoch, then num_updates. */
export function compareVersions(a: Cib, b: Cib): number {
  return a.adminEpoch - b.adminEpoch || a.epoch - b.epoch || a.numUpdates - b.numUpdates;
}
