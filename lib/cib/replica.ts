/**
 * One node's replica of the CIB, kept identical on every member by applying changes only as they
 * are delivered in agreed order, and reconciled by a state exchange after every membership change.
 *
 * Takes: change proposals from this node (`propose`), the ordered deliveries of the CIB channel
 * (`onDeliver`, in the order totem delivers them) and every installed view (`onView`).
 * Emits (via `takeOutput()`): messages to broadcast in agreed order, the CIB to persist, 'changed'
 * events with the new version, and the outcome of each of this node's own requests.
 * Must never: read a clock, do I/O, set a timer, or change the CIB other than on a delivery — a
 * proposal that was validated locally is still only a proposal until it comes back in order.
 *
 * Driver contract, every turn: feed one input, call `takeOutput()`, then IN THIS ORDER persist
 * `persist` durably, broadcast `sends`, and only then report `changed` and `outcomes`. Reporting
 * after persisting is what lets "updateCib resolved" mean "this node's disk has it".
 *
 * The state exchange (docs/cib.md): on a view of several members every member broadcasts its
 * version and a digest of its contents, tagged with the view id. Once the announcement of every
 * member has been delivered, either all agree (nothing to do) or the member with the newest
 * version (admin_epoch, epoch, num_updates; ties go to the lowest node id) broadcasts its whole
 * CIB and everyone adopts it when it is delivered. Changes delivered while the exchange is pending
 * are held and applied right after it, in delivery order; every member holds the same ones
 * (agreed order), so every member ends the same. If another view comes first, the held changes
 * are dropped by every member that delivered them (virtual synchrony: those that move on together
 * delivered the same ones) and their proposers send them again, to be judged against the CIB the
 * next exchange settles on.
 */
import { createHash } from 'node:crypto';
import type { NodeId, SafeMark, View, ViewId } from '../totem/types.js';
import {
  compareVersions,
  listPrimitives,
  withConfig,
  withStatus,
  type Cib,
  type CibConfig,
  type CibStatus,
  type ClusterProperties,
  type Constraint,
  type NodeState,
  type NodeStatus,
  type OpRecord,
  type ResourceConfig,
  type ResourceStatus,
} from './model.js';
import { CibError, validateConfig, validateStatus } from './validate.js';

export interface CibVersion {
  readonly adminEpoch: number;
  readonly epoch: number;
  readonly numUpdates: number;
}

/**
 * One change to the CIB. Configuration changes bump epoch and reset num_updates; status changes
 * (the last four) bump num_updates; `bump-admin-epoch` bumps admin_epoch, an administrator's
 * "this configuration wins" before healing a partition. Node names (not ids) address nodes, as
 * the status section does. `null` removes a value.
 */
export type CibChange =
  | { readonly op: 'replace-config'; readonly config: CibConfig }
  /** Adds a top-level resource, or replaces the one with the same id in place. */
  | { readonly op: 'set-resource'; readonly resource: ResourceConfig }
  /** Removes a top-level resource (and its status); constraints on it must be removed first. */
  | { readonly op: 'remove-resource'; readonly id: string }
  | { readonly op: 'set-constraint'; readonly constraint: Constraint }
  | { readonly op: 'remove-constraint'; readonly id: string }
  | { readonly op: 'set-node-attribute'; readonly node: string; readonly name: string; readonly value: string | null }
  | { readonly op: 'set-standby'; readonly node: string; readonly standby: boolean }
  | { readonly op: 'set-property'; readonly name: keyof ClusterProperties; readonly value: ClusterProperties[keyof ClusterProperties] | null }
  | { readonly op: 'bump-admin-epoch' }
  /** Records an operation result; it replaces the earlier record of the same op and interval. */
  | { readonly op: 'record-op'; readonly node: string; readonly resource: string; readonly record: OpRecord }
  | { readonly op: 'set-fail-count'; readonly node: string; readonly resource: string; readonly failCount: number; readonly lastFailureMs?: number }
  | { readonly op: 'clear-fail-count'; readonly node: string; readonly resource: string }
  | { readonly op: 'set-node-state'; readonly node: string; readonly state: NodeState }
  /**
   * Forgets a node's operation history and marks it offline: the coordinator's word that the
   * node has run nothing since its self-stop deadline passed (pacemaker erases a lost node's
   * resource history the same way). The node probes afresh when it comes back.
   */
  | { readonly op: 'clear-node-resources'; readonly node: string }
  /** Run-time standby (crm_standby --lifetime reboot), kept in the status section: a graceful leave uses it. */
  | { readonly op: 'set-node-standby'; readonly node: string; readonly standby: boolean }
  /**
   * Renames the node with this id everywhere the CIB names it (node list, status, location
   * constraints): a node whose CIB entry still has the placeholder name `node-<id>` gives the
   * cluster the name it was configured with.
   */
  | { readonly op: 'set-node-name'; readonly id: string; readonly name: string };

/** The CIB channel's messages. Kinds (`t`) are append-only: a released one never changes meaning. */
export type CibMessage =
  /**
   * `seq`/`rep`: the view the change was proposed in. It is applied only if it is delivered in
   * that view: a change queued in a quorate view and carried into the next one (a minority, say)
   * must not change that view's copy. Every member delivers it in the same view, so every member
   * decides alike; the proposer is told to propose again (outcome `retry`).
   */
  | { readonly t: 'change'; readonly id: string; readonly change: CibChange; readonly seq?: number; readonly rep?: number }
  /** `ring`: the copy's lastWriteRing (0 for none). */
  | { readonly t: 'announce'; readonly seq: number; readonly rep: number; readonly version: CibVersion; readonly ring: number; readonly digest: string }
  | { readonly t: 'sync'; readonly seq: number; readonly rep: number; readonly cib: Cib };

export type CibOutcome =
  /**
   * `at`: the delivery that applied it (for a held change, the one that ended the exchange).
   * Applied here is not yet durable: the driver acknowledges it once every member holds that
   * delivery (docs/cib.md, "When a write is acknowledged").
   */
  | { readonly requestId: string; readonly ok: true; readonly version: CibVersion; readonly at: SafeMark | undefined }
  /** `retry`: not judged at all — the membership changed before it was ordered; propose it again if still wanted. */
  | { readonly requestId: string; readonly ok: false; readonly error: CibError; readonly retry?: boolean };

export interface CibChangedEvent {
  readonly version: CibVersion;
  /** 'change': a delivered change was applied; 'sync': the state exchange replaced this copy. */
  readonly cause: 'change' | 'sync';
  /** The proposer (for 'change') or the member whose copy was adopted (for 'sync'). */
  readonly from: NodeId;
  readonly requestId?: string;
  readonly change?: CibChange;
}

export interface CibReplicaOutput {
  /** Broadcast each, in this order, on the CIB channel. */
  readonly sends: readonly CibMessage[];
  /** When set: store it durably BEFORE reporting `changed` and `outcomes`. */
  readonly persist: Cib | undefined;
  readonly changed: readonly CibChangedEvent[];
  /** Only for requests this replica proposed. */
  readonly outcomes: readonly CibOutcome[];
}

export interface CibReplicaOptions {
  readonly nodeId: NodeId;
  /** Distinguishes this run's request ids from an earlier run's (the totem incarnation). */
  readonly session: number;
  /** The CIB this node starts from: its persisted copy, or an initial configuration at 0.0.0. */
  readonly initial: Cib;
}

interface Exchange {
  readonly viewId: ViewId;
  readonly members: readonly NodeId[];
  readonly announced: Map<NodeId, { version: CibVersion; ring: number; digest: string }>;
  /** Set once every member has announced and the copies differ: whose copy to adopt. */
  winner: NodeId | undefined;
}

type ChangeMessage = Extract<CibMessage, { t: 'change' }>;

export function versionOf(cib: Cib): CibVersion {
  return { adminEpoch: cib.adminEpoch, epoch: cib.epoch, numUpdates: cib.numUpdates };
}

export function formatVersion(v: CibVersion): string {
  return `${v.adminEpoch}.${v.epoch}.${v.numUpdates}`;
}

export class CibReplica {
  private readonly nodeId: NodeId;
  private readonly session: number;
  private cib: Cib;
  private view: View | undefined;
  private exchange: Exchange | undefined;
  private held: { from: NodeId; message: ChangeMessage }[] = [];
  /** This node's requests that have not come back in order yet, by request id. */
  private readonly pending = new Map<string, ChangeMessage>();
  private nextRequest = 1;
  private ignoredMessages = 0;
  /** The delivery being handled (see CibOutcome's `at`). */
  private deliveryAt: SafeMark | undefined;

  private sends: CibMessage[] = [];
  private persist: Cib | undefined;
  private changed: CibChangedEvent[] = [];
  private outcomes: CibOutcome[] = [];

  constructor(options: CibReplicaOptions) {
    this.nodeId = options.nodeId;
    this.session = options.session;
    checkWholeCib(options.initial, 'initial');
    this.cib = options.initial;
  }

  get current(): Cib {
    return this.cib;
  }

  get version(): CibVersion {
    return versionOf(this.cib);
  }

  /** A view is installed and its state exchange has finished: this copy is the group's copy. */
  get synced(): boolean {
    return this.view !== undefined && this.exchange === undefined;
  }

  /** Deliveries ignored as malformed, stale (another view's exchange) or duplicated. */
  get ignored(): number {
    return this.ignoredMessages;
  }

  /**
   * Validates `change` against the current CIB and returns the message to broadcast in agreed
   * order; throws a CibError (SANODE_INVALID_CIB) naming the problem, and then nothing is sent.
   * Passing here is not acceptance: the change is judged again when it is delivered, against
   * whatever was applied before it, and the outcome for `requestId` comes out of takeOutput().
   */
  propose(change: CibChange): { requestId: string; message: CibMessage } {
    // A copy: the caller may reuse its object, and the CIB must never share it.
    const copy = structuredClone(change);
    applyChange(this.cib, copy);
    const requestId = `${this.nodeId}:${this.session}:${this.nextRequest++}`;
    const view = this.view?.id;
    const message: ChangeMessage = view === undefined ? { t: 'change', id: requestId, change: copy } : { t: 'change', id: requestId, change: copy, seq: view.seq, rep: view.rep };
    this.pending.set(requestId, message);
    return { requestId, message };
  }

  /** The driver could not broadcast the request: forget it (no outcome will come). */
  forget(requestId: string): void {
    this.pending.delete(requestId);
  }

  onView(view: View): void {
    if (this.view !== undefined && sameViewId(this.view.id, view.id)) return;
    this.view = view;
    if (this.exchange !== undefined) this.dropHeld();
    if (view.members.length <= 1) {
      // Alone, this copy is the group's copy; there is nobody to exchange with.
      this.exchange = undefined;
      return;
    }
    this.exchange = { viewId: view.id, members: [...view.members], announced: new Map(), winner: undefined };
    this.sends.push({ t: 'announce', seq: view.id.seq, rep: view.id.rep, version: this.version, ring: this.cib.lastWriteRing ?? 0, digest: digestOf(this.cib) });
  }

  /** `at`: where totem placed this delivery (its ring and seq), to date the outcomes it settles. */
  onDeliver(from: NodeId, body: unknown, at?: SafeMark): void {
    this.deliveryAt = at;
    const message = parseCibMessage(body);
    if (message === undefined) {
      this.ignoredMessages++;
      return;
    }
    switch (message.t) {
      case 'change':
        if (this.exchange !== undefined) this.held.push({ from, message });
        else this.applyDelivered(from, message);
        return;
      case 'announce':
        return this.onAnnounce(from, message);
      case 'sync':
        return this.onSync(from, message);
    }
  }

  takeOutput(): CibReplicaOutput {
    const out: CibReplicaOutput = { sends: this.sends, persist: this.persist, changed: this.changed, outcomes: this.outcomes };
    this.sends = [];
    this.persist = undefined;
    this.changed = [];
    this.outcomes = [];
    return out;
  }

  private onAnnounce(from: NodeId, message: Extract<CibMessage, { t: 'announce' }>): void {
    const ex = this.exchange;
    // An announcement queued in an earlier view can be delivered in a later one: the tag says
    // which exchange it belongs to.
    if (ex === undefined || !sameViewId(ex.viewId, message) || !ex.members.includes(from) || ex.announced.has(from) || ex.winner !== undefined) {
      this.ignoredMessages++;
      return;
    }
    ex.announced.set(from, { version: message.version, ring: message.ring, digest: message.digest });
    if (ex.announced.size < ex.members.length) return;
    let best: NodeId | undefined;
    let agree = true;
    const first = ex.announced.get(ex.members[0]!)!;
    // Members are sorted ascending, so keeping the first of equals gives ties to the lowest id.
    for (const member of ex.members) {
      const a = ex.announced.get(member)!;
      if (a.digest !== first.digest || compareCopies(a, first) !== 0) agree = false;
      if (best === undefined || compareCopies(a, ex.announced.get(best)!) > 0) best = member;
    }
    if (agree) return this.finishExchange(undefined);
    ex.winner = best;
    if (best === this.nodeId) this.sends.push({ t: 'sync', seq: ex.viewId.seq, rep: ex.viewId.rep, cib: this.cib });
  }

  private onSync(from: NodeId, message: Extract<CibMessage, { t: 'sync' }>): void {
    const ex = this.exchange;
    if (ex === undefined || ex.winner !== from || !sameViewId(ex.viewId, message)) {
      this.ignoredMessages++;
      return;
    }
    let adopted: Cib | undefined = message.cib;
    try {
      checkWholeCib(adopted, 'sync');
    } catch {
      // Every member judges the same bytes the same way, so all keep their own copies alike;
      // only a faulty member sends an invalid CIB.
      this.ignoredMessages++;
      adopted = undefined;
    }
    this.finishExchange(adopted === undefined ? undefined : { cib: adopted, from });
  }

  private finishExchange(adopt: { cib: Cib; from: NodeId } | undefined): void {
    this.exchange = undefined;
    if (adopt !== undefined && (compareVersions(adopt.cib, this.cib) !== 0 || adopt.cib.lastWriteRing !== this.cib.lastWriteRing || digestOf(adopt.cib) !== digestOf(this.cib))) {
      this.cib = adopt.cib;
      this.persist = this.cib;
      this.changed.push({ version: this.version, cause: 'sync', from: adopt.from });
    }
    const held = this.held;
    this.held = [];
    for (const h of held) this.applyDelivered(h.from, h.message);
  }

  /** The exchange these were held for will never finish; see the module comment. */
  private dropHeld(): void {
    const held = this.held;
    this.held = [];
    for (const h of held) {
      if (h.from === this.nodeId && this.pending.delete(h.message.id)) this.outcomes.push(retryOutcome(h.message.id));
    }
  }

  private applyDelivered(from: NodeId, message: ChangeMessage): void {
    const mine = from === this.nodeId && this.pending.delete(message.id);
    const view = this.view?.id;
    if (message.seq !== undefined && (view === undefined || view.seq !== message.seq || view.rep !== message.rep)) {
      this.ignoredMessages++;
      if (mine) this.outcomes.push(retryOutcome(message.id));
      return;
    }
    let next: Cib;
    try {
      next = applyChange(this.cib, message.change);
    } catch (error) {
      if (mine) this.outcomes.push({ requestId: message.id, ok: false, error: asCibError(error) });
      return;
    }
    if (view !== undefined) next.lastWriteRing = view.seq;
    this.cib = next;
    this.persist = next;
    this.changed.push({ version: this.version, cause: 'change', from, requestId: message.id, change: message.change });
    if (mine) this.outcomes.push({ requestId: message.id, ok: true, version: this.version, at: this.deliveryAt });
  }
}

/**
 * The CIB after `change`, or a CibError naming the problem. Pure: `cib` is not modified, and the
 * result is fully validated (configuration and status), so a replica never holds a CIB it would
 * refuse to load from disk.
 */
export function applyChange(cib: Cib, change: CibChange): Cib {
  if (typeof change !== 'object' || change === null) throw new CibError(undefined, 'change', "must be an object { op: 'set-resource', ... }");
  const c = change as CibChange & Record<string, unknown>;
  const config = cib.config;
  switch (c.op) {
    case 'replace-config':
      mustBeObject(c.config, 'change.config', '{ nodes, resources, constraints }');
      return configChange(cib, c.config);
    case 'set-resource': {
      mustBeObject(c.resource, 'change.resource', "{ kind: 'primitive', id, agent }");
      const id = c.resource.id;
      const at = config.resources.findIndex((r) => r.id === id);
      const resources = at < 0 ? [...config.resources, c.resource] : config.resources.map((r, i) => (i === at ? c.resource : r));
      return configChange(cib, { ...config, resources });
    }
    case 'remove-resource': {
      if (!config.resources.some((r) => r.id === c.id)) {
        throw new CibError(stringOr(c.id), 'change.id', 'no top-level resource has this id; to remove a group member or clone child, replace its parent with set-resource');
      }
      return configChange(cib, { ...config, resources: config.resources.filter((r) => r.id !== c.id) });
    }
    case 'set-constraint': {
      mustBeObject(c.constraint, 'change.constraint', "{ kind: 'location' | 'colocation' | 'order', id, ... }");
      const list = config.constraints ?? [];
      const at = list.findIndex((x) => x.id === c.constraint.id);
      const constraints = at < 0 ? [...list, c.constraint] : list.map((x, i) => (i === at ? c.constraint : x));
      return configChange(cib, { ...config, constraints });
    }
    case 'remove-constraint': {
      const list = config.constraints ?? [];
      if (!list.some((x) => x.id === c.id)) throw new CibError(stringOr(c.id), 'change.id', 'no constraint has this id');
      return configChange(cib, { ...config, constraints: list.filter((x) => x.id !== c.id) });
    }
    case 'set-node-attribute': {
      const index = configNodeIndex(config, c.node);
      if (typeof c.name !== 'string' || c.name === '') throw new CibError(c.node, 'change.name', 'must name the attribute');
      if (c.value !== null && c.value !== undefined && typeof c.value !== 'string') {
        throw new CibError(c.node, 'change.value', 'attribute values are strings; null removes the attribute');
      }
      const nodes = config.nodes.map((n, i) => {
        if (i !== index) return n;
        const attributes = { ...n.attributes };
        if (c.value === null || c.value === undefined) delete attributes[c.name];
        else attributes[c.name] = c.value;
        const { attributes: _old, ...rest } = n;
        void _old;
        return Object.keys(attributes).length === 0 ? rest : { ...rest, attributes };
      });
      return configChange(cib, { ...config, nodes });
    }
    case 'set-standby': {
      const index = configNodeIndex(config, c.node);
      if (typeof c.standby !== 'boolean') throw new CibError(c.node, 'change.standby', 'must be true or false');
      return configChange(cib, { ...config, nodes: config.nodes.map((n, i) => (i === index ? { ...n, standby: c.standby } : n)) });
    }
    case 'set-property': {
      const names: (keyof ClusterProperties)[] = ['noQuorumPolicy', 'maintenanceMode', 'stonithEnabled', 'symmetricCluster'];
      if (!names.includes(c.name)) throw new CibError(undefined, 'change.name', `must be one of ${names.join(', ')} (got ${JSON.stringify(c.name)})`);
      const properties: Record<string, unknown> = { ...config.properties };
      if (c.value === null || c.value === undefined) delete properties[c.name];
      else properties[c.name] = c.value;
      return configChange(cib, { ...config, properties: properties as ClusterProperties });
    }
    case 'bump-admin-epoch':
      return { ...cib, adminEpoch: cib.adminEpoch + 1 };
    case 'record-op':
      mustBeObject(c.record, 'change.record', '{ op, intervalMs, rc, timeMs, callId }');
      return resourceStatusChange(cib, c.node, c.resource, (rs) => ({
        ...rs,
        // One record per operation and interval, as pacemaker keeps one lrm_rsc_op per key: the
        // history stays bounded, and replaying by callId still gives the latest state.
        ops: [...rs.ops.filter((o) => o.op !== c.record.op || o.intervalMs !== c.record.intervalMs), c.record],
      }));
    case 'set-fail-count':
      return resourceStatusChange(cib, c.node, c.resource, (rs) => {
        const next: ResourceStatus = { ...rs, failCount: c.failCount };
        if (c.lastFailureMs !== undefined) next.lastFailureMs = c.lastFailureMs;
        return next;
      });
    case 'clear-fail-count':
      return resourceStatusChange(cib, c.node, c.resource, (rs) => {
        const { failCount: _f, lastFailureMs: _l, ...rest } = rs;
        void _f;
        void _l;
        return rest;
      });
    case 'set-node-state': {
      const status = nodeStatusChange(cib, c.node, (ns) => ({ ...ns, state: c.state }));
      return statusChange(cib, status);
    }
    case 'set-node-standby': {
      if (typeof c.standby !== 'boolean') throw new CibError(c.node, 'change.standby', 'must be true or false');
      const status = nodeStatusChange(cib, c.node, (ns) => ({ ...ns, standby: c.standby }));
      return statusChange(cib, status);
    }
    case 'set-node-name': {
      const index = config.nodes.findIndex((n) => n.id === c.id);
      if (index < 0) throw new CibError(stringOr(c.id), 'change.id', `no node has this id (${config.nodes.map((n) => n.id).join(', ') || 'none configured'})`);
      if (typeof c.name !== 'string' || c.name === '') throw new CibError(stringOr(c.id), 'change.name', 'must be the new node name');
      const old = config.nodes[index]!.name;
      if (old === c.name) return cib;
      if (config.nodes.some((n) => n.name === c.name)) throw new CibError(c.name, 'change.name', 'another node already has this name');
      const rename = (name: string | undefined): string | undefined => (name === old ? c.name : name);
      const constraints = (config.constraints ?? []).map((x) => (x.kind === 'location' && x.node === old ? { ...x, node: c.name } : x));
      const renamed: CibConfig = { ...config, nodes: config.nodes.map((n, i) => (i === index ? { ...n, name: c.name } : n)), ...(config.constraints === undefined ? {} : { constraints }) };
      const nodes: Record<string, NodeStatus> = {};
      for (const [name, ns] of Object.entries(cib.status.nodes)) nodes[rename(name)!] = ns;
      validateConfig(renamed);
      return withConfig({ ...cib, status: { nodes } }, renamed);
    }
    case 'clear-node-resources': {
      const status = nodeStatusChange(cib, c.node, (ns) => {
        const { resources: _forgotten, ...rest } = ns;
        return { ...rest, state: 'offline' };
      });
      return statusChange(cib, status);
    }
    default:
      throw new CibError(undefined, 'change.op', `unknown change ${JSON.stringify((c as { op?: unknown }).op)}; see CibChange for the list (set-resource, set-constraint, replace-config, ...)`);
  }
}

/** Validates a configuration change, drops the status of what it removed, and bumps epoch. */
function configChange(cib: Cib, config: CibConfig): Cib {
  validateConfig(config);
  return withConfig({ ...cib, status: pruneStatus(cib.status, config) }, config);
}

function statusChange(cib: Cib, status: CibStatus): Cib {
  validateStatus(status, cib.config);
  return withStatus(cib, status);
}

/**
 * Status of nodes and primitives the configuration no longer has would make the CIB invalid; the
 * scheduler cannot act on it either, so it goes with them (stop a resource before removing it).
 */
function pruneStatus(status: CibStatus, config: CibConfig): CibStatus {
  const names = new Set(config.nodes.map((n) => n.name));
  const primitives = new Set(listPrimitives(config).map((i) => i.primitive.id));
  const nodes: Record<string, NodeStatus> = {};
  for (const [name, ns] of Object.entries(status.nodes)) {
    if (!names.has(name)) continue;
    if (ns.resources === undefined) {
      nodes[name] = ns;
      continue;
    }
    const resources: Record<string, ResourceStatus> = {};
    for (const [rsc, rs] of Object.entries(ns.resources)) if (primitives.has(rsc)) resources[rsc] = rs;
    nodes[name] = { ...ns, resources };
  }
  return { nodes };
}

function configNodeIndex(config: CibConfig, node: unknown): number {
  const index = config.nodes.findIndex((n) => n.name === node);
  if (index < 0) throw new CibError(stringOr(node), 'change.node', `unknown node; use a name from nodes[] (${config.nodes.map((n) => n.name).join(', ') || 'none configured'})`);
  return index;
}

function nodeStatusChange(cib: Cib, node: unknown, update: (ns: NodeStatus) => NodeStatus): CibStatus {
  configNodeIndex(cib.config, node);
  const name = node as string;
  // A node without a status entry counts as online with nothing running (model.ts).
  const current = cib.status.nodes[name] ?? { state: 'online' };
  return { nodes: { ...cib.status.nodes, [name]: update(current) } };
}

function resourceStatusChange(cib: Cib, node: unknown, resource: unknown, update: (rs: ResourceStatus) => ResourceStatus): Cib {
  if (typeof resource !== 'string' || !listPrimitives(cib.config).some((i) => i.primitive.id === resource)) {
    throw new CibError(stringOr(resource), 'change.resource', 'unknown primitive; status is kept per primitive id (clone instances use their primitive id)');
  }
  const status = nodeStatusChange(cib, node, (ns) => {
    const rs = ns.resources?.[resource] ?? { ops: [] };
    return { ...ns, resources: { ...ns.resources, [resource]: update(rs) } };
  });
  return statusChange(cib, status);
}

function mustBeObject(v: unknown, field: string, shape: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CibError(undefined, field, `must be an object ${shape} (got ${JSON.stringify(v)})`);
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function asCibError(error: unknown): CibError {
  if (error instanceof CibError) return error;
  // Deterministic on every member (same code, same input), so still an identical rejection.
  return new CibError(undefined, 'change', `could not be applied: ${(error as Error)?.message ?? String(error)}`);
}

/** Counters, configuration and status of a whole CIB (from disk or from another member). */
export function checkWholeCib(cib: unknown, field: string): asserts cib is Cib {
  mustBeObject(cib, field, '{ adminEpoch, epoch, numUpdates, config, status }');
  const c = cib as Record<string, unknown>;
  for (const name of ['adminEpoch', 'epoch', 'numUpdates']) {
    if (!Number.isSafeInteger(c[name]) || (c[name] as number) < 0) throw new CibError(undefined, `${field}.${name}`, 'must be a non-negative integer');
  }
  if (c['lastWriteRing'] !== undefined && (!Number.isSafeInteger(c['lastWriteRing']) || (c['lastWriteRing'] as number) < 0)) {
    throw new CibError(undefined, `${field}.lastWriteRing`, 'must be a non-negative integer (a ring seq), or absent');
  }
  mustBeObject(c['config'], `${field}.config`, '{ nodes, resources, constraints }');
  validateConfig(c['config'] as CibConfig);
  validateStatus(c['status'] as CibStatus, c['config'] as CibConfig);
}

/**
 * Which announced copy the exchange keeps: the administrator's admin_epoch first, then the copy
 * written in the newest ring, then the newest version (docs/cib.md, "Which copy wins"). Two copies
 * last written in one ring are prefixes of that ring's agreed order, so there the longer wins.
 */
function compareCopies(a: { version: CibVersion; ring: number }, b: { version: CibVersion; ring: number }): number {
  return a.version.adminEpoch - b.version.adminEpoch || a.ring - b.ring || a.version.epoch - b.version.epoch || a.version.numUpdates - b.version.numUpdates;
}

function sameViewId(a: ViewId, b: { seq: number; rep: number }): boolean {
  return a.seq === b.seq && a.rep === b.rep;
}

/**
 * A digest of the contents, independent of key order. Two partitions can reach the same version
 * with different changes; the version alone would call them equal.
 */
export function digestOf(cib: Cib): string {
  return createHash('sha256').update(canonicalJson({ config: cib.config, status: cib.status })).digest('hex').slice(0, 32);
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function retryOutcome(requestId: string): CibOutcome {
  return { requestId, ok: false, retry: true, error: new CibError(undefined, 'change', 'the membership changed before the change was ordered; propose it again') };
}

function isVersion(v: unknown): v is CibVersion {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return Number.isSafeInteger(r['adminEpoch']) && Number.isSafeInteger(r['epoch']) && Number.isSafeInteger(r['numUpdates']);
}

/**
 * Checks the envelope of a decoded message (a member may run another version). The contents of a
 * change or a synced CIB are judged later, the same way on every member.
 */
export function parseCibMessage(body: unknown): CibMessage | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const m = body as Record<string, unknown>;
  switch (m['t']) {
    case 'change':
      if (typeof m['id'] !== 'string' || typeof m['change'] !== 'object' || m['change'] === null) return undefined;
      if (Number.isSafeInteger(m['seq']) && Number.isSafeInteger(m['rep'])) return { t: 'change', id: m['id'], change: m['change'] as CibChange, seq: m['seq'] as number, rep: m['rep'] as number };
      return { t: 'change', id: m['id'], change: m['change'] as CibChange };
    case 'announce':
      if (!Number.isSafeInteger(m['seq']) || !Number.isSafeInteger(m['rep']) || !isVersion(m['version']) || typeof m['digest'] !== 'string') return undefined;
      if (!Number.isSafeInteger(m['ring']) || (m['ring'] as number) < 0) return undefined;
      return { t: 'announce', seq: m['seq'] as number, rep: m['rep'] as number, version: m['version'], ring: m['ring'] as number, digest: m['digest'] };
    case 'sync':
      if (!Number.isSafeInteger(m['seq']) || !Number.isSafeInteger(m['rep']) || typeof m['cib'] !== 'object' || m['cib'] === null) return undefined;
      return { t: 'sync', seq: m['seq'] as number, rep: m['rep'] as number, cib: m['cib'] as Cib };
    default:
      return undefined;
  }
}
