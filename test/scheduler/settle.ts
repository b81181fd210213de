/**
 * Runs sanode's scheduler to a fixed point: every action of a transition is taken to succeed and
 * written into the status as the controller would record it, then the scheduler plans again on
 * that status, until a transition changes nothing. A live cluster does exactly this after every
 * transition, so only the settled placement says where resources end up; and a scheduler that
 * never settles restarts resources forever.
 */
import { OCF_NOT_RUNNING, listPrimitives, type Cib, type NodeStatus, type OpRecord, type ResourceStatus } from '../../lib/cib/model.js';
import { schedule, type Action, type ScheduleResult } from '../../lib/scheduler/index.js';

/** The CIB after every action of `actions` succeeded, in list order. */
export function executeActions(cib: Cib, actions: readonly Action[], nowMs: number): Cib {
  const nodes: Record<string, NodeStatus> = {};
  let callId = 0;
  for (const [name, st] of Object.entries(cib.status.nodes)) {
    const resources: Record<string, ResourceStatus> = {};
    for (const [rsc, rs] of Object.entries(st.resources ?? {})) {
      resources[rsc] = { ...rs, ops: [...rs.ops] };
      for (const op of rs.ops) callId = Math.max(callId, op.callId);
    }
    nodes[name] = { ...st, resources };
  }
  const nodeStatus = (name: string): NodeStatus => (nodes[name] ??= { state: 'online', resources: {} });
  for (const a of actions) {
    const st = nodeStatus(a.node);
    if (a.kind === 'fence') {
      // A fenced node is down, its history and transient attributes gone (crm_simulate does the same).
      nodes[a.node] = { state: 'offline', resources: {}, ...(st.standby === true ? { standby: true } : {}) };
      continue;
    }
    if (a.kind === 'monitor' || a.rsc === undefined) continue;
    const rs = (st.resources![a.rsc] ??= { ops: [] });
    const op: OpRecord = { op: a.kind, intervalMs: 0, rc: 0, timeMs: nowMs, callId: ++callId };
    rs.ops.push(op);
  }
  // An online node has probed every resource (a sanode node does before it goes online; Pacemaker
  // probes in its first transition): where there is no history yet, it says "not running".
  for (const n of cib.config.nodes) {
    const st = nodeStatus(n.name);
    if (st.state !== 'online') continue;
    for (const { primitive } of listPrimitives(cib.config)) {
      st.resources ??= {};
      st.resources[primitive.id] ??= { ops: [{ op: 'monitor', intervalMs: 0, rc: OCF_NOT_RUNNING, timeMs: nowMs, callId: ++callId }] };
    }
  }
  return { ...cib, numUpdates: cib.numUpdates + 1, status: { nodes } };
}

export interface Settled {
  result: ScheduleResult;
  /** Transitions run before one changed nothing (1: the first plan was already settled). */
  rounds: number;
  converged: boolean;
  /** Resources placed by a tie-break in any round. */
  ties: string[];
  cib: Cib;
}

/** A transition that only (re)arms recurring monitors changes nothing about what runs where. */
export function changesSomething(actions: readonly Action[]): boolean {
  return actions.some((a) => a.kind !== 'monitor');
}

export function settleSanode(cib: Cib, quorate: boolean, nowMs: number, maxRounds = 8): Settled {
  let current = cib;
  const ties = new Set<string>();
  for (let round = 1; ; round++) {
    const result = schedule(current, { quorate, nowMs });
    for (const t of result.ties) ties.add(t);
    if (!changesSomething(result.actions)) return { result, rounds: round, converged: true, ties: [...ties].sort(), cib: current };
    if (round >= maxRounds) return { result, rounds: round, converged: false, ties: [...ties].sort(), cib: current };
    current = executeActions(current, result.actions, nowMs);
  }
}
