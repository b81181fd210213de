/**
 * Builds synthetic observation streams for checker tests: a tiny DSL so each test reads like the
 * scenario it describes. Not itself a test file.
 */
import type { NodeId, View } from '../../lib/totem/types.js';
import type { Checker, EndState, LiveNode, Observation } from '../../lib/sim/types.js';

export class Scenario {
  readonly observations: Observation[] = [];
  private timeUs = 0;
  private readonly incarnation = new Map<NodeId, number>();
  private readonly installed = new Map<NodeId, View>();

  private at(): number {
    return (this.timeUs += 1000);
  }

  private inc(node: NodeId): number {
    return this.incarnation.get(node) ?? 1;
  }

  start(...nodes: NodeId[]): this {
    for (const node of nodes) {
      const incarnation = (this.incarnation.get(node) ?? 0) + 1;
      this.incarnation.set(node, incarnation);
      this.observations.push({ type: 'start', timeUs: this.at(), node, incarnation });
    }
    return this;
  }

  crash(node: NodeId): this {
    this.observations.push({ type: 'crash', timeUs: this.at(), node, incarnation: this.inc(node) });
    this.installed.delete(node);
    return this;
  }

  /** Every node in `nodes` installs view (seq, rep) with `members`. */
  view(seq: number, rep: NodeId, members: NodeId[], nodes: NodeId[] = members): this {
    const view: View = { id: { seq, rep }, members };
    for (const node of nodes) {
      this.installed.set(node, view);
      this.observations.push({ type: 'view', timeUs: this.at(), node, incarnation: this.inc(node), view });
    }
    return this;
  }

  broadcast(node: NodeId, msgId: number, payload: number[] = [msgId]): this {
    this.observations.push({ type: 'broadcast', timeUs: this.at(), node, incarnation: this.inc(node), msgId, payload: Uint8Array.from(payload) });
    return this;
  }

  /** `node` delivers `sender`'s message `msgId` in its installed view. */
  deliver(node: NodeId, sender: NodeId, msgId: number, payload: number[] = [msgId], senderIncarnation = this.inc(sender)): this {
    const view = this.installed.get(node);
    const viewId = view?.id ?? { seq: 0, rep: 0 };
    this.observations.push({
      type: 'deliver', timeUs: this.at(), node, incarnation: this.inc(node),
      delivery: { viewId, sender, senderIncarnation, msgId, payload: Uint8Array.from(payload) },
    });
    return this;
  }

  /** Every node in `nodes` delivers the messages in order. */
  deliverAll(nodes: NodeId[], messages: [sender: NodeId, msgId: number][]): this {
    for (const node of nodes) for (const [sender, msgId] of messages) this.deliver(node, sender, msgId);
    return this;
  }

  /** The end state with every started, uncrashed node operational in its installed view. */
  end(overrides: Partial<Record<NodeId, Partial<LiveNode['status']>>> = {}, stableFromUs = this.timeUs + 1): EndState {
    const live: LiveNode[] = [...this.installed.entries()]
      .sort(([a], [b]) => a - b)
      .map(([node, view]) => ({
        node,
        incarnation: this.inc(node),
        status: { nodeId: node, incarnation: this.inc(node), state: 'operational' as const, view, sendQueueLength: 0, counters: {}, ...overrides[node] },
      }));
    return { timeUs: this.timeUs + 1000, stableFromUs, live };
  }

  get nowUs(): number {
    return this.timeUs;
  }
}

/** Feeds a scenario to a checker; returns every problem it reports (observe, then finish). */
export function check(checker: Checker, scenario: Scenario, end?: EndState): string[] {
  const problems: string[] = [];
  for (const obs of scenario.observations) {
    const p = checker.observe(obs);
    if (p !== undefined) problems.push(p);
  }
  if (end !== undefined) {
    const p = checker.finish(end);
    if (p !== undefined) problems.push(p);
  }
  return problems;
}
