/**
 * A toy stand-in for the totem core, used to test the simulator and its checkers before (and
 * independently of) the real protocol.
 *
 * `sequencer` mode is correct on a fault-free network: one fixed view of all nodes; the lowest
 * node id orders every message and multicasts it; everyone delivers in sequence order. It has
 * no failure handling at all, so it is only meaningful with `--faults none`.
 *
 * `deliver-on-receipt` mode is deliberately wrong: every node delivers messages in the order
 * they happen to arrive, so network jitter breaks agreed order.
 */
import type { BroadcastResult, NodeId, Send, TotemConfig, TotemCore, TotemEvent, TotemMessage, TotemOutput, TotemStatus, View } from '../../lib/totem/types.js';

export type ToyMode = 'sequencer' | 'deliver-on-receipt';

const SUBMIT = 1;
const ORDERED = 2;

export function createToyCore(config: TotemConfig, _nowMs: number, mode: ToyMode = 'sequencer'): TotemCore {
  const members = [...config.nodes].sort((a, b) => a - b);
  const sequencer = members[0]!;
  const view: View = { id: { seq: 1, rep: sequencer }, members };
  let sends: Send[] = [];
  let events: TotemEvent[] = [{ type: 'view', view }];
  let nextMsgId = 1;
  let nextOrder = 1;
  let nextDeliver = 1;
  const pending = new Map<number, Record<string, unknown>>();
  const ownOutstanding = new Set<number>();

  const deliver = (m: Record<string, unknown>): void => {
    const sender = m['sender'] as NodeId;
    if (sender === config.nodeId && m['inc'] === config.incarnation) ownOutstanding.delete(m['msgId'] as number);
    events.push({
      type: 'deliver',
      delivery: { viewId: view.id, sender, senderIncarnation: m['inc'] as number, msgId: m['msgId'] as number, payload: m['payload'] as Uint8Array },
    });
  };
  const order = (m: Record<string, unknown>): void => {
    const ordered = { kind: ORDERED, order: nextOrder++, sender: m['sender'], inc: m['inc'], msgId: m['msgId'], payload: m['payload'] };
    sends.push({ to: 'all', msg: ordered });
    deliver(ordered);
    nextDeliver = nextOrder;
  };
  const onOrdered = (m: Record<string, unknown>): void => {
    if (mode === 'deliver-on-receipt') {
      deliver(m);
      return;
    }
    pending.set(m['order'] as number, m);
    for (let next = pending.get(nextDeliver); next !== undefined; next = pending.get(nextDeliver)) {
      pending.delete(nextDeliver);
      nextDeliver++;
      deliver(next);
    }
  };

  return {
    receive(_from: NodeId, msg: TotemMessage): void {
      if (msg.kind === SUBMIT && config.nodeId === sequencer) order(msg);
      else if (msg.kind === ORDERED && config.nodeId !== sequencer) onOrdered(msg);
    },
    tick(): void {},
    broadcast(payload: Uint8Array): BroadcastResult {
      const msgId = nextMsgId++;
      ownOutstanding.add(msgId);
      const submit = { kind: SUBMIT, sender: config.nodeId, inc: config.incarnation, msgId, payload };
      if (config.nodeId === sequencer) order(submit);
      else sends.push({ to: sequencer, msg: submit });
      return { ok: true, msgId };
    },
    leave(): void {},
    takeOutput(): TotemOutput {
      const out: TotemOutput = { sends, events, persist: undefined };
      sends = [];
      events = [];
      return out;
    },
    nextDeadlineMs(): number | undefined {
      return undefined;
    },
    status(): TotemStatus {
      return { nodeId: config.nodeId, incarnation: config.incarnation, state: 'operational', view, sendQueueLength: ownOutstanding.size, counters: {} };
    },
  };
}

/** Timers for toy runs: the toy core ignores them, but they size the run's phases. */
export const TOY_TIMERS = {
  tokenTimeoutMs: 200,
  tokenRetransmitMs: 50,
  tokenHoldMs: 0,
  joinMs: 50,
  consensusMs: 200,
  mergeDetectMs: 200,
  failToRecvMs: 400,
};
