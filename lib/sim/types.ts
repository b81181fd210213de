/**
 * Shared vocabulary of the simulator: what the checkers observe, what a violation looks like.
 */
import type { Delivery, NodeId, TotemStatus, View, ViewId } from '../totem/types.js';

/**
 * One fact the harness reports to the checkers. Checkers see exactly this stream, in the order
 * the simulated nodes produced it; they never look inside a core.
 */
export type Observation =
  | { readonly type: 'start'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number }
  | { readonly type: 'crash'; readonly timeUs: number; readonly node: NodeId; readonly incarnation: number }
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
    };

/** What the checkers are told when the liveness phase ends. */
export interface EndState {
  readonly timeUs: number;
  /** View changes at or after this time break the stability requirement. */
  readonly stableFromUs: number;
  /** Every node that is up (not crashed) at the end, in ascending id order. */
  readonly live: readonly LiveNode[];
}

export interface LiveNode {
  readonly node: NodeId;
  readonly incarnation: number;
  readonly status: TotemStatus;
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
  | 'single-quorate-partition';

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
