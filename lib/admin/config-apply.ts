/**
 * `config apply` and the sidecar's SIGHUP: the resource part of a file (resources, constraints,
 * properties, rscDefaults) replaces the running CIB's, in one change applied in agreed order.
 *
 * Takes: the running configuration and the new resource part. Emits: the configuration to commit
 * (nodes and the move/ban constraints `resource move|ban` made are kept), the diff a person reads
 * before it is applied, and warnings. Pure; validation is lib/cib/validate.ts's.
 * Never: changes nodes (membership comes from the transport and the running CIB).
 */
import { CLI_BAN_PREFIX, CLI_PREFER_PREFIX, type CibConfig } from '../cib/model.js';
import { validateConfig } from '../cib/validate.js';

export type ResourcePart = Pick<CibConfig, 'resources' | 'constraints' | 'properties' | 'rscDefaults'>;

export interface ConfigPlan {
  readonly config: CibConfig;
  /** One line a change: "+ resource web-ip", "~ resource web-app", "- constraint c1", "~ property maintenanceMode: false -> true". */
  readonly diff: string[];
  readonly warnings: string[];
}

const isCli = (id: string): boolean => id.startsWith(CLI_PREFER_PREFIX) || id.startsWith(CLI_BAN_PREFIX);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function diffById<T extends { id: string }>(kind: string, before: readonly T[], after: readonly T[], out: string[]): void {
  const old = new Map(before.map((x) => [x.id, x]));
  const now = new Map(after.map((x) => [x.id, x]));
  for (const [id, x] of now) {
    const was = old.get(id);
    if (was === undefined) out.push(`+ ${kind} ${id}`);
    else if (!same(was, x)) out.push(`~ ${kind} ${id}`);
  }
  for (const id of old.keys()) if (!now.has(id)) out.push(`- ${kind} ${id}`);
}

function diffRecord(kind: string, before: object | undefined, after: object | undefined, out: string[]): void {
  const a = (before ?? {}) as Record<string, unknown>;
  const b = (after ?? {}) as Record<string, unknown>;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!same(a[key], b[key])) out.push(`~ ${kind} ${key}: ${JSON.stringify(a[key]) ?? 'unset'} -> ${JSON.stringify(b[key]) ?? 'unset'}`);
  }
}

/** Warnings that a reader of the diff must not miss: what turns off a safety sanode rests on. */
export function configWarnings(config: Pick<CibConfig, 'properties'>): string[] {
  const warnings: string[] = [];
  const policy = config.properties?.noQuorumPolicy;
  // Both skip the self-stop on quorum loss (lib/runtime/resource-manager.ts), the safety that
  // stands in for fencing.
  if (policy === 'ignore' || policy === 'freeze') {
    warnings.push(
      `noQuorumPolicy is ${policy}: a node that loses quorum keeps its resources running, so without fencing both halves of a split cluster run them at once. sanode has no fencing devices yet; use stop (the default).`,
    );
  }
  return warnings;
}

export function planApply(current: CibConfig, part: ResourcePart): ConfigPlan {
  const kept = (current.constraints ?? []).filter((c) => isCli(c.id) && !(part.constraints ?? []).some((n) => n.id === c.id));
  const config: CibConfig = {
    nodes: current.nodes,
    resources: part.resources,
    ...(part.properties === undefined ? {} : { properties: part.properties }),
    ...(part.rscDefaults === undefined ? {} : { rscDefaults: part.rscDefaults }),
    constraints: [...(part.constraints ?? []), ...kept],
  };
  // A move/ban on a resource the file removes would be a dangling reference: drop it with the resource.
  const ids = new Set<string>();
  for (const r of config.resources) {
    ids.add(r.id);
    if (r.kind === 'group') for (const m of r.members) ids.add(m.id);
    if (r.kind === 'clone') ids.add(r.child.id);
  }
  config.constraints = config.constraints!.filter((c) => !isCli(c.id) || (c.kind === 'location' && ids.has(c.rsc)));
  validateConfig(config);
  const diff: string[] = [];
  diffById('resource', current.resources, config.resources, diff);
  diffById('constraint', current.constraints ?? [], config.constraints, diff);
  diffRecord('property', current.properties, config.properties, diff);
  diffRecord('rsc-default', current.rscDefaults, config.rscDefaults, diff);
  return { config, diff, warnings: configWarnings(config) };
}
