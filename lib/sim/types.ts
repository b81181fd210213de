/**
 * Shared vocabulary of the simulator: what the checkers observe, what a violation looks like.
 */
import type { Cib } from '../cib/model.js';
import type { Delivery, NodeId, TotemStatus, View, ViewId } from '../totem/types.js';

/**
 * One fact the harness reports to the checkers. Checkers see exactly this stream, in the order
 * the simulated nodes produced it; they never look inside a core.
 */
export type Observation =
  | { readonly type: 'start'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number }
  /** The node stopped its resources on its own (SANODE_SELF_STOP: it lost quorum or its lease). */
  | { readonly type: 'self-stop'; readonly timeUs: number; readonly node: NodeId; readonly reason: string }
  /** `leaveCutShort`: the node was leaving gracefully and had not finished (no 'left' yet). */
  | { readonly type: 'crash'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number; readonly leaveCutShort?: boolean }
  | {
      readonly type: 'broadcast';
      readonly timeUs: number;
      readonly node: NodeId;
      readonly incarnation: number;
      readonly msgId: number;
      readonly payload: Uint8Array;
    }
  | { readonly type: 'view'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number; readonly view: View }
  | {
      readonly type: 'deliver';
      readonly timeUs: number;
      readonly node: NodeId;
      readonly incarnation: number;
      readonly delivery: Delivery;
    }
  /** The node's quorum decision for its current view changed (or it installed a new view). */
  | {
      readonly type: 'quorum';
      readonly timeUs: number;
      readonly node: NodeId;
      readonly incarnation: number;
      readonly view: View;
      readonly quorate: boolean;
      readonly reason: string;
    }
  /** The node's idea of the current term (epoch, coordinator) changed; undefined when not quorate. */
  | {
      readonly type: 'term';
      readonly timeUs: number;
      readonly node: NodeId;
      readonly incarnation: number;
      readonly epoch: number;
      readonly coordinator: NodeId;
    }
  | { readonly type: 'leader-start'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number; readonly epoch: number }
  | {
      readonly type: 'leader-stop';
      readonly timeUs: number;
      readonly node: NodeId;
      readonly incarnation: number;
      readonly epoch: number;
      readonly reason: string;
    }
  /** The world model (lib/sim/resources.ts): a resource really became active or inactive on a node. */
  | { readonly type: 'rsc-active'; readonly timeUs: number; readonly node: NodeId; readonly rsc: string; readonly active: boolean; readonly why: string }
  /** A node reported the result of an operation it ran (every op, probes as monitor interval 0). */
  | { readonly type: 'resource-op'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number; readonly rsc: string; readonly op: string; readonly intervalMs: number; readonly rc: number }
  /** A CIB write of the simulated operator was acknowledged to it (applied in agreed order and persisted there). */
  | { readonly type: 'cib-ack'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number; readonly attribute: string }
  /** A graceful leave begins; `resources`: what the node believes it runs. */
  /** `disturbed`: a partition or cut, or a frozen node, was in effect as the leave began. */
  | { readonly type: 'leave'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number; readonly resources: readonly string[]; readonly disturbed: boolean }
  /** A fault other than a graceful leave was injected (partition, cut, crash, pause). */
  | { readonly type: 'fault'; readonly timeUs: number; readonly what: string };

/** What the checkers are told when the liveness phase ends. */
export interface EndState {
  readonly timeUs: number;
  /** View changes at or after this time break the stability requirement. */
  readonly stableFromUs: number;
  /** Every node that is up (not crashed) at the end, in ascending id order. */
  readonly live: readonly LiveNode[];
  /** Where resources really run at the end (the world model). */
  readonly world?: readonly { readonly node: NodeId; readonly rsc: string }[];
  /** The configured primitives, with the members of their group in order. */
  readonly primitives?: readonly { readonly id: string; readonly group: readonly string[] | undefined }[];
}

export interface LiveNode {
  readonly node: NodeId;
  readonly incarnation: number;
  readonly status: TotemStatus;
  readonly quorate?: boolean;
  /** This node's CIB copy at the end: version, content digest and the CIB itself. */
  readonly cib?: { readonly version: string; readonly digest: string; readonly cib: Cib };
  /** The CIB's name for this node. */
  readonly name?: string | undefined;
  /** This run of the node has probed and been recorded online (LocalResources.hasProbed). */
  readonly probed?: boolean;
}

/** Bounds the resource checkers judge by, from the run's timers and resource plan. */
export interface RunBounds {
  readonly tokenTimeoutMs: number;
  /** The restart back-off's first wait (timing.ts restartBackoffMs); 0 when resources are off. */
  readonly backoffBaseMs: number;
  /** Longest gap a graceful leave may leave a resource without a node, when nothing else goes wrong. */
  readonly handOffMs: number;
}

export type CheckerName =
  | 'agreed-order'
  | 'virtual-synchrony'
  | 'integrity'
  | 'self-delivery'
  | 'view-agreement'
  | 'liveness'
  | 'leader-overlap'
  | 'epoch-monotonic'
  | 'single-quorate-partition'
  | 'resource-exclusivity'
  | 'cib-convergence'
  | 'cib-durability'
  | 'resource-liveness'
  | 'hand-off'
  | 'flapping'
  | 'fail-counts';

/** Violations the harness itself raises: the core threw, or it stopped making progress. */
export type HarnessCheck = 'core-exception' | 'progress';

/**
 * A guarantee checker. `observe` runs for every observation as it happens (so a violation is
 * reported at the step that caused it); `finish` runs once when the liveness phase ends.
 * Each returns a readable description of the violation, or undefined.
 */
export interface Checker {
  readonly name: CheckerName;
  observe(obs: Observation): string | undefined;
  finish(end: EndState): string | undefined;
}

export interface Violation {
  readonly checker: CheckerName | HarnessCheck;
  /** correctness (safety), liveness, or crash (the core threw or ran away), as in the VOPR. */
  readonly kind: 'correctness' | 'liveness' | 'crash';
  readonly seed: number;
  readonly step: number;
  readonly timeUs: number;
  readonly message: string;
  /** The last relevant events before the violation, one per line. */
  readonly trace: string;
  /** The one-line command that replays this run. */
  readonly reproduce: string;
}

export function viewKey(id: ViewId): string {
  return `${id.seq}.${id.rep}`;
}

export function msgKey(d: { readonly sender: NodeId; readonly senderIncarnation: number; readonly msgId: number }): string {
  return `${d.sender}/${d.senderIncarnation}#${d.msgId}`;
}

/** (node, incarnation) as a map key: state that dies with a crash is keyed by this. */
export function incKey(node: NodeId, incarnation: number): string {
  return `${node}/${incarnation}`;
}

/** Lexicographic (seq, then rep) order of view ids; negative when a < b. */
export function compareViewIds(a: ViewId, b: ViewId): number {
  return a.seq !== b.seq ? a.seq - b.seq : a.rep - b.rep;
}

export function formatView(v: View): string {
  return `${viewKey(v.id)}[${v.members.join(',')}]`;
}

export function formatTimeUs(timeUs: number): string {
  return `${(timeUs / 1000).toFixed(3)}ms`;
}
