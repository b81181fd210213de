/**
 * Converts a Pacemaker CIB (the XML `cibadmin -Q` prints) into sanode's configuration.
 *
 * Takes: the XML text.
 * Emits: a validated CibConfig and a list of notes, one for every element, attribute or value
 * that sanode cannot express (or that Pacemaker maintains itself and sanode does not need), each
 * naming where it was in the XML. Nothing is dropped without a note.
 * Must never: guess. A value sanode cannot read is reported and left out, never approximated;
 * a constraint that loses a resource it names is left out as a whole.
 *
 * Ids of nvpairs, attribute sets, operations, rules and expressions are structure, not meaning:
 * sanode's format has no place for them and they are not reported.
 */
import {
  parseScore,
  type AgentRef,
  type CibConfig,
  type CloneConfig,
  type CloneMeta,
  type ClusterProperties,
  type ColocationConstraint,
  type Constraint,
  type GroupConfig,
  type LocationConstraint,
  type NodeConfig,
  type OnFail,
  type OpDefaults,
  type OpConfig,
  type OpName,
  type OrderAction,
  type OrderConstraint,
  type PrimitiveConfig,
  type ResourceConfig,
  type ResourceMeta,
  type Rule,
  type RuleExpression,
  type RuleOperation,
} from './model.js';
import { expandColocationSets, expandOrderSets, type ResourceSet } from './sets.js';
import { CibError, validateConfig } from './validate.js';
import { childrenNamed, parseXml, type XmlElement } from './xml.js';

export interface ImportNote {
  /** Where in the XML, e.g. `resources/primitive[webip]/operations/op[webip-start]@start-delay`. */
  at: string;
  /** `lost`: configuration whose meaning sanode does not carry over. `info`: Pacemaker's own
   * bookkeeping (dc-version, the status section, …) that sanode does not need. */
  /** lost: not carried over; warn: carried over, but it weakens a safety; info: nothing of use lost. */
  severity: 'lost' | 'warn' | 'info';
  message: string;
}

export interface ImportResult {
  config: CibConfig;
  notes: ImportNote[];
}

/** Collects notes while walking the document; the only mutable thing here, local to one call. */
interface Walk {
  notes: ImportNote[];
  /** op_defaults' timeout: what an operation without its own timeout takes. */
  opTimeoutMs?: number;
}

function lost(w: Walk, at: string, message: string): void {
  w.notes.push({ at, severity: 'lost', message });
}

function warn(w: Walk, at: string, message: string): void {
  w.notes.push({ at, severity: 'warn', message });
}

function info(w: Walk, at: string, message: string): void {
  w.notes.push({ at, severity: 'info', message });
}

function label(el: XmlElement): string {
  const id = el.attrs['id'];
  return id === undefined ? el.name : `${el.name}[${id}]`;
}

/** Reports every attribute not in `known`. */
function checkAttrs(w: Walk, el: XmlElement, at: string, known: readonly string[]): void {
  for (const [name, value] of Object.entries(el.attrs)) {
    if (!known.includes(name)) lost(w, `${at}@${name}`, `attribute ${name}="${value}" is not supported; ignored`);
  }
}

/** Reports every child element not in `known`. */
function checkChildren(w: Walk, el: XmlElement, at: string, known: readonly string[]): void {
  for (const c of el.children) {
    if (!known.includes(c.name)) lost(w, `${at}/${label(c)}`, `<${c.name}> is not supported; ignored`);
  }
}

/** Pacemaker's booleans (crm_is_true / crm_str_to_boolean). */
export function parseBoolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['true', 'on', 'yes', 'y', '1'].includes(t)) return true;
  if (['false', 'off', 'no', 'n', '0'].includes(t)) return false;
  return undefined;
}

const UNIT_MS: Record<string, number> = { ms: 1, msec: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hr: 3_600_000 };

/** Pacemaker's intervals (crm_get_msec): a number with an optional unit (seconds by default) or
 * an ISO 8601 duration like PT1M30S. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim();
  const m = /^(\d+)\s*(ms|msec|s|sec|m|min|h|hr)?$/i.exec(t);
  if (m !== null) return Number(m[1]) * UNIT_MS[(m[2] ?? 's').toLowerCase()]!;
  const iso = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i.exec(t);
  if (iso !== null && t.length > 1 && !/T$/i.test(t)) {
    const [, d, h, min, s] = iso.map((x) => Number(x ?? 0));
    return (((d! * 24 + h!) * 60 + min!) * 60 + s!) * 1000;
  }
  return undefined;
}

function mapRole(text: string): 'Stopped' | 'Started' | 'Unpromoted' | 'Promoted' | undefined {
  switch (text) {
    case 'Stopped':
    case 'Started':
    case 'Unpromoted':
    case 'Promoted':
      return text;
    case 'Slave':
      return 'Unpromoted';
    case 'Master':
      return 'Promoted';
    default:
      return undefined;
  }
}

/** The name/value pairs of an attribute set, reporting sets sanode cannot apply unconditionally. */
function readNvpairs(w: Walk, set: XmlElement, at: string): [string, string, string][] {
  const here = `${at}/${set.name}`;
  if (set.attrs['id-ref'] !== undefined) {
    lost(w, here, `a reference to another attribute set (id-ref=${set.attrs['id-ref']}) is not supported; its values are not imported`);
    return [];
  }
  if (childrenNamed(set, 'rule').length > 0) {
    lost(w, here, 'an attribute set with a rule applies only sometimes; sanode cannot express that, so the whole set is left out');
    return [];
  }
  checkAttrs(w, set, here, ['id', 'score']);
  checkChildren(w, set, here, ['nvpair']);
  const out: [string, string, string][] = [];
  for (const nv of childrenNamed(set, 'nvpair')) {
    const name = nv.attrs['name'];
    const value = nv.attrs['value'];
    const nvAt = `${here}/${name ?? `nvpair[${nv.attrs['id'] ?? '?'}]`}`;
    if (nv.attrs['id-ref'] !== undefined) {
      lost(w, nvAt, `a reference to another nvpair (id-ref=${nv.attrs['id-ref']}) is not supported`);
      continue;
    }
    if (name === undefined || value === undefined) {
      lost(w, nvAt, 'an nvpair without both name and value (a deletion marker) means nothing here; ignored');
      continue;
    }
    checkAttrs(w, nv, nvAt, ['id', 'name', 'value']);
    out.push([name, value, nvAt]);
  }
  return out;
}

const CLONE_KEYS = ['clone-max', 'clone-node-max', 'promotable', 'promoted-max', 'promoted-node-max', 'master-max', 'master-node-max', 'interleave'];

/** Meta attributes into ResourceMeta (and CloneMeta when `clone`); everything else reported. */
function readMeta(w: Walk, el: XmlElement, at: string, clone: boolean): ResourceMeta & CloneMeta {
  const meta: ResourceMeta & CloneMeta = {};
  for (const set of childrenNamed(el, 'meta_attributes')) {
    for (const [name, value, nvAt] of readNvpairs(w, set, at)) applyMeta(w, meta, name, value, nvAt, clone);
  }
  return meta;
}

function applyMeta(w: Walk, meta: ResourceMeta & CloneMeta, name: string, value: string, at: string, clone: boolean): void {
  const bad = (what: string): void => lost(w, at, `${name}="${value}" is not ${what}; ignored`);
  const score = (): number | undefined => {
    const s = parseScore(value);
    if (s === undefined) bad('a score (an integer or ±INFINITY)');
    return s;
  };
  const count = (min: number): number | undefined => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : undefined;
    if (n === undefined || n < min) bad(`an integer >= ${min}`);
    return n !== undefined && n >= min ? n : undefined;
  };
  if (!clone && CLONE_KEYS.includes(name)) {
    lost(w, at, `${name} only means something on a clone; ignored`);
    return;
  }
  switch (name) {
    case 'target-role': {
      const role = mapRole(value);
      if (role === undefined) bad('a role (Started, Stopped, Unpromoted, Promoted)');
      else meta.targetRole = role;
      return;
    }
    case 'resource-stickiness': {
      const s = score();
      if (s !== undefined) meta.resourceStickiness = s;
      return;
    }
    case 'migration-threshold': {
      const s = score();
      if (s !== undefined && s < 0) bad('a non-negative count');
      else if (s !== undefined) meta.migrationThreshold = s;
      return;
    }
    case 'failure-timeout': {
      const ms = parseDurationMs(value);
      if (ms === undefined) bad('a duration (e.g. 60s, 5min, PT1M)');
      else meta.failureTimeoutMs = ms;
      return;
    }
    case 'priority': {
      const s = score();
      if (s !== undefined) meta.priority = s;
      return;
    }
    case 'is-managed': {
      const b = parseBoolean(value);
      if (b === undefined) bad('a boolean');
      else meta.isManaged = b;
      return;
    }
    case 'clone-max': {
      const n = count(0);
      if (n !== undefined) meta.cloneMax = n;
      return;
    }
    case 'clone-node-max': {
      const n = count(1);
      if (n !== undefined) meta.cloneNodeMax = n;
      return;
    }
    case 'promotable': {
      const b = parseBoolean(value);
      if (b === undefined) bad('a boolean');
      else meta.promotable = b;
      return;
    }
    case 'promoted-max':
    case 'master-max': {
      const n = count(0);
      if (n !== undefined) meta.promotedMax = n;
      return;
    }
    case 'promoted-node-max':
    case 'master-node-max': {
      const n = count(1);
      if (n !== undefined) meta.promotedNodeMax = n;
      return;
    }
    case 'interleave': {
      const b = parseBoolean(value);
      if (b === undefined) bad('a boolean');
      else meta.interleave = b;
      return;
    }
    default:
      lost(w, at, `meta attribute ${name}="${value}" has no equivalent in sanode; ignored`);
  }
}

function isEmpty(o: object): boolean {
  return Object.keys(o).length === 0;
}

const AGENT_CLASSES = ['ocf', 'lsb', 'systemd', 'service', 'stonith', 'sanode'];
const OP_NAMES: readonly string[] = ['start', 'stop', 'monitor', 'promote', 'demote'];
const ON_FAIL: readonly string[] = ['ignore', 'block', 'stop', 'restart', 'standby', 'fence'];
/** Pacemaker's default operation timeout when an op gives none. */
const DEFAULT_OP_TIMEOUT_MS = 20_000;

function readPrimitive(w: Walk, el: XmlElement, parentAt: string): PrimitiveConfig | undefined {
  const id = el.attrs['id']!;
  const at = `${parentAt}/${label(el)}`;
  if (el.attrs['template'] !== undefined) {
    lost(w, at, `primitives built from a template (template=${el.attrs['template']}) are not supported; resource not imported`);
    return undefined;
  }
  const cls = el.attrs['class'] ?? '';
  if (cls === 'stonith') {
    lost(w, at, 'sanode has no fence devices yet (it stops resources on quorum loss and waits out leases instead, docs/resources.md); this stonith resource is not imported');
    return undefined;
  }
  if (!AGENT_CLASSES.includes(cls)) {
    lost(w, at, `agent class "${cls}" is not supported (ocf, lsb, systemd, service); resource not imported`);
    return undefined;
  }
  checkAttrs(w, el, at, ['id', 'class', 'provider', 'type', 'description']);
  if (el.attrs['description'] !== undefined) info(w, `${at}@description`, 'descriptions are not kept');
  checkChildren(w, el, at, ['instance_attributes', 'meta_attributes', 'operations', 'utilization']);
  for (const u of childrenNamed(el, 'utilization')) lost(w, `${at}/${label(u)}`, 'utilization (placement-strategy) is not supported; ignored');
  const agent: AgentRef = { class: cls as AgentRef['class'], type: el.attrs['type'] ?? '' };
  if (el.attrs['provider'] !== undefined) agent.provider = el.attrs['provider'];
  const params: Record<string, string> = {};
  for (const set of childrenNamed(el, 'instance_attributes')) for (const [name, value] of readNvpairs(w, set, at)) params[name] = value;
  const meta: ResourceMeta = readMeta(w, el, at, false);
  const ops: OpConfig[] = [];
  for (const opsEl of childrenNamed(el, 'operations')) {
    const opsAt = `${at}/operations`;
    if (opsEl.attrs['id-ref'] !== undefined) {
      lost(w, opsAt, `a reference to shared operations (id-ref=${opsEl.attrs['id-ref']}) is not supported`);
      continue;
    }
    checkAttrs(w, opsEl, opsAt, ['id']);
    checkChildren(w, opsEl, opsAt, ['op']);
    for (const op of childrenNamed(opsEl, 'op')) {
      const o = readOp(w, op, opsAt);
      if (o === undefined) continue;
      if (ops.some((x) => x.name === o.name && x.intervalMs === o.intervalMs)) {
        lost(w, `${opsAt}/${label(op)}`, `a second ${o.name} with interval ${o.intervalMs} ms; only the first is kept`);
        continue;
      }
      ops.push(o);
    }
  }
  const p: PrimitiveConfig = { kind: 'primitive', id, agent };
  if (!isEmpty(params)) p.params = params;
  if (!isEmpty(meta)) p.meta = meta;
  if (ops.length > 0) p.ops = ops;
  return p;
}

function readOp(w: Walk, op: XmlElement, parentAt: string): OpConfig | undefined {
  const at = `${parentAt}/${label(op)}`;
  const name = op.attrs['name'] ?? '';
  if (name === 'reload-agent' || name === 'reload') {
    // pcs adds reload-agent to every resource it makes; sanode restarts a resource whose params change.
    info(w, at, `operation "${name}": sanode restarts a resource when its parameters change; nothing is lost`);
    return undefined;
  }
  if (!OP_NAMES.includes(name)) {
    lost(w, at, `operation "${name}" is not one sanode runs (start, stop, monitor, promote, demote); ignored`);
    return undefined;
  }
  if (op.attrs['enabled'] !== undefined && parseBoolean(op.attrs['enabled']) === false) {
    lost(w, at, 'a disabled operation (enabled=false) is left out');
    return undefined;
  }
  checkAttrs(w, op, at, ['id', 'name', 'interval', 'timeout', 'on-fail', 'role', 'enabled', 'description']);
  checkChildren(w, op, at, []);
  const intervalMs = parseDurationMs(op.attrs['interval'] ?? '0');
  if (intervalMs === undefined) {
    lost(w, `${at}@interval`, `interval="${op.attrs['interval']}" is not a duration; operation ignored`);
    return undefined;
  }
  let timeoutMs = w.opTimeoutMs ?? DEFAULT_OP_TIMEOUT_MS;
  if (op.attrs['timeout'] !== undefined) {
    const t = parseDurationMs(op.attrs['timeout']);
    if (t === undefined || t === 0) lost(w, `${at}@timeout`, `timeout="${op.attrs['timeout']}" is not a positive duration; using the default ${timeoutMs / 1000}s`);
    else timeoutMs = t;
  }
  const o: OpConfig = { name: name as OpName, intervalMs, timeoutMs };
  const onFail = op.attrs['on-fail'];
  if (onFail !== undefined) {
    if (ON_FAIL.includes(onFail)) o.onFail = onFail as OnFail;
    else lost(w, `${at}@on-fail`, `on-fail="${onFail}" is not supported (${ON_FAIL.join(', ')}); the default applies`);
  }
  const role = op.attrs['role'];
  if (role !== undefined) {
    const r = mapRole(role);
    if (r === undefined || r === 'Stopped') lost(w, `${at}@role`, `role="${role}" is not supported for an operation; ignored`);
    else o.role = r;
  }
  return o;
}

function readGroup(w: Walk, el: XmlElement, parentAt: string): GroupConfig | undefined {
  const at = `${parentAt}/${label(el)}`;
  checkAttrs(w, el, at, ['id', 'description']);
  checkChildren(w, el, at, ['primitive', 'meta_attributes', 'instance_attributes']);
  for (const ia of childrenNamed(el, 'instance_attributes')) lost(w, `${at}/${label(ia)}`, 'instance attributes on a group are not supported; set them on its members');
  const members = childrenNamed(el, 'primitive')
    .map((p) => readPrimitive(w, p, at))
    .filter((p): p is PrimitiveConfig => p !== undefined);
  if (members.length === 0) {
    lost(w, at, 'a group with no importable members is left out');
    return undefined;
  }
  const meta = readMeta(w, el, at, false);
  return { kind: 'group', id: el.attrs['id']!, members, ...(isEmpty(meta) ? {} : { meta }) };
}

function readClone(w: Walk, el: XmlElement, parentAt: string): CloneConfig | undefined {
  const at = `${parentAt}/${label(el)}`;
  checkAttrs(w, el, at, ['id', 'description']);
  checkChildren(w, el, at, ['primitive', 'group', 'meta_attributes', 'instance_attributes']);
  for (const ia of childrenNamed(el, 'instance_attributes')) lost(w, `${at}/${label(ia)}`, 'instance attributes on a clone are not supported; set them on its primitive');
  const kids = el.children.filter((c) => c.name === 'primitive' || c.name === 'group');
  if (kids.length !== 1) {
    lost(w, at, 'a clone must wrap exactly one primitive or group; left out');
    return undefined;
  }
  const child = kids[0]!.name === 'primitive' ? readPrimitive(w, kids[0]!, at) : readGroup(w, kids[0]!, at);
  if (child === undefined) {
    lost(w, at, 'its child could not be imported, so the clone is left out');
    return undefined;
  }
  const meta = readMeta(w, el, at, true);
  if (el.name === 'master') {
    info(w, at, 'the old <master> element is imported as a promotable clone');
    meta.promotable = true;
  }
  if (meta.promotable !== true && (meta.promotedMax !== undefined || meta.promotedNodeMax !== undefined)) {
    lost(w, at, 'promoted-max / promoted-node-max without promotable=true mean nothing; ignored');
    delete meta.promotedMax;
    delete meta.promotedNodeMax;
  }
  return { kind: 'clone', id: el.attrs['id']!, child, ...(isEmpty(meta) ? {} : { meta }) };
}

function readResources(w: Walk, el: XmlElement | undefined): ResourceConfig[] {
  const out: ResourceConfig[] = [];
  if (el === undefined) return out;
  const at = 'resources';
  for (const r of el.children) {
    let res: ResourceConfig | undefined;
    if (r.name === 'primitive') res = readPrimitive(w, r, at);
    else if (r.name === 'group') res = readGroup(w, r, at);
    else if (r.name === 'clone' || r.name === 'master') res = readClone(w, r, at);
    else lost(w, `${at}/${label(r)}`, `<${r.name}> (${r.name === 'bundle' ? 'container bundles' : r.name === 'template' ? 'resource templates' : 'this kind of resource'}) is not supported; not imported`);
    if (res !== undefined) out.push(res);
  }
  return out;
}

const RULE_OPS: readonly string[] = ['eq', 'ne', 'lt', 'gt', 'lte', 'gte', 'defined', 'not_defined'];

function readRule(w: Walk, el: XmlElement, at: string): Rule | undefined {
  const here = `${at}/${label(el)}`;
  if (el.attrs['score-attribute'] !== undefined) {
    lost(w, here, `a score taken from a node attribute (score-attribute=${el.attrs['score-attribute']}) is not supported; rule left out`);
    return undefined;
  }
  for (const c of el.children) {
    if (c.name !== 'expression') {
      lost(w, `${here}/${label(c)}`, `<${c.name}> inside a rule is not supported (only node attribute expressions); the whole rule is left out`);
      return undefined;
    }
  }
  checkAttrs(w, el, here, ['id', 'score', 'boolean-op']);
  const score = el.attrs['score'] === undefined ? 0 : parseScore(el.attrs['score']);
  if (score === undefined) {
    lost(w, `${here}@score`, `score="${el.attrs['score']}" is not a score; rule left out`);
    return undefined;
  }
  const boolOp = el.attrs['boolean-op'];
  if (boolOp !== undefined && boolOp !== 'and' && boolOp !== 'or') {
    lost(w, `${here}@boolean-op`, `boolean-op="${boolOp}" must be and/or; rule left out`);
    return undefined;
  }
  const expressions: RuleExpression[] = [];
  for (const e of childrenNamed(el, 'expression')) {
    const eAt = `${here}/${label(e)}`;
    const operation = e.attrs['operation'] ?? '';
    const type = e.attrs['type'];
    if (e.attrs['value-source'] !== undefined && e.attrs['value-source'] !== 'literal') {
      lost(w, eAt, `value-source="${e.attrs['value-source']}" is not supported; the whole rule is left out`);
      return undefined;
    }
    if (!RULE_OPS.includes(operation) || e.attrs['attribute'] === undefined) {
      lost(w, eAt, `operation "${operation}" on attribute ${e.attrs['attribute'] ?? '(none)'} is not supported; the whole rule is left out`);
      return undefined;
    }
    if (type !== undefined && type !== 'string' && type !== 'integer' && type !== 'number') {
      lost(w, eAt, `type="${type}" comparisons are not supported (string, integer, number); the whole rule is left out`);
      return undefined;
    }
    checkAttrs(w, e, eAt, ['id', 'attribute', 'operation', 'value', 'type', 'value-source']);
    const expr: RuleExpression = { attribute: e.attrs['attribute'], operation: operation as RuleOperation };
    if (e.attrs['value'] !== undefined) expr.value = e.attrs['value'];
    if (type !== undefined) expr.type = type;
    expressions.push(expr);
  }
  if (expressions.length === 0) {
    lost(w, here, 'a rule without expressions is left out');
    return undefined;
  }
  return { score, ...(boolOp === undefined ? {} : { booleanOp: boolOp }), expressions };
}

type Refs = (id: string, at: string) => string | undefined;

function readLocation(w: Walk, el: XmlElement, at: string, ref: Refs, nodes: Set<string>): LocationConstraint | undefined {
  const id = el.attrs['id']!;
  if (el.attrs['rsc-pattern'] !== undefined) {
    lost(w, at, `locations by resource name pattern (rsc-pattern=${el.attrs['rsc-pattern']}) are not supported; constraint left out`);
    return undefined;
  }
  if (childrenNamed(el, 'resource_set').length > 0) {
    lost(w, at, 'resource sets in locations are not supported; constraint left out');
    return undefined;
  }
  checkAttrs(w, el, at, ['id', 'rsc', 'node', 'score', 'role', 'resource-discovery']);
  if (el.attrs['resource-discovery'] !== undefined) lost(w, `${at}@resource-discovery`, 'resource-discovery is not supported; sanode always probes');
  checkChildren(w, el, at, ['rule']);
  const rsc = ref(el.attrs['rsc'] ?? '', `${at}@rsc`);
  if (rsc === undefined) return undefined;
  const c: LocationConstraint = { kind: 'location', id, rsc };
  const role = el.attrs['role'];
  if (role !== undefined) {
    const r = mapRole(role);
    if (r === undefined || r === 'Stopped') {
      lost(w, `${at}@role`, `role="${role}" is not supported here; constraint left out`);
      return undefined;
    }
    c.role = r;
  }
  if (el.attrs['node'] !== undefined) {
    const node = el.attrs['node'];
    if (!nodes.has(node)) {
      lost(w, at, `node "${node}" is not in <nodes>; constraint left out`);
      return undefined;
    }
    const score = parseScore(el.attrs['score'] ?? '');
    if (score === undefined) {
      lost(w, at, `score="${el.attrs['score'] ?? ''}" is not a score; constraint left out`);
      return undefined;
    }
    c.node = node;
    c.score = score;
    return c;
  }
  const rules = childrenNamed(el, 'rule')
    .map((r) => readRule(w, r, at))
    .filter((r): r is Rule => r !== undefined);
  if (rules.length === 0) {
    lost(w, at, 'a location with neither node + score nor an importable rule is left out');
    return undefined;
  }
  c.rules = rules;
  return c;
}

/**
 * The resource sets of a colocation or order, or undefined (with a note) when one cannot be read
 * whole. `extra` are the set attributes this kind of constraint understands besides id,
 * sequential and resource references.
 */
function readSets(w: Walk, el: XmlElement, at: string, ref: Refs, kind: 'colocation' | 'order'): ResourceSet[] | undefined {
  const sets: ResourceSet[] = [];
  for (const setEl of childrenNamed(el, 'resource_set')) {
    const setAt = `${at}/${label(setEl)}`;
    if (setEl.attrs['id-ref'] !== undefined) {
      lost(w, setAt, `a reference to another set (id-ref=${setEl.attrs['id-ref']}) is not supported; constraint left out`);
      return undefined;
    }
    checkAttrs(w, setEl, setAt, ['id', 'sequential', kind === 'colocation' ? 'role' : 'action', 'require-all', 'ordering', 'score', 'kind']);
    checkChildren(w, setEl, setAt, ['resource_ref']);
    if (setEl.attrs['require-all'] !== undefined && parseBoolean(setEl.attrs['require-all']) === false) {
      lost(w, `${setAt}@require-all`, 'require-all=false (any one member is enough) is not supported; constraint left out');
      return undefined;
    }
    for (const a of ['score', 'kind', 'ordering'] as const) {
      if (setEl.attrs[a] !== undefined) {
        lost(w, `${setAt}@${a}`, `a set's own ${a} (deprecated) is not supported; constraint left out`);
        return undefined;
      }
    }
    const set: ResourceSet = { resources: [] };
    for (const r of childrenNamed(setEl, 'resource_ref')) {
      const id = ref(r.attrs['id'] ?? '', `${setAt}/resource_ref[${r.attrs['id'] ?? ''}]`);
      if (id === undefined) return undefined;
      set.resources.push(id);
    }
    if (setEl.attrs['sequential'] !== undefined) {
      const b = parseBoolean(setEl.attrs['sequential']);
      if (b === undefined) {
        lost(w, `${setAt}@sequential`, `sequential="${setEl.attrs['sequential']}" is not a boolean; constraint left out`);
        return undefined;
      }
      set.sequential = b;
    }
    const role = kind === 'colocation' ? setEl.attrs['role'] : undefined;
    if (role !== undefined) {
      const r = mapRole(role);
      if (r === undefined || r === 'Stopped') {
        lost(w, `${setAt}@role`, `role="${role}" is not supported here; constraint left out`);
        return undefined;
      }
      set.role = r;
    }
    const action = kind === 'order' ? setEl.attrs['action'] : undefined;
    if (action !== undefined) {
      if (!ORDER_ACTIONS.includes(action)) {
        lost(w, `${setAt}@action`, `action="${action}" is not supported (start, stop, promote, demote); constraint left out`);
        return undefined;
      }
      set.action = action as OrderAction;
    }
    sets.push(set);
  }
  return sets;
}

/** A colocation written with resource sets: its pairwise colocations, or [] when left out. */
function readColocationSets(w: Walk, el: XmlElement, at: string, ref: Refs): ColocationConstraint[] {
  checkAttrs(w, el, at, ['id', 'score']);
  checkChildren(w, el, at, ['resource_set']);
  const score = parseScore(el.attrs['score'] ?? '');
  if (score === undefined) {
    lost(w, at, `score="${el.attrs['score'] ?? ''}" is not a score; constraint left out`);
    return [];
  }
  const sets = readSets(w, el, at, ref, 'colocation');
  if (sets === undefined) return [];
  return expandColocationSets(el.attrs['id']!, score, sets);
}

function readColocation(w: Walk, el: XmlElement, at: string, ref: Refs): ColocationConstraint | undefined {
  checkAttrs(w, el, at, ['id', 'rsc', 'with-rsc', 'score', 'rsc-role', 'with-rsc-role', 'node-attribute', 'influence']);
  checkChildren(w, el, at, []);
  if (el.attrs['node-attribute'] !== undefined && el.attrs['node-attribute'] !== '#uname') {
    lost(w, at, `colocation by node attribute (node-attribute=${el.attrs['node-attribute']}) is not supported; constraint left out`);
    return undefined;
  }
  if (el.attrs['influence'] !== undefined) lost(w, `${at}@influence`, 'influence is not supported; the colocation always influences placement');
  const rsc = ref(el.attrs['rsc'] ?? '', `${at}@rsc`);
  const withRsc = ref(el.attrs['with-rsc'] ?? '', `${at}@with-rsc`);
  if (rsc === undefined || withRsc === undefined) return undefined;
  const score = parseScore(el.attrs['score'] ?? '');
  if (score === undefined) {
    lost(w, at, `score="${el.attrs['score'] ?? ''}" is not a score; constraint left out`);
    return undefined;
  }
  if (rsc === withRsc) {
    lost(w, at, `colocates ${rsc} with itself (after mapping clone members to their clone); left out`);
    return undefined;
  }
  const c: ColocationConstraint = { kind: 'colocation', id: el.attrs['id']!, rsc, withRsc, score };
  for (const [attr, key] of [
    ['rsc-role', 'rscRole'],
    ['with-rsc-role', 'withRscRole'],
  ] as const) {
    const v = el.attrs[attr];
    if (v === undefined) continue;
    const r = mapRole(v);
    if (r === undefined || r === 'Stopped') {
      lost(w, `${at}@${attr}`, `${attr}="${v}" is not supported; constraint left out`);
      return undefined;
    }
    c[key] = r;
  }
  return c;
}

const ORDER_ACTIONS: readonly string[] = ['start', 'stop', 'promote', 'demote'];

/** An order written with resource sets: its pairwise orders, or [] when left out. */
function readOrderSets(w: Walk, el: XmlElement, at: string, ref: Refs): OrderConstraint[] {
  checkAttrs(w, el, at, ['id', 'kind', 'symmetrical']);
  checkChildren(w, el, at, ['resource_set']);
  const kind = el.attrs['kind'];
  if (kind !== undefined && kind !== 'Mandatory' && kind !== 'Optional') {
    lost(w, `${at}@kind`, `kind="${kind}" is not supported (Mandatory, Optional); constraint left out`);
    return [];
  }
  let symmetrical: boolean | undefined;
  if (el.attrs['symmetrical'] !== undefined) {
    symmetrical = parseBoolean(el.attrs['symmetrical']);
    if (symmetrical === undefined) lost(w, `${at}@symmetrical`, `symmetrical="${el.attrs['symmetrical']}" is not a boolean; the default (true) applies`);
  }
  const sets = readSets(w, el, at, ref, 'order');
  if (sets === undefined) return [];
  return expandOrderSets(el.attrs['id']!, kind, symmetrical, sets);
}

function readOrder(w: Walk, el: XmlElement, at: string, ref: Refs): OrderConstraint | undefined {
  checkAttrs(w, el, at, ['id', 'first', 'then', 'kind', 'score', 'first-action', 'then-action', 'symmetrical', 'require-all']);
  checkChildren(w, el, at, []);
  if (el.attrs['require-all'] !== undefined) lost(w, `${at}@require-all`, 'require-all is not supported; ignored');
  const first = ref(el.attrs['first'] ?? '', `${at}@first`);
  const then = ref(el.attrs['then'] ?? '', `${at}@then`);
  if (first === undefined || then === undefined) return undefined;
  const c: OrderConstraint = { kind: 'order', id: el.attrs['id']!, first, then };
  const kind = el.attrs['kind'];
  if (kind !== undefined) {
    if (kind === 'Mandatory' || kind === 'Optional') c.orderKind = kind;
    else {
      lost(w, `${at}@kind`, `kind="${kind}" is not supported (Mandatory, Optional); constraint left out`);
      return undefined;
    }
  } else if (el.attrs['score'] !== undefined) {
    // The old spelling: score 0 meant Optional, anything else Mandatory.
    const s = parseScore(el.attrs['score']);
    if (s === undefined) {
      lost(w, `${at}@score`, `score="${el.attrs['score']}" is not a score; constraint left out`);
      return undefined;
    }
    c.orderKind = s === 0 ? 'Optional' : 'Mandatory';
    info(w, `${at}@score`, `the deprecated score="${el.attrs['score']}" is imported as kind ${c.orderKind}`);
  }
  for (const [attr, key] of [
    ['first-action', 'firstAction'],
    ['then-action', 'thenAction'],
  ] as const) {
    const v = el.attrs[attr];
    if (v === undefined) continue;
    if (!ORDER_ACTIONS.includes(v)) {
      lost(w, `${at}@${attr}`, `${attr}="${v}" is not supported (start, stop, promote, demote); constraint left out`);
      return undefined;
    }
    c[key] = v as OrderAction;
  }
  if (el.attrs['symmetrical'] !== undefined) {
    const b = parseBoolean(el.attrs['symmetrical']);
    if (b === undefined) lost(w, `${at}@symmetrical`, `symmetrical="${el.attrs['symmetrical']}" is not a boolean; the default (true) applies`);
    else c.symmetrical = b;
  }
  if (first === then) {
    lost(w, at, `orders ${first} after itself (after mapping clone members to their clone); left out`);
    return undefined;
  }
  return c;
}

/**
 * Resolves a constraint's resource reference. Like Pacemaker, a reference to a primitive (or
 * group) inside a clone means the clone.
 */
function resolver(w: Walk, resources: ResourceConfig[]): Refs {
  const direct = new Set<string>();
  const toClone = new Map<string, string>();
  for (const r of resources) {
    direct.add(r.id);
    if (r.kind === 'group') for (const m of r.members) direct.add(m.id);
    if (r.kind === 'clone') {
      toClone.set(r.child.id, r.id);
      if (r.child.kind === 'group') for (const m of r.child.members) toClone.set(m.id, r.id);
    }
  }
  return (id, at) => {
    if (direct.has(id)) return id;
    const clone = toClone.get(id);
    if (clone !== undefined) {
      info(w, at, `${id} is inside clone ${clone}; the constraint applies to the clone, as in Pacemaker`);
      return clone;
    }
    lost(w, at, `resource "${id}" was not imported (or does not exist); constraint left out`);
    return undefined;
  };
}

function readConstraints(w: Walk, el: XmlElement | undefined, resources: ResourceConfig[], nodes: Set<string>): Constraint[] {
  const out: Constraint[] = [];
  if (el === undefined) return out;
  const ref = resolver(w, resources);
  for (const c of el.children) {
    const at = `constraints/${label(c)}`;
    let con: Constraint | undefined;
    const sets = childrenNamed(c, 'resource_set').length > 0;
    if (c.name === 'rsc_location') con = readLocation(w, c, at, ref, nodes);
    else if (c.name === 'rsc_colocation' && sets) out.push(...readColocationSets(w, c, at, ref));
    else if (c.name === 'rsc_colocation') con = readColocation(w, c, at, ref);
    else if (c.name === 'rsc_order' && sets) out.push(...readOrderSets(w, c, at, ref));
    else if (c.name === 'rsc_order') con = readOrder(w, c, at, ref);
    else lost(w, at, `<${c.name}>${c.name === 'rsc_ticket' ? ' (tickets, for multi-site clusters)' : ''} is not supported; left out`);
    if (con !== undefined) out.push(con);
  }
  return out;
}

/** Properties Pacemaker maintains itself: reported as information, not as a loss. */
const BOOKKEEPING = ['dc-version', 'cluster-infrastructure', 'cluster-name', 'have-watchdog', 'last-lrm-refresh', 'expected-quorum-votes'];

function readProperties(w: Walk, el: XmlElement | undefined): ClusterProperties {
  const props: ClusterProperties = {};
  if (el === undefined) return props;
  checkChildren(w, el, 'crm_config', ['cluster_property_set']);
  for (const set of childrenNamed(el, 'cluster_property_set')) {
    for (const [name, value, at] of readNvpairs(w, set, 'crm_config')) {
      const bool = (key: 'stonithEnabled' | 'maintenanceMode' | 'symmetricCluster'): void => {
        const b = parseBoolean(value);
        if (b === undefined) lost(w, at, `${name}="${value}" is not a boolean; ignored`);
        else props[key] = b;
      };
      if (name === 'stonith-enabled') bool('stonithEnabled');
      else if (name === 'maintenance-mode') bool('maintenanceMode');
      else if (name === 'symmetric-cluster') bool('symmetricCluster');
      else if (name === 'no-quorum-policy') {
        if (value === 'stop' || value === 'freeze' || value === 'ignore' || value === 'demote') props.noQuorumPolicy = value;
        else lost(w, at, `no-quorum-policy="${value}" is not supported (stop, freeze, ignore, demote); the default (stop) applies`);
        if (value === 'ignore' || value === 'freeze') {
          warn(
            w,
            at,
            `no-quorum-policy=${value} is carried over: a node that loses quorum keeps running its resources, which turns off the self-stop sanode relies on without fencing; both halves of a split cluster will run them. Use stop unless you add fencing.`,
          );
        }
      } else if (BOOKKEEPING.includes(name)) info(w, at, `${name} is Pacemaker's own bookkeeping; not needed`);
      else lost(w, at, `cluster property ${name}="${value}" has no equivalent in sanode; ignored`);
    }
  }
  return props;
}

/** op_defaults: the timeout and on-fail every operation takes unless it sets its own. */
function readOpDefaults(w: Walk, el: XmlElement | undefined): OpDefaults {
  const out: OpDefaults = {};
  if (el === undefined) return out;
  checkChildren(w, el, 'op_defaults', ['meta_attributes']);
  for (const set of childrenNamed(el, 'meta_attributes')) {
    for (const [name, value, at] of readNvpairs(w, set, 'op_defaults')) {
      if (name === 'timeout') {
        const t = parseDurationMs(value);
        if (t === undefined || t === 0) lost(w, at, `timeout="${value}" is not a positive duration; ignored`);
        else out.timeoutMs = t;
      } else if (name === 'on-fail') {
        if (ON_FAIL.includes(value)) out.onFail = value as OnFail;
        else lost(w, at, `on-fail="${value}" is not supported (${ON_FAIL.join(', ')}); ignored`);
      } else lost(w, at, `operation default ${name}="${value}" has no equivalent in sanode; ignored`);
    }
  }
  return out;
}

function readDefaults(w: Walk, el: XmlElement | undefined): ResourceMeta {
  if (el === undefined) return {};
  checkChildren(w, el, 'rsc_defaults', ['meta_attributes']);
  return readMeta(w, el, 'rsc_defaults', false);
}

function readNodes(w: Walk, el: XmlElement | undefined): NodeConfig[] {
  const out: NodeConfig[] = [];
  if (el === undefined) return out;
  for (const n of el.children) {
    const at = `nodes/${label(n)}`;
    if (n.name !== 'node') {
      lost(w, at, `<${n.name}> is not supported; ignored`);
      continue;
    }
    const type = n.attrs['type'];
    if (type !== undefined && type !== 'member' && type !== 'normal') {
      lost(w, at, `nodes of type "${type}" (remote or ping nodes) are not supported; node not imported`);
      continue;
    }
    checkAttrs(w, n, at, ['id', 'uname', 'type', 'description']);
    checkChildren(w, n, at, ['instance_attributes', 'utilization']);
    for (const u of childrenNamed(n, 'utilization')) lost(w, `${at}/${label(u)}`, 'utilization (placement-strategy) is not supported; ignored');
    const node: NodeConfig = { id: n.attrs['id'] ?? '', name: n.attrs['uname'] ?? '' };
    const attributes: Record<string, string> = {};
    for (const set of childrenNamed(n, 'instance_attributes')) {
      for (const [name, value, nvAt] of readNvpairs(w, set, at)) {
        if (name === 'standby') {
          const b = parseBoolean(value);
          if (b === undefined) lost(w, nvAt, `standby="${value}" is not a boolean; ignored`);
          else if (b) node.standby = true;
        } else if (name.startsWith('#')) lost(w, nvAt, `attribute names starting with # are built in; ${name} ignored`);
        else attributes[name] = value;
      }
    }
    if (!isEmpty(attributes)) node.attributes = attributes;
    out.push(node);
  }
  return out;
}

/**
 * Converts the XML of a Pacemaker CIB. Throws a CibError when the XML is not a CIB or the result
 * is not a valid sanode configuration (the message names the field); otherwise every loss is a
 * note in the result.
 */
export function importPacemakerXml(xml: string): ImportResult {
  const w: Walk = { notes: [] };
  const root = parseXml(xml);
  if (root.name !== 'cib') throw new CibError(undefined, 'xml', `the root element is <${root.name}>, not <cib>; give the output of cibadmin -Q`);
  const configuration = childrenNamed(root, 'configuration')[0];
  if (configuration === undefined) throw new CibError(undefined, 'xml', 'no <configuration> element under <cib>');
  const versions = ['admin_epoch', 'epoch', 'num_updates'].filter((a) => root.attrs[a] !== undefined);
  if (versions.length > 0) info(w, 'cib', `the version counters (${versions.map((a) => `${a}=${root.attrs[a]}`).join(' ')}) are not carried over; sanode's CIB starts its own`);
  for (const c of root.children) {
    if (c.name === 'status') info(w, 'status', 'the status section (run-time state) is not imported; use a sanode state file for simulations');
    else if (c.name !== 'configuration') lost(w, label(c), `<${c.name}> is not supported; ignored`);
  }
  const known = ['crm_config', 'nodes', 'resources', 'constraints', 'rsc_defaults', 'op_defaults'];
  for (const c of configuration.children) {
    if (!known.includes(c.name)) lost(w, label(c), `<${c.name}> is not supported; ignored`);
  }
  const part = (name: string): XmlElement | undefined => childrenNamed(configuration, name)[0];
  const properties = readProperties(w, part('crm_config'));
  // Read before the resources: an operation without a timeout takes the default's.
  const opDefaults = readOpDefaults(w, part('op_defaults'));
  if (opDefaults.timeoutMs !== undefined) w.opTimeoutMs = opDefaults.timeoutMs;
  const nodes = readNodes(w, part('nodes'));
  const resources = readResources(w, part('resources'));
  const constraints = readConstraints(w, part('constraints'), resources, new Set(nodes.map((n) => n.name)));
  const rscDefaults = readDefaults(w, part('rsc_defaults'));
  const config: CibConfig = {
    ...(isEmpty(properties) ? {} : { properties }),
    ...(isEmpty(rscDefaults) ? {} : { rscDefaults }),
    ...(isEmpty(opDefaults) ? {} : { opDefaults }),
    nodes,
    resources,
    constraints,
  };
  validateConfig(config);
  return { config, notes: w.notes };
}
