/**
 * Reads the CIB's status into what the scheduler needs: which nodes can run resources, where each
 * primitive is active and in which role, which of those are failed, and the effective fail counts
 * (expired failures no longer count). Pure: the current time is an input.
 */
import {
  INFINITY,
  OCF_NOT_RUNNING,
  OCF_RUNNING_PROMOTED,
  OCF_SUCCESS,
  RC_PENDING,
  type Cib,
  type OnFail,
  type OpDefaults,
  type OpRecord,
  type PrimitiveConfig,
  type PrimitiveInfo,
  type ResourceMeta,
  type Role,
} from '../cib/model.js';

export interface NodeView {
  name: string;
  id: string;
  /** Config attributes, transient attributes, #uname and #id. */
  attrs: Record<string, string>;
  online: boolean;
  unclean: boolean;
  standby: boolean;
  /**
   * Per-node maintenance (the node attribute `maintenance`, permanent or transient, as Pacemaker
   * reads it): nothing new is placed here, and what is active here is left exactly as it is.
   */
  maintenance: boolean;
  /** Will be fenced in this transition. */
  fence: boolean;
}

/** A primitive's state on one node, read from its operation history. */
export interface ActiveState {
  node: string;
  role: Exclude<Role, 'Stopped'>;
  failed: boolean;
  /** The configured reaction to the failure (only meaningful when failed). */
  onFail: OnFail;
  /** The last failure was a stop: the resource's state there is unknown until fenced. */
  stopFailed: boolean;
}

export interface PrimitiveState {
  info: PrimitiveInfo;
  meta: Required<Pick<ResourceMeta, 'resourceStickiness' | 'migrationThreshold' | 'failureTimeoutMs' | 'priority' | 'isManaged'>> &
    Pick<ResourceMeta, 'targetRole'>;
  active: ActiveState[];
  /** Effective fail count per node (0 once failure-timeout has passed). */
  failCount: Map<string, number>;
  /**
   * Nothing may be done to it: unmanaged, maintenance, or a failure with on-fail=block. A clone
   * instance's block holds only that instance (see blockedOn); the clone's others carry on.
   */
  blocked: boolean;
  /** A clone's nodes whose instance failed with on-fail=block: nothing may be done there. */
  blockedOn: string[];
  /**
   * Nodes where it runs unmanaged (is-managed=false, maintenance-mode, or a node in
   * maintenance): Pacemaker pins it there with an INFINITY location when it reads the status
   * (native_add_running), and that INFINITY is what resources colocated with it see.
   */
  unmanagedOn: string[];
  /**
   * Cleanly offline nodes whose history (read when fencing is enabled, as Pacemaker does) says
   * it was running there when they left. Nothing runs there now, but like Pacemaker the
   * resource then counts as seen on more than one node, so no node is its single current one
   * and its stickiness does not apply.
   */
  seenOffline: string[];
  /**
   * Nodes, in configuration order, whose history says what the resource's state there is
   * (running or not: a probe counts). Pacemaker trusts a promotion score only from such nodes
   * once the resource has been seen anywhere.
   */
  known: string[];
  /** A failure with on-fail=stop: keep it stopped everywhere. */
  forceStop: boolean;
  /** Nodes where a failure with on-fail=standby is still in the history. */
  standbyOn: string[];
  /** What an operation without its own timeout or on-fail takes. */
  opDefaults: OpDefaults;
}

export interface ClusterView {
  nodes: NodeView[];
  primitives: Map<string, PrimitiveState>;
  stonith: boolean;
  maintenance: boolean;
}

/** Merges meta in pacemaker's order: rsc_defaults, then clone, then group, then the primitive. */
export function effectiveMeta(cib: Cib, info: PrimitiveInfo): PrimitiveState['meta'] {
  const merged: ResourceMeta = {
    ...cib.config.rscDefaults,
    ...info.clone?.meta,
    ...info.group?.meta,
    ...info.primitive.meta,
  };
  return {
    resourceStickiness: merged.resourceStickiness ?? 0,
    migrationThreshold: merged.migrationThreshold ?? INFINITY,
    failureTimeoutMs: merged.failureTimeoutMs ?? 0,
    priority: merged.priority ?? 0,
    isManaged: merged.isManaged ?? true,
    targetRole: merged.targetRole,
  };
}

/** Pacemaker's reading of a boolean attribute (crm_is_true): anything else is false. */
function attrTrue(value: string | undefined): boolean {
  return value !== undefined && ['true', 'on', 'yes', 'y', '1'].includes(value.trim().toLowerCase());
}

export function readNodes(cib: Cib): NodeView[] {
  const stonith = cib.config.properties?.stonithEnabled ?? true;
  return cib.config.nodes.map((n) => {
    const st = cib.status.nodes[n.name];
    const state = st?.state ?? 'online';
    const attrs: Record<string, string> = { ...n.attributes, ...st?.attributes, '#uname': n.name, '#id': n.id };
    return {
      name: n.name,
      id: n.id,
      attrs,
      online: state === 'online',
      unclean: state === 'unclean',
      standby: (n.standby ?? false) || (st?.standby ?? false),
      maintenance: attrTrue(attrs['maintenance']),
      fence: state === 'unclean' && stonith,
    };
  });
}

function onFailFor(p: PrimitiveConfig, op: OpRecord, stonith: boolean, defaults: OpDefaults): OnFail {
  const configured = (p.ops ?? []).find((o) => o.name === op.op && o.intervalMs === op.intervalMs)?.onFail ?? defaults.onFail;
  if (op.op === 'stop') {
    // A failed stop leaves the resource in an unknown state: only fencing makes it safe.
    const fallback: OnFail = stonith ? 'fence' : 'block';
    if (configured === 'fence' && !stonith) return 'block';
    return configured ?? fallback;
  }
  // Pacemaker resets on-fail=fence to stop when fencing is disabled ("not valid when fencing is
  // disabled"): the resource is kept stopped rather than recovered.
  if (configured === 'fence' && !stonith) return 'stop';
  return configured ?? 'restart';
}

/**
 * What the history says about one primitive on one node: its state there (undefined when it is
 * stopped there), and a reaction to an earlier failure that outlives the recovery.
 */
interface History {
  state?: ActiveState;
  /**
   * on-fail=stop or standby: Pacemaker keeps these in force after the resource has stopped, as
   * long as the failure is in the history (until a cleanup or the failure-timeout), so the
   * resource stays stopped (or the node in standby) instead of coming back a transition later.
   */
  lasting?: OnFail;
}

function replayHistory(
  p: PrimitiveConfig,
  ops: OpRecord[],
  nowMs: number,
  failureTimeoutMs: number,
  stonith: boolean,
  node: string,
  defaults: OpDefaults,
): History {
  let role: Role = 'Stopped';
  let failed = false;
  let onFail: OnFail = 'restart';
  let stopFailed = false;
  let lasting: OnFail | undefined;
  const sorted = [...ops].sort((a, b) => a.callId - b.callId || a.timeMs - b.timeMs);
  for (const op of sorted) {
    if (op.rc === RC_PENDING) {
      // In progress: a start or promote may already have taken effect; a stop has not yet.
      if (op.op === 'start' || op.op === 'promote') role = roleAfter(op, role);
      continue;
    }
    const expected = expectedRc(op, role);
    const ok = expected.includes(op.rc);
    // An expired failure is forgotten, as if it had never happened.
    const expired = !ok && failureTimeoutMs > 0 && op.timeMs + failureTimeoutMs <= nowMs;
    if (ok || expired) {
      role = roleAfter(op, role);
      if (op.op === 'start' || op.op === 'stop' || (op.op === 'monitor' && op.intervalMs === 0)) {
        failed = false;
        stopFailed = false;
      }
      continue;
    }
    const reaction = onFailFor(p, op, stonith, defaults);
    if (reaction === 'ignore') {
      continue;
    }
    failed = true;
    onFail = reaction;
    stopFailed = op.op === 'stop';
    if (reaction === 'stop' || reaction === 'standby') lasting = reaction;
    if (role === 'Stopped') role = op.op === 'promote' ? 'Promoted' : 'Started';
  }
  const out: History = lasting === undefined ? {} : { lasting };
  if (role === 'Stopped' && !failed) return out;
  return { ...out, state: { node, role: role === 'Stopped' ? 'Started' : role, failed, onFail, stopFailed } };
}

function expectedRc(op: OpRecord, role: Role): number[] {
  if (op.op === 'monitor') {
    if (op.intervalMs === 0) return [OCF_SUCCESS, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED];
    return role === 'Promoted' ? [OCF_RUNNING_PROMOTED] : [OCF_SUCCESS];
  }
  return [OCF_SUCCESS];
}

function roleAfter(op: OpRecord, role: Role): Role {
  switch (op.op) {
    case 'start':
      return 'Started';
    case 'stop':
      return 'Stopped';
    case 'promote':
      return 'Promoted';
    case 'demote':
      return 'Unpromoted';
    case 'monitor':
      if (op.intervalMs > 0) return role;
      return op.rc === OCF_NOT_RUNNING ? 'Stopped' : op.rc === OCF_RUNNING_PROMOTED ? 'Promoted' : 'Started';
  }
}

/**
 * A fail count from an operation whose on-fail is ignore does not count towards
 * migration-threshold (Pacemaker pretends the failure did not happen). The count belongs to the
 * last failed operation in the history, or to the start when the history no longer shows one.
 */
function ignoredFailure(p: PrimitiveConfig, ops: OpRecord[], stonith: boolean, defaults: OpDefaults): boolean {
  const failed = [...ops]
    .sort((a, b) => b.callId - a.callId)
    .find((o) => o.rc !== OCF_SUCCESS && !(o.op === 'monitor' && o.intervalMs === 0 && (o.rc === OCF_NOT_RUNNING || o.rc === OCF_RUNNING_PROMOTED)));
  const op: OpRecord = failed ?? { op: 'start', intervalMs: 0, rc: 1, timeMs: 0, callId: 0 };
  return onFailFor(p, op, stonith, defaults) === 'ignore';
}

export function readPrimitive(cib: Cib, info: PrimitiveInfo, nodes: NodeView[], nowMs: number): PrimitiveState {
  const stonith = cib.config.properties?.stonithEnabled ?? true;
  const maintenance = cib.config.properties?.maintenanceMode ?? false;
  const meta = effectiveMeta(cib, info);
  const id = info.primitive.id;
  // A failure that blocks (an op configured with on-fail=block, not an op default) never expires:
  // Pacemaker ignores the failure-timeout "because it conflicts with on-fail=block".
  const blockOps = (info.primitive.ops ?? []).filter((o) => o.onFail === 'block');
  const blockFailure = nodes.some((node) => {
    const rs = cib.status.nodes[node.name]?.resources?.[id];
    return (rs?.failCount ?? 0) > 0 && rs!.ops.some((op) => op.rc !== OCF_SUCCESS && op.rc !== RC_PENDING && !(op.op === 'monitor' && op.rc === OCF_RUNNING_PROMOTED) && blockOps.some((o) => o.name === op.op && o.intervalMs === op.intervalMs));
  });
  if (blockFailure) meta.failureTimeoutMs = 0;
  const active: ActiveState[] = [];
  const lasting: { node: string; onFail: OnFail }[] = [];
  const seenOffline: string[] = [];
  const known: string[] = [];
  const failCount = new Map<string, number>();
  for (const node of nodes) {
    const rs = cib.status.nodes[node.name]?.resources?.[id];
    if (rs === undefined) continue;
    if ((node.online || stonith) && rs.ops.some((o) => o.rc !== RC_PENDING)) known.push(node.name);
    const fc = rs.failCount ?? 0;
    const expired = meta.failureTimeoutMs > 0 && rs.lastFailureMs !== undefined && rs.lastFailureMs + meta.failureTimeoutMs <= nowMs;
    // Pacemaker marks the instance that failed as ignoring failures, but the threshold is then
    // checked for whichever clone instance it considers for the node, so a clone is banned anyway.
    const ignored = info.clone === undefined && ignoredFailure(info.primitive, rs.ops, stonith, cib.config.opDefaults ?? {});
    if (fc > 0 && !expired && !ignored) failCount.set(node.name, fc);
    // A cleanly offline node runs nothing; an unclean one may, until it is fenced. Without
    // fencing pacemaker does not read an unclean node's history at all (it is simply down), so a
    // failure there neither counts nor decides a reaction.
    if (!node.online && !node.unclean && stonith) {
      if (replayHistory(info.primitive, rs.ops, nowMs, meta.failureTimeoutMs, stonith, node.name, cib.config.opDefaults ?? {}).state !== undefined) seenOffline.push(node.name);
      continue;
    }
    if (!node.online && !(node.unclean && stonith)) continue;
    const history = replayHistory(info.primitive, rs.ops, nowMs, meta.failureTimeoutMs, stonith, node.name, cib.config.opDefaults ?? {});
    if (history.state !== undefined) active.push(history.state);
    if (history.lasting !== undefined) lasting.push({ node: node.name, onFail: history.lasting });
  }
  // What runs on a node in maintenance is unmanaged there (Pacemaker's maintenance node): a
  // primitive as a whole, since it can move only by stopping there; a clone only that instance.
  const inMaintenance = new Set(nodes.filter((n) => n.maintenance).map((n) => n.name));
  const blockedHere = active.filter((a) => (a.failed && a.onFail === 'block') || inMaintenance.has(a.node)).map((a) => a.node);
  const blockedWhole = blockedHere.length > 0 && info.clone === undefined;
  return {
    info,
    meta,
    active,
    failCount,
    blocked: maintenance || !meta.isManaged || blockedWhole,
    blockedOn: info.clone === undefined ? [] : blockedHere,
    unmanagedOn: active.filter((a) => maintenance || !meta.isManaged || inMaintenance.has(a.node)).map((a) => a.node),
    seenOffline,
    known,
    forceStop: lasting.some((l) => l.onFail === 'stop'),
    standbyOn: lasting.filter((l) => l.onFail === 'standby').map((l) => l.node),
    opDefaults: cib.config.opDefaults ?? {},
  };
}

/** Applies on-fail reactions that change nodes (standby, fence) and builds the view. */
export function readCluster(cib: Cib, infos: PrimitiveInfo[], nowMs: number): ClusterView {
  const nodes = readNodes(cib);
  const stonith = cib.config.properties?.stonithEnabled ?? true;
  const primitives = new Map<string, PrimitiveState>();
  for (const info of infos) primitives.set(info.primitive.id, readPrimitive(cib, info, nodes, nowMs));
  for (const p of primitives.values()) {
    if (p.blocked) continue;
    for (const name of p.standbyOn) if (!p.blockedOn.includes(name)) nodes.find((n) => n.name === name)!.standby = true;
    for (const a of p.active) {
      if (!a.failed || p.blockedOn.includes(a.node)) continue;
      const node = nodes.find((n) => n.name === a.node)!;
      if (a.onFail === 'standby') node.standby = true;
      if (a.onFail === 'fence' && stonith && node.online) {
        node.fence = true;
      }
    }
  }
  return { nodes, primitives, stonith, maintenance: cib.config.properties?.maintenanceMode ?? false };
}

/** A node where resources may be placed now. */
export function canRunResources(n: NodeView): boolean {
  return n.online && !n.unclean && !n.standby && !n.maintenance && !n.fence;
}
