/**
 * Validation of a CIB configuration before anything is applied.
 *
 * Takes: a configuration (plain data, possibly from JSON a user wrote).
 * Emits: nothing on success; the first problem as a CibError naming the object id, the field and
 * the fix.
 * Must never: accept a configuration the scheduler could misread (a dangling reference, two
 * objects with one id, a cycle of mandatory orders that no sequence of actions could satisfy).
 */
import { SanodeError } from '../errors/index.js';
import {
  INFINITY,
  listPrimitives,
  type CibConfig,
  type CibStatus,
  type CloneConfig,
  type Constraint,
  type GroupConfig,
  type NodeStatus,
  type OpConfig,
  type OpRecord,
  type PrimitiveConfig,
  type ResourceConfig,
  type ResourceMeta,
  type Rule,
} from './model.js';

export class CibError extends SanodeError {
  /** The id of the object at fault (a resource, constraint or node), when there is one. */
  readonly objectId: string | undefined;

  constructor(objectId: string | undefined, field: string, message: string) {
    super('SANODE_INVALID_CIB', `${field}${objectId === undefined ? '' : ` (${objectId})`}: ${message}`, { field });
    this.name = 'CibError';
    this.objectId = objectId;
  }
}

const ROLES = ['Stopped', 'Started', 'Unpromoted', 'Promoted'];
const ON_FAIL = ['ignore', 'block', 'stop', 'restart', 'standby', 'fence'];
const OP_NAMES = ['start', 'stop', 'monitor', 'promote', 'demote'];
const RULE_OPS = ['eq', 'ne', 'lt', 'gt', 'lte', 'gte', 'defined', 'not_defined'];
const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

/** Throws a CibError for the first problem found; returns nothing when the config is valid. */
export function validateConfig(config: CibConfig): void {
  if (typeof config !== 'object' || config === null) throw new CibError(undefined, 'config', 'must be an object');
  if (!Array.isArray(config.nodes)) throw new CibError(undefined, 'nodes', 'must be an array of { id, name }');
  if (!Array.isArray(config.resources)) throw new CibError(undefined, 'resources', 'must be an array');
  validateProperties(config);
  const nodeNames = validateNodes(config);
  const ids = new Map<string, string>();
  const claim = (id: unknown, field: string): void => {
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
      throw new CibError(undefined, field, `id must start with a letter or _ and use letters, digits, _ . : - (got ${JSON.stringify(id)})`);
    }
    const previous = ids.get(id);
    if (previous !== undefined) throw new CibError(id, field, `duplicate id, already used at ${previous}; rename one of them`);
    ids.set(id, field);
  };
  if (config.rscDefaults !== undefined) validateMeta(config.rscDefaults, undefined, 'rscDefaults');
  if (config.opDefaults !== undefined) validateOpDefaults(config.opDefaults);
  config.resources.forEach((r, i) => validateResource(r, `resources[${i}]`, claim, false));
  const constraints = config.constraints ?? [];
  if (!Array.isArray(constraints)) throw new CibError(undefined, 'constraints', 'must be an array');
  const kinds = resourceKinds(config);
  constraints.forEach((c, i) => {
    mustBeObject(c, `constraints[${i}]`, "{ kind: 'location' | 'colocation' | 'order', id, ... }");
    claim(c.id, `constraints[${i}].id`);
    validateConstraint(c, `constraints[${i}]`, kinds, nodeNames);
  });
  checkOrderCycles(constraints);
}

function validateOpDefaults(d: CibConfig['opDefaults']): void {
  mustBeObject(d, 'opDefaults', '{ timeoutMs?, onFail? }');
  const t = d!.timeoutMs;
  if (t !== undefined && (!Number.isInteger(t) || t <= 0)) throw new CibError(undefined, 'opDefaults.timeoutMs', `must be a positive whole number of milliseconds, e.g. 20000 (got ${JSON.stringify(t)})`);
  const f = d!.onFail;
  if (f !== undefined && !ON_FAIL.includes(f)) throw new CibError(undefined, 'opDefaults.onFail', `must be one of ${ON_FAIL.join(', ')} (got ${JSON.stringify(f)})`);
}

/** Hand-written JSON can hold anything; name the field rather than fail on a property access. */
function mustBeObject(v: unknown, field: string, shape: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CibError(undefined, field, `must be an object ${shape} (got ${JSON.stringify(v)})`);
}

function validateProperties(config: CibConfig): void {
  if (config.properties !== undefined) mustBeObject(config.properties, 'properties', '{ noQuorumPolicy, stonithEnabled, ... }');
  const p = config.properties ?? {};
  if (p.noQuorumPolicy !== undefined && !['stop', 'freeze', 'ignore', 'demote'].includes(p.noQuorumPolicy)) {
    throw new CibError(undefined, 'properties.noQuorumPolicy', `must be stop, freeze, ignore or demote (got ${JSON.stringify(p.noQuorumPolicy)})`);
  }
  for (const key of ['maintenanceMode', 'stonithEnabled', 'symmetricCluster'] as const) {
    if (p[key] !== undefined && typeof p[key] !== 'boolean') throw new CibError(undefined, `properties.${key}`, 'must be true or false');
  }
}

function validateNodes(config: CibConfig): Set<string> {
  const names = new Set<string>();
  const ids = new Set<string>();
  config.nodes.forEach((n, i) => {
    const field = `nodes[${i}]`;
    mustBeObject(n, field, '{ id, name }');
    if (typeof n.id !== 'string' || n.id === '') throw new CibError(undefined, `${field}.id`, 'must be a non-empty string');
    if (typeof n.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(n.name)) {
      throw new CibError(n.id, `${field}.name`, 'must be a host name of letters, digits, _ . -');
    }
    if (ids.has(n.id)) throw new CibError(n.id, `${field}.id`, 'duplicate node id; give every node its own id');
    if (names.has(n.name)) throw new CibError(n.id, `${field}.name`, `duplicate node name '${n.name}'`);
    ids.add(n.id);
    names.add(n.name);
    for (const [k, v] of Object.entries(n.attributes ?? {})) {
      if (typeof v !== 'string') throw new CibError(n.id, `${field}.attributes.${k}`, 'attribute values are strings');
      if (k.startsWith('#')) throw new CibError(n.id, `${field}.attributes.${k}`, 'names starting with # are built in (#uname, #id); choose another name');
    }
  });
  return names;
}

function validateResource(r: ResourceConfig, field: string, claim: (id: unknown, field: string) => void, nested: boolean): void {
  mustBeObject(r, field, "{ kind: 'primitive' | 'group' | 'clone', id, ... }");
  claim(r?.id, `${field}.id`);
  switch (r.kind) {
    case 'primitive':
      return validatePrimitive(r, field);
    case 'group':
      return validateGroup(r, field, claim);
    case 'clone':
      if (nested) throw new CibError(r.id, `${field}.kind`, 'a clone cannot be inside a group or clone; put the clone at top level');
      return validateClone(r, field, claim);
    default:
      throw new CibError((r as { id?: string }).id, `${field}.kind`, "must be 'primitive', 'group' or 'clone'");
  }
}

function validatePrimitive(p: PrimitiveConfig, field: string): void {
  if (typeof p.agent !== 'object' || p.agent === null || typeof p.agent.type !== 'string' || p.agent.type === '') {
    throw new CibError(p.id, `${field}.agent`, "needs { class, type }, e.g. { class: 'ocf', provider: 'heartbeat', type: 'IPaddr2' }");
  }
  if (p.agent.class === 'ocf' && (p.agent.provider === undefined || p.agent.provider === '')) {
    throw new CibError(p.id, `${field}.agent.provider`, "ocf agents need a provider, e.g. 'heartbeat'");
  }
  for (const [k, v] of Object.entries(p.params ?? {})) {
    if (typeof v !== 'string') throw new CibError(p.id, `${field}.params.${k}`, 'parameter values are strings');
  }
  if (p.meta !== undefined) validateMeta(p.meta, p.id, `${field}.meta`);
  if (p.ops !== undefined && !Array.isArray(p.ops)) throw new CibError(p.id, `${field}.ops`, 'must be an array of { name, intervalMs, timeoutMs }');
  if (p.params !== undefined) mustBeObject(p.params, `${field}.params`, 'of string values');
  (p.ops ?? []).forEach((op, i) => validateOp(op, p.id, `${field}.ops[${i}]`));
  const seen = new Set<string>();
  for (const op of p.ops ?? []) {
    const key = `${op.name}/${op.intervalMs}`;
    if (seen.has(key)) throw new CibError(p.id, `${field}.ops`, `two ${op.name} operations with interval ${op.intervalMs} ms; pacemaker needs distinct intervals`);
    seen.add(key);
  }
}

function validateOp(op: OpConfig, id: string, field: string): void {
  mustBeObject(op, field, '{ name, intervalMs, timeoutMs }');
  if (!OP_NAMES.includes(op.name)) throw new CibError(id, `${field}.name`, `must be one of ${OP_NAMES.join(', ')}`);
  if (!Number.isInteger(op.intervalMs) || op.intervalMs < 0) throw new CibError(id, `${field}.intervalMs`, 'must be a non-negative integer');
  if (op.intervalMs > 0 && op.name !== 'monitor') throw new CibError(id, `${field}.intervalMs`, `only monitor recurs; set intervalMs: 0 for ${op.name}`);
  if (!Number.isInteger(op.timeoutMs) || op.timeoutMs <= 0) throw new CibError(id, `${field}.timeoutMs`, 'must be a positive integer, e.g. 20000');
  if (op.onFail !== undefined && !ON_FAIL.includes(op.onFail)) throw new CibError(id, `${field}.onFail`, `must be one of ${ON_FAIL.join(', ')}`);
  if (op.role !== undefined && !['Started', 'Unpromoted', 'Promoted'].includes(op.role)) {
    throw new CibError(id, `${field}.role`, 'must be Started, Unpromoted or Promoted');
  }
}

function validateMeta(meta: ResourceMeta, id: string | undefined, field: string): void {
  mustBeObject(meta, field, '{ resourceStickiness, targetRole, ... }');
  if (meta.targetRole !== undefined && !ROLES.includes(meta.targetRole)) {
    throw new CibError(id, `${field}.targetRole`, `must be one of ${ROLES.join(', ')}`);
  }
  const intField = (name: keyof ResourceMeta, min: number): void => {
    const v = meta[name];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > INFINITY) {
      throw new CibError(id, `${field}.${name}`, `must be an integer from ${min} to ${INFINITY} (INFINITY)`);
    }
  };
  intField('resourceStickiness', -INFINITY);
  intField('migrationThreshold', 0);
  intField('failureTimeoutMs', 0);
  intField('priority', -INFINITY);
  intField('holdoverMs', 0);
  if (meta.isManaged !== undefined && typeof meta.isManaged !== 'boolean') throw new CibError(id, `${field}.isManaged`, 'must be true or false');
}

function validateGroup(g: GroupConfig, field: string, claim: (id: unknown, field: string) => void): void {
  if (!Array.isArray(g.members) || g.members.length === 0) throw new CibError(g.id, `${field}.members`, 'a group needs at least one primitive');
  g.members.forEach((m, i) => {
    if (m.kind !== 'primitive') throw new CibError(m.id, `${field}.members[${i}].kind`, 'group members must be primitives');
    validateResource(m, `${field}.members[${i}]`, claim, true);
  });
  if (g.meta !== undefined) validateMeta(g.meta, g.id, `${field}.meta`);
}

function validateClone(c: CloneConfig, field: string, claim: (id: unknown, field: string) => void): void {
  if (c.child === undefined || (c.child.kind !== 'primitive' && c.child.kind !== 'group')) {
    throw new CibError(c.id, `${field}.child`, 'a clone wraps one primitive or group');
  }
  validateResource(c.child, `${field}.child`, claim, true);
  const m = c.meta ?? {};
  validateMeta(m, c.id, `${field}.meta`);
  const positive = (name: 'cloneMax' | 'cloneNodeMax' | 'promotedMax' | 'promotedNodeMax', min: number): void => {
    const v = m[name];
    if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new CibError(c.id, `${field}.meta.${name}`, `must be an integer >= ${min}`);
  };
  positive('cloneMax', 0);
  positive('cloneNodeMax', 1);
  positive('promotedMax', 0);
  positive('promotedNodeMax', 1);
  if (m.promotable !== true && (m.promotedMax !== undefined || m.promotedNodeMax !== undefined)) {
    throw new CibError(c.id, `${field}.meta.promotable`, 'promotedMax/promotedNodeMax need promotable: true');
  }
  if (m.interleave !== undefined && typeof m.interleave !== 'boolean') {
    throw new CibError(c.id, `${field}.meta.interleave`, 'must be true or false');
  }
}

type Kind = 'primitive' | 'group' | 'clone' | 'clone-child';

function resourceKinds(config: CibConfig): Map<string, Kind> {
  const kinds = new Map<string, Kind>();
  for (const r of config.resources) {
    kinds.set(r.id, r.kind);
    if (r.kind === 'group') for (const m of r.members) kinds.set(m.id, 'primitive');
    if (r.kind === 'clone') {
      kinds.set(r.child.id, 'clone-child');
      if (r.child.kind === 'group') for (const m of r.child.members) kinds.set(m.id, 'clone-child');
    }
  }
  return kinds;
}

function checkRef(kinds: Map<string, Kind>, c: Constraint, field: string, rsc: unknown): void {
  if (typeof rsc !== 'string' || !kinds.has(rsc)) {
    throw new CibError(c.id, field, `unknown resource ${JSON.stringify(rsc)}; define it under resources or fix the name`);
  }
  if (kinds.get(rsc) === 'clone-child') {
    throw new CibError(c.id, field, `'${rsc}' is inside a clone; constrain the clone itself instead`);
  }
}

function checkScore(c: Constraint, field: string, score: unknown): void {
  if (typeof score !== 'number' || !Number.isInteger(score) || Math.abs(score) > INFINITY) {
    throw new CibError(c.id, field, `must be an integer score from -${INFINITY} to ${INFINITY}`);
  }
}

function validateConstraint(c: Constraint, field: string, kinds: Map<string, Kind>, nodes: Set<string>): void {
  switch (c.kind) {
    case 'location':
      checkRef(kinds, c, `${field}.rsc`, c.rsc);
      if ((c.node === undefined) === (c.rules === undefined)) {
        throw new CibError(c.id, field, 'give either node + score or rules, not both and not neither');
      }
      if (c.node !== undefined) {
        if (!nodes.has(c.node)) throw new CibError(c.id, `${field}.node`, `unknown node '${c.node}'; use a name from nodes[]`);
        checkScore(c, `${field}.score`, c.score);
      }
      if (c.rules !== undefined && !Array.isArray(c.rules)) throw new CibError(c.id, `${field}.rules`, 'must be an array of rules');
      (c.rules ?? []).forEach((rule, i) => validateRule(rule, c.id, `${field}.rules[${i}]`));
      return;
    case 'colocation':
      checkRef(kinds, c, `${field}.rsc`, c.rsc);
      checkRef(kinds, c, `${field}.withRsc`, c.withRsc);
      if (c.rsc === c.withRsc) throw new CibError(c.id, `${field}.withRsc`, 'a resource cannot be colocated with itself');
      checkScore(c, `${field}.score`, c.score);
      return;
    case 'order':
      checkRef(kinds, c, `${field}.first`, c.first);
      checkRef(kinds, c, `${field}.then`, c.then);
      if (c.first === c.then) throw new CibError(c.id, `${field}.then`, 'a resource cannot be ordered after itself');
      if (c.orderKind !== undefined && c.orderKind !== 'Mandatory' && c.orderKind !== 'Optional') {
        throw new CibError(c.id, `${field}.orderKind`, 'must be Mandatory or Optional');
      }
      return;
    default:
      throw new CibError((c as { id?: string }).id, `${field}.kind`, "must be 'location', 'colocation' or 'order'");
  }
}

function validateRule(rule: Rule, id: string, field: string): void {
  mustBeObject(rule, field, '{ score, expressions: [...] }');
  if (typeof rule.score !== 'number' || !Number.isInteger(rule.score) || Math.abs(rule.score) > INFINITY) {
    throw new CibError(id, `${field}.score`, `must be an integer score from -${INFINITY} to ${INFINITY}`);
  }
  if (rule.booleanOp !== undefined && rule.booleanOp !== 'and' && rule.booleanOp !== 'or') {
    throw new CibError(id, `${field}.booleanOp`, "must be 'and' or 'or'");
  }
  if (!Array.isArray(rule.expressions) || rule.expressions.length === 0) {
    throw new CibError(id, `${field}.expressions`, 'a rule needs at least one expression');
  }
  rule.expressions.forEach((e, i) => {
    const f = `${field}.expressions[${i}]`;
    mustBeObject(e, f, '{ attribute, operation, value }');
    if (typeof e.attribute !== 'string' || e.attribute === '') throw new CibError(id, `${f}.attribute`, 'must name a node attribute, e.g. #uname');
    if (!RULE_OPS.includes(e.operation)) throw new CibError(id, `${f}.operation`, `must be one of ${RULE_OPS.join(', ')}`);
    const unary = e.operation === 'defined' || e.operation === 'not_defined';
    if (!unary && typeof e.value !== 'string') throw new CibError(id, `${f}.value`, `${e.operation} needs a value (a string)`);
    if ((e.type === 'integer' || e.type === 'number') && !unary && !Number.isFinite(Number(e.value))) {
      throw new CibError(id, `${f}.value`, `is not a number but type is ${e.type}`);
    }
  });
}

/**
 * Mandatory orders between top-level resources (groups and clones stand for their members) must
 * not form a cycle: every start would wait for another.
 */
function checkOrderCycles(constraints: Constraint[]): void {
  const edges = new Map<string, { to: string; id: string }[]>();
  for (const c of constraints) {
    if (c.kind !== 'order' || (c.orderKind ?? 'Mandatory') !== 'Mandatory') continue;
    const from = c.first;
    const list = edges.get(from) ?? [];
    list.push({ to: c.then, id: c.id });
    edges.set(from, list);
  }
  // Ids are kept as written (a group and its member are distinct here) so the message quotes
  // the user's own constraints.
  const state = new Map<string, 'open' | 'done'>();
  const path: { rsc: string; via: string }[] = [];
  const visit = (rsc: string, via: string): void => {
    const s = state.get(rsc);
    if (s === 'done') return;
    if (s === 'open') {
      const start = path.findIndex((p) => p.rsc === rsc);
      const cycle = [...path.slice(start + 1).map((p) => p.via), via];
      throw new CibError(via, 'constraints', `mandatory orders form a cycle (${cycle.join(' -> ')}); make one of them Optional or remove it`);
    }
    state.set(rsc, 'open');
    path.push({ rsc, via });
    for (const e of edges.get(rsc) ?? []) visit(e.to, e.id);
    path.pop();
    state.set(rsc, 'done');
  };
  for (const rsc of [...edges.keys()].sort()) visit(rsc, '');
}

const NODE_STATES = ['online', 'offline', 'unclean'];

/**
 * Checks a status section against its configuration: every node and resource it names exists,
 * and every operation record has the fields the scheduler reads. Throws a CibError naming the
 * field (`status.nodes.<node>.resources.<rsc>.ops[<i>].rc`) for the first problem.
 */
export function validateStatus(status: CibStatus, config: CibConfig): void {
  if (typeof status !== 'object' || status === null || Array.isArray(status)) throw new CibError(undefined, 'status', 'must be an object { nodes: { <node name>: {...} } }');
  const nodes = (status as { nodes?: unknown }).nodes;
  if (typeof nodes !== 'object' || nodes === null || Array.isArray(nodes)) throw new CibError(undefined, 'status.nodes', 'must be an object keyed by node name');
  const nodeNames = new Set(config.nodes.map((n) => n.name));
  const primitives = new Set(listPrimitives(config).map((i) => i.primitive.id));
  for (const [name, ns] of Object.entries(nodes as Record<string, NodeStatus>)) {
    // Field paths are built only for an error: this runs on every status change.
    const field = (): string => `status.nodes.${name}`;
    if (!nodeNames.has(name)) throw new CibError(name, field(), `unknown node; status is keyed by a name from nodes[] (${[...nodeNames].join(', ')})`);
    if (typeof ns !== 'object' || ns === null) throw new CibError(name, field(), 'must be an object { state, resources }');
    if (!NODE_STATES.includes(ns.state)) throw new CibError(name, `${field()}.state`, `must be one of ${NODE_STATES.join(', ')} (got ${JSON.stringify(ns.state)})`);
    if (ns.standby !== undefined && typeof ns.standby !== 'boolean') throw new CibError(name, `${field()}.standby`, 'must be true or false');
    for (const [k, v] of Object.entries(ns.attributes ?? {})) {
      if (typeof v !== 'string') throw new CibError(name, `${field()}.attributes.${k}`, 'attribute values are strings');
    }
    for (const [rsc, rs] of Object.entries(ns.resources ?? {})) {
      const rf = (): string => `${field()}.resources.${rsc}`;
      if (!primitives.has(rsc)) throw new CibError(rsc, rf(), 'unknown primitive; status is keyed by primitive id (clone instances use their primitive id)');
      if (typeof rs !== 'object' || rs === null || !Array.isArray(rs.ops)) throw new CibError(rsc, `${rf()}.ops`, 'must be an array of operation records');
      for (let i = 0; i < rs.ops.length; i++) validateOpRecord(rs.ops[i]!, rsc, () => `${rf()}.ops[${i}]`);
      if (rs.failCount !== undefined && (!Number.isInteger(rs.failCount) || rs.failCount < 0)) {
        throw new CibError(rsc, `${rf()}.failCount`, 'must be a non-negative integer');
      }
      if (rs.lastFailureMs !== undefined && !Number.isFinite(rs.lastFailureMs)) throw new CibError(rsc, `${rf()}.lastFailureMs`, 'must be a time in ms since the epoch');
    }
  }
}

function validateOpRecord(op: OpRecord, rsc: string, field: () => string): void {
  if (typeof op !== 'object' || op === null) throw new CibError(rsc, field(), 'must be an object { op, intervalMs, rc, timeMs, callId }');
  if (!OP_NAMES.includes(op.op)) throw new CibError(rsc, `${field()}.op`, `must be one of ${OP_NAMES.join(', ')} (got ${JSON.stringify(op.op)})`);
  if (!Number.isInteger(op.intervalMs) || op.intervalMs < 0) throw new CibError(rsc, `${field()}.intervalMs`, 'must be a non-negative integer (0 for one-shot operations)');
  if (!Number.isInteger(op.rc) || op.rc < 0 || op.rc > 255) throw new CibError(rsc, `${field()}.rc`, 'must be an OCF exit code from 0 to 255 (0 ok, 7 not running, 8 promoted)');
  if (!Number.isFinite(op.timeMs)) throw new CibError(rsc, `${field()}.timeMs`, 'must be a time in ms since the epoch');
  if (!Number.isInteger(op.callId)) throw new CibError(rsc, `${field()}.callId`, 'must be an integer that grows with each operation on the node');
}
