/**
 * The one declaration of sanode's configuration: what `joinCluster` takes and what the sidecar's
 * cluster.yaml holds (the same keys; the file cannot hold functions or raw key bytes).
 *
 * Takes: a value a user wrote (an options object, a parsed YAML document).
 * Emits: the same value, checked shape by shape, or the first problem as a ConfigError naming
 * the field, the value and the fix; an unknown key is refused with the nearest known key or the
 * sanode spelling of a corosync/Pacemaker name. Also a JSON Schema of the file, for editors.
 * Never: checks what needs more than one field or the host (peers vs nodes, the node in the list,
 * quorum arithmetic, the CIB's references): resolveJoinOptions, the quorum and the CIB validators
 * do that after the shape is known to be right.
 *
 * Why zod: it is the most used of the three (zod, valibot, TypeBox), keeps one declaration for the
 * check, the TypeScript type and (since v4, built in) the JSON Schema, and its strict objects
 * report unknown keys as issues we can turn into suggestions. valibot is smaller but needs a
 * second package for JSON Schema; TypeBox starts from JSON Schema and makes custom messages and
 * function-valued options (tieBreakerCheck, agents) awkward.
 */
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { suggestKey } from './suggest.js';
import { parseScore } from '../cib/model.js';

export const describeValue = (value: unknown): string => {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return 'a function';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
};

/** A message that ends with the value the user gave: "expected X, got Y". */
const expected = (what: string) => ({ error: (issue: { input?: unknown }) => `expected ${what}, got ${describeValue(issue.input)}` });

const int = (lo: number, hi: number, what: string) =>
  z
    .int(expected(what))
    .min(lo, expected(what))
    .max(hi, expected(what));
const positiveMs = () => z.number(expected('a positive number of milliseconds')).positive(expected('a positive number of milliseconds'));
const nonNegativeMs = () => z.number(expected('a number of milliseconds, 0 or more')).nonnegative(expected('a number of milliseconds, 0 or more'));
const bool = () => z.boolean(expected('true or false'));
const str = (what = 'a string') => z.string(expected(what));
const nodeId = () => int(1, 65_535, 'an integer 1..65535');
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, expected(values.map((v) => `'${v}'`).join(values.length === 2 ? ' or ' : ', ').replace(/, ([^,]*)$/, ' or $1')));

const link = z.strictObject({
  mode: oneOf(['udpu', 'mcast']),
  bindAddr: str('an IPv4 or IPv6 address literal'),
  port: int(1, 65_535, 'a UDP port 1..65535'),
  mcastAddr: str('a multicast group address').optional(),
  ttl: int(0, 255, 'an integer 0..255 (1 keeps the group on the local segment)').optional(),
  mcastInterface: str('an interface address (IPv4) or name (IPv6)').optional(),
});

const transport = z.strictObject(
  {
    mode: oneOf(['udpu', 'mcast']).optional(),
    port: int(1, 65_535, 'a UDP port 1..65535').optional(),
    peers: z.array(str("an address"), expected("a list of every node's address (this node's included)")).optional(),
    nodes: z
      .array(
        z.strictObject({ id: nodeId(), name: str().optional(), addrs: z.array(str('an address'), expected('one address per link')) }),
        expected('a non-empty list of { id, addrs: [...] }'),
      )
      .optional(),
    links: z.array(link, expected('1 to 8 links, one entry per network (ring)')).optional(),
    mcastAddr: str('a multicast group address').optional(),
    ttl: int(0, 255, 'an integer 0..255 (1 keeps the group on the local segment)').optional(),
  },
  { error: () => "expected e.g. { mode: 'udpu', port: 5405, peers: ['10.0.0.11', '10.0.0.12', '10.0.0.13'] }" },
);

const timers = z.strictObject(
  {
    tokenTimeoutMs: positiveMs().optional(),
    tokenRetransmitMs: positiveMs().optional(),
    tokenHoldMs: nonNegativeMs().optional(),
    joinMs: positiveMs().optional(),
    consensusMs: positiveMs().optional(),
    mergeDetectMs: positiveMs().optional(),
    failToRecvMs: positiveMs().optional(),
    tokenPerMemberMs: nonNegativeMs().optional(),
  },
  expected('an object of timer overrides, e.g. { tokenTimeoutMs: 1000 }'),
);

const quorum = z.strictObject(
  {
    votes: z.record(z.string().regex(/^\d+$/, { error: 'keys are node ids' }), int(0, 255, 'an integer 0..255')).optional(),
    expectedVotes: int(1, 1_000_000, 'a positive integer').optional(),
    twoNode: bool().optional(),
    waitForAll: bool().optional(),
    lastManStanding: bool().optional(),
    lastManStandingWindowMs: positiveMs().optional(),
    autoTieBreaker: bool().optional(),
    autoTieBreakerNodes: z.union([oneOf(['lowest', 'highest']), z.array(nodeId()).readonly()], expected("'lowest', 'highest' or a list of node ids")).optional(),
    tieBreaker: oneOf(['none', 'vote', 'veto']).optional(),
  },
  expected('an object, e.g. { twoNode: true }'),
);

// ---- the CIB part: shapes and key names here, references and meaning in lib/cib/validate.ts ----

/** A score as a number, or Pacemaker's spelling (INFINITY, -INFINITY) in a file. */
const score = z
  .union([z.number(), z.string().refine((t) => parseScore(t) !== undefined)], expected('a score: an integer, INFINITY or -INFINITY'))
  .transform((v) => (typeof v === 'number' ? v : parseScore(v)!));
const role = oneOf(['Stopped', 'Started', 'Unpromoted', 'Promoted']);
const runRole = oneOf(['Started', 'Unpromoted', 'Promoted']);
const metaShape = {
  targetRole: role.optional(),
  resourceStickiness: z.number(expected('a score')).optional(),
  migrationThreshold: z.number(expected('a number of failures')).optional(),
  failureTimeoutMs: nonNegativeMs().optional(),
  priority: z.number(expected('a number')).optional(),
  isManaged: bool().optional(),
  holdoverMs: nonNegativeMs().optional(),
};
const meta = z.strictObject(metaShape);
const cloneMeta = z.strictObject({
  ...metaShape,
  cloneMax: int(0, 1_000_000, 'a number of instances').optional(),
  cloneNodeMax: int(0, 1_000_000, 'a number of instances').optional(),
  promotable: bool().optional(),
  promotedMax: int(0, 1_000_000, 'a number of instances').optional(),
  promotedNodeMax: int(0, 1_000_000, 'a number of instances').optional(),
  interleave: bool().optional(),
});
const op = z.strictObject({
  name: oneOf(['start', 'stop', 'monitor', 'promote', 'demote']),
  intervalMs: nonNegativeMs(),
  timeoutMs: positiveMs(),
  onFail: oneOf(['ignore', 'block', 'stop', 'restart', 'standby', 'fence']).optional(),
  role: runRole.optional(),
});
/** Params are strings to agents (as OCF's environment); a YAML number or boolean is taken as its text. */
const params = z.record(
  z.string(),
  z.union([z.string(), z.number(), z.boolean()], expected('a string, number or boolean')).transform((v) => String(v)),
);
const primitive = z.strictObject({
  kind: z.literal('primitive'),
  id: str('an id'),
  agent: z.strictObject({
    class: oneOf(['ocf', 'lsb', 'systemd', 'service', 'stonith', 'sanode']),
    provider: str().optional(),
    type: str('an agent type, e.g. vip or process'),
  }),
  params: params.optional(),
  meta: meta.optional(),
  ops: z.array(op).optional(),
});
const group = z.strictObject({ kind: z.literal('group'), id: str('an id'), members: z.array(primitive), meta: meta.optional() });
const clone = z.strictObject({ kind: z.literal('clone'), id: str('an id'), child: z.discriminatedUnion('kind', [primitive, group]), meta: cloneMeta.optional() });
const resource = z.discriminatedUnion('kind', [primitive, group, clone], {
  error: (issue: { input?: unknown }) => `expected kind: primitive, group or clone, got ${describeValue((issue.input as { kind?: unknown } | undefined)?.kind)}`,
});
const ruleExpression = z.strictObject({
  attribute: str(),
  operation: oneOf(['eq', 'ne', 'lt', 'gt', 'lte', 'gte', 'defined', 'not_defined']),
  value: str().optional(),
  type: oneOf(['string', 'integer', 'number']).optional(),
});
const rule = z.strictObject({ score, booleanOp: oneOf(['and', 'or']).optional(), expressions: z.array(ruleExpression) });
const constraint = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('location'), id: str('an id'), rsc: str('a resource id'), node: str('a node name').optional(), score: score.optional(), rules: z.array(rule).optional(), role: runRole.optional() }),
    z.strictObject({ kind: z.literal('colocation'), id: str('an id'), rsc: str('a resource id'), withRsc: str('a resource id'), score, rscRole: runRole.optional(), withRscRole: runRole.optional() }),
    z.strictObject({
      kind: z.literal('order'),
      id: str('an id'),
      first: str('a resource id'),
      then: str('a resource id'),
      orderKind: oneOf(['Mandatory', 'Optional']).optional(),
      firstAction: oneOf(['start', 'stop', 'promote', 'demote']).optional(),
      thenAction: oneOf(['start', 'stop', 'promote', 'demote']).optional(),
      symmetrical: bool().optional(),
    }),
  ],
  { error: (issue: { input?: unknown }) => `expected kind: location, colocation or order, got ${describeValue((issue.input as { kind?: unknown } | undefined)?.kind)}` },
);
const properties = z.strictObject({
  noQuorumPolicy: oneOf(['stop', 'freeze', 'ignore', 'demote']).optional(),
  maintenanceMode: bool().optional(),
  stonithEnabled: bool().optional(),
  symmetricCluster: bool().optional(),
});
export const cibConfigSchema = z.strictObject({
  properties: properties.optional(),
  rscDefaults: meta.optional(),
  nodes: z.array(z.strictObject({ id: str('a node id as a string'), name: str('a node name'), attributes: z.record(z.string(), z.string()).optional(), standby: bool().optional() })),
  resources: z.array(resource),
  constraints: z.array(constraint).optional(),
});

/** Resource-part keys of the CIB that `config apply` and SIGHUP reload from a file. */
export const RELOADABLE_CIB_KEYS = ['resources', 'constraints', 'properties', 'rscDefaults'] as const;

const admin = z.strictObject(
  {
    socket: str('an absolute path for the admin Unix socket').optional(),
    /** File mode of the admin socket: who may change the cluster through it. */
    mode: int(0, 0o777, 'a file mode such as 0o600 (owner only) or 0o660 (owner and group)').optional(),
    /** Group id given the sockets (with mode 0o660: that group may use it). */
    gid: int(0, 2 ** 31 - 1, 'a numeric group id').optional(),
    /** A second socket that answers read-only commands (status, list, show) and refuses changes. */
    readOnlySocket: str('an absolute path for the read-only socket').optional(),
    readOnlyMode: int(0, 0o777, 'a file mode such as 0o666 (everyone may read status)').optional(),
  },
  expected("an object such as { socket: '/run/sanode/admin.sock' }"),
);

const resourcesOptions = z.strictObject(
  { selfStopMs: positiveMs().optional(), manage: bool().optional() },
  {
    error: (issue: { input?: unknown }) =>
      Array.isArray(issue.input)
        ? 'expected { selfStopMs?, manage? }; resource definitions go under cib.resources'
        : `expected { selfStopMs?, manage? }, got ${describeValue(issue.input)}`,
  },
);

const alert = z
  .strictObject({
    id: str('an id naming the alert'),
    script: str('the path of an executable').optional(),
    webhook: z.url({ protocol: /^https?$/, error: (i: { input?: unknown }) => `expected an http or https URL, got ${describeValue(i.input)}` }).optional(),
    events: z.array(oneOf(['node', 'resource', 'leader', 'quorum'])).optional(),
    timeoutMs: positiveMs().optional(),
    retries: int(0, 10, 'a number of retries 0..10').optional(),
    recipient: str().optional(),
  })
  .refine((a) => (a.script === undefined) !== (a.webhook === undefined), { error: 'give either script or webhook (one of them, not both)' });

/** Keys both the options and the file hold. */
const commonShape = {
  cluster: z.string({ error: (i) => `expected a name of 1-64 letters, digits, '.', '_' or '-', got ${describeValue(i.input)}` }).regex(/^[\w.-]{1,64}$/, {
    error: (i) => `expected a name of 1-64 letters, digits, '.', '_' or '-', got ${describeValue(i.input)}`,
  }),
  node: z.strictObject({ id: nodeId(), name: str('a node name').optional() }, expected('{ id: <1..65535>, name?: string }')),
  transport,
  keyFile: str('the path of the key made by `sanode keygen`').optional(),
  security: z.literal('insecure', expected("'insecure' (for debugging); remove it to encrypt")).optional(),
  allowOpenKeyPermissions: bool().optional(),
  profile: oneOf(['lan', 'fast', 'wan']).optional(),
  timers: timers.optional(),
  quorum: quorum.optional(),
  tieBreakerTimeoutMs: positiveMs().optional(),
  stateDir: str('an absolute directory path').optional(),
  leaseMs: positiveMs().optional(),
  clockDriftRatio: z.number(expected('0 <= ratio < 0.2')).min(0, expected('0 <= ratio < 0.2')).lt(0.2, expected('0 <= ratio < 0.2')).optional(),
  cib: cibConfigSchema.optional(),
  resources: resourcesOptions.optional(),
  admin: admin.optional(),
  alerts: z.array(alert).optional(),
};

const isFunction = (v: unknown): boolean => typeof v === 'function';
const agentObject = z.custom<unknown>(
  // A function with hooks is an agent too (`filesystem` is both its factory and an agent).
  (v) => (typeof v === 'object' || typeof v === 'function') && v !== null && ['start', 'stop', 'monitor'].every((h) => isFunction((v as Record<string, unknown>)[h])),
  { error: 'an agent needs async start, stop and monitor functions' },
);

/** `joinCluster(options)`: the file's keys plus the ones only code can give. */
export const joinOptionsSchema = z.strictObject(
  {
    ...commonShape,
    key: z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= 32, { error: 'expected at least 32 bytes of key material, as `sanode keygen` writes' }).optional(),
    tieBreakerCheck: z.custom<unknown>(isFunction, { error: 'expected an async function ({ members, signal }) => boolean' }).optional(),
    agents: z.record(z.string(), agentObject, { error: 'expected an object of agents by type name, e.g. { myapp: { start, stop, monitor } }' }).optional(),
  },
  expected('an object'),
);

const logging = z.strictObject({
  level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).optional(),
  format: oneOf(['json', 'pretty']).optional(),
});

/** cluster.yaml for `sanode run`: everything a node needs, no code. */
export const clusterFileSchema = z.strictObject(
  {
    ...commonShape,
    /** Where the sidecar writes its logs: JSON lines on stdout by default. */
    log: logging.optional(),
  },
  expected('a YAML mapping with cluster, node and transport at least'),
);

export type ClusterFile = z.output<typeof clusterFileSchema>;

/** Every dotted path the schema knows, for suggestions of keys written at the wrong level. */
function collectPaths(schema: z.ZodType, prefix: string, out: string[], depth: number): void {
  if (depth > 8) return;
  const def = (schema as unknown as { def: Record<string, unknown> }).def;
  switch (def.type) {
    case 'object':
      for (const [key, child] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        out.push(path);
        collectPaths(child, path, out, depth + 1);
      }
      return;
    case 'optional':
    case 'nullable':
    case 'default':
      return collectPaths(def.innerType as z.ZodType, prefix, out, depth);
    case 'array':
      return collectPaths(def.element as z.ZodType, `${prefix}[]`, out, depth + 1);
    case 'record':
      return collectPaths(def.valueType as z.ZodType, `${prefix}.<name>`, out, depth + 1);
    case 'union':
      for (const option of def.options as z.ZodType[]) collectPaths(option, prefix, out, depth + 1);
      return;
    case 'pipe':
      return collectPaths(def.in as z.ZodType, prefix, out, depth);
    default:
      return;
  }
}

/** The object schema that stands at `path` in `input`, or undefined (unions pick by `kind`). */
function schemaAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  let value = input;
  for (let i = 0; i <= path.length && current !== undefined; ) {
    const def: Record<string, unknown> = (current as unknown as { def: Record<string, unknown> }).def;
    if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') {
      current = def.innerType as z.ZodType;
    } else if (def.type === 'pipe') {
      current = def.in as z.ZodType;
    } else if (def.type === 'union') {
      const kind = (value as { kind?: unknown } | null)?.kind;
      current = (def.options as z.ZodType[]).find((o) => {
        const shape = (o as unknown as { def: { shape?: Record<string, z.ZodType> } }).def.shape;
        return shape?.kind !== undefined && (shape.kind as unknown as { def: { values?: unknown[] } }).def.values?.includes(kind);
      });
    } else if (i === path.length) {
      return current;
    } else {
      const key = path[i]!;
      value = (value as Record<PropertyKey, unknown> | null)?.[key];
      i += 1;
      if (def.type === 'object') current = (def.shape as Record<string, z.ZodType>)[String(key)];
      else if (def.type === 'array') current = def.element as z.ZodType;
      else if (def.type === 'record') current = def.valueType as z.ZodType;
      else return undefined;
    }
  }
  return current;
}

export function formatPath(path: readonly PropertyKey[], base = ''): string {
  let out = base;
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out;
}

const pathCache = new WeakMap<z.ZodType, string[]>();
function pathsOf(schema: z.ZodType): string[] {
  let paths = pathCache.get(schema);
  if (paths === undefined) {
    paths = [];
    collectPaths(schema, '', paths, 0);
    pathCache.set(schema, paths);
  }
  return paths;
}

/**
 * Checks `input` against `schema`; returns the parsed value or throws the first problem as a
 * ConfigError. Unknown keys come first: a misspelt key also leaves the real one missing, and the
 * misspelling is the thing to fix.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, base = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const unknown = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown !== undefined && unknown.code === 'unrecognized_keys') {
    const key = unknown.keys[0]!;
    const objectSchema = schemaAt(schema, unknown.path, input);
    const shape = (objectSchema as unknown as { def?: { shape?: Record<string, unknown> } } | undefined)?.def?.shape ?? {};
    const prefix = formatPath(unknown.path, base);
    const hint = suggestKey(key, Object.keys(shape), prefix, pathsOf(schema).map((p) => (base === '' ? p : `${base}.${p}`)));
    const known = Object.keys(shape).join(', ');
    throw new ConfigError(formatPath([...unknown.path, key], base), `unknown key${hint === undefined ? '' : `; ${hint}`} (known here: ${known})`);
  }
  const first = issues[0]!;
  throw new ConfigError(formatPath(first.path, base) || base || 'options', first.message);
}

/** The JSON Schema of cluster.yaml (draft 2020-12), for editors and `sanode config schema`. */
export function clusterFileJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(clusterFileSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'sanode cluster.yaml',
    description: 'One node of a sanode cluster, as `sanode run cluster.yaml` runs it.',
  };
}
