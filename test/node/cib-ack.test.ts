import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyCib, type Cib } from '../../lib/cib/model.js';
import { defaultLeadershipTimers, NodeController } from '../../lib/controller/node-controller.js';
import { NodeDriver, type NodeEvent } from '../../lib/node/driver.js';
import { resolveQuorumConfig } from '../../lib/quorum/index.js';
import { createTotem, PROFILES, TotemMessageKind } from '../../lib/totem/index.js';
import type { NodeId, Send } from '../../lib/totem/types.js';

/**
 * When a CIB write is acknowledged (docs/cib.md): three real node drivers (totem core, quorum,
 * CIB replica) on a scripted network whose links the test cuts at exact moments. Every event of
 * every node is recorded for the whole run and the assertions are on that record.
 */
const IDS = [1, 2, 3] as const;
const LATENCY_MS = 0.2;
const timers = PROFILES['lan']!;

interface Packet {
  readonly atMs: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: Send['msg'];
}

class Lab {
  nowMs = 1_000;
  readonly drivers = new Map<NodeId, NodeDriver>();
  /** What each node's disk holds (the driver contract: persisted before anything is sent). */
  readonly disks = new Map<NodeId, Cib>();
  /** Every event of every node, with the time and, for 'cib-outcome', what the others had stored then. */
  readonly record: { atMs: number; node: NodeId; event: NodeEvent; othersHave?: Map<NodeId, boolean> }[] = [];
  /** Links cut one way: `${from}->${to}`. */
  readonly cut = new Set<string>();
  /** Attribute names whose presence on the other nodes' disks is noted at each outcome. */
  watched: string | undefined;
  /** Called with each node's sends before they are routed: lets a test cut links at that instant. */
  beforeRoute: ((from: NodeId, sends: readonly Send[]) => void) | undefined;
  private packets: Packet[] = [];

  constructor() {
    const config = { nodes: IDS.map((id) => ({ id: String(id), name: `n${id}` })), resources: [] };
    const quorum = resolveQuorumConfig({ nodes: IDS.map((id) => ({ id })) });
    const lease = defaultLeadershipTimers(timers, IDS.length);
    for (const id of IDS) {
      this.drivers.set(
        id,
        new NodeDriver({
          nodeId: id,
          nodeName: `n${id}`,
          nodeNameExplicit: true,
          incarnation: 1,
          core: createTotem({ nodeId: id, incarnation: 1, nodes: [...IDS], ringSeq: 0, timers, maxSendQueue: 1000, maxMessagesPerToken: 50 }, this.nowMs),
          controller: new NodeController({ nodeId: id, quorum, leadership: lease }),
          cib: emptyCib(config),
          lease,
          resources: { manage: false, selfStopMs: 1000, holdoverMs: () => undefined },
          wallClockOffsetMs: 0,
          maxSendQueue: 1000,
          nowMs: this.nowMs,
        }),
      );
    }
    for (const id of IDS) this.collect(id);
  }

  isolate(id: NodeId): void {
    for (const other of IDS) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Runs the cluster until `until` holds (checked after every step) or `limitMs` of its time pass. */
  run(limitMs: number, until: () => boolean = () => false): void {
    const end = this.nowMs + limitMs;
    for (let steps = 0; steps < 2_000_000; steps++) {
      if (until()) return;
      let next = end;
      for (const d of this.drivers.values()) next = Math.min(next, d.nextDeadlineMs() ?? Infinity);
      const packet = this.packets[0];
      if (packet !== undefined && packet.atMs <= next) {
        this.packets.shift();
        this.nowMs = Math.max(this.nowMs, packet.atMs);
        this.drivers.get(packet.to)!.receive(packet.from, packet.msg, this.nowMs);
        this.collect(packet.to);
        continue;
      }
      if (next >= end) {
        this.nowMs = end;
        return;
      }
      this.nowMs = Math.max(this.nowMs, next);
      for (const [id, d] of this.drivers) {
        if ((d.nextDeadlineMs() ?? Infinity) <= this.nowMs) {
          d.tick(this.nowMs);
          this.collect(id);
        }
      }
    }
    assert.fail('the lab ran out of steps');
  }

  updateCib(id: NodeId, name: string, value: string): string {
    const requestId = this.drivers.get(id)!.updateCib({ op: 'set-node-attribute', node: `n${id}`, name, value }, this.nowMs);
    this.collect(id);
    return requestId;
  }

  outcomesOf(requestId: string): { atMs: number; node: NodeId; event: Extract<NodeEvent, { type: 'cib-outcome' }>; othersHave?: Map<NodeId, boolean> }[] {
    return this.record.flatMap((r) => (r.event.type === 'cib-outcome' && r.event.requestId === requestId ? [{ ...r, event: r.event }] : []));
  }

  quorate(id: NodeId): boolean {
    return this.drivers.get(id)!.controller.decision.quorate && this.drivers.get(id)!.cib.synced;
  }

  members(id: NodeId): readonly NodeId[] {
    return this.drivers.get(id)!.currentView?.members ?? [];
  }

  has(id: NodeId, name: string): boolean {
    return hasAttribute(this.disks.get(id), name);
  }

  private collect(id: NodeId): void {
    const out = this.drivers.get(id)!.takeOutput();
    if (out.persist.cib !== undefined) this.disks.set(id, out.persist.cib);
    this.beforeRoute?.(id, out.sends);
    for (const s of out.sends) {
      const targets = s.to === 'all' ? IDS.filter((other) => other !== id) : [s.to];
      for (const to of targets) {
        if (this.cut.has(`${id}->${to}`)) continue;
        this.packets.push({ atMs: this.nowMs + LATENCY_MS, from: id, to, msg: structuredClone(s.msg) });
      }
    }
    for (const event of out.events) {
      const entry: (typeof this.record)[number] = { atMs: this.nowMs, node: id, event };
      const watched = this.watched;
      if (event.type === 'cib-outcome' && watched !== undefined) {
        entry.othersHave = new Map(IDS.filter((other) => other !== id).map((other) => [other, this.has(other, watched)]));
      }
      this.record.push(entry);
    }
  }
}

function hasAttribute(cib: Cib | undefined, name: string): boolean {
  return cib?.config.nodes.some((n) => n.attributes?.[name] !== undefined) ?? false;
}

function formed(lab: Lab): Lab {
  lab.run(10_000, () => IDS.every((id) => lab.quorate(id) && lab.members(id).length === IDS.length));
  assert.ok(IDS.every((id) => lab.quorate(id) && lab.members(id).length === 3), 'three nodes formed a quorate, synced view');
  return lab;
}

describe('CIB write acknowledgement', () => {
  it('a write is acknowledged only once every member has stored it', () => {
    const lab = formed(new Lab());
    for (const [i, writer] of [1, 2, 3].entries()) {
      lab.watched = `w${i}`;
      const id = lab.updateCib(writer, `w${i}`, 'v');
      lab.run(2_000, () => lab.outcomesOf(id).length > 0);
      const outcomes = lab.outcomesOf(id);
      assert.equal(outcomes.length, 1, `one outcome for the write at n${writer}`);
      const [o] = outcomes;
      assert.equal(o!.event.ok, true, 'acknowledged');
      assert.deepEqual([...o!.othersHave!.values()], [true, true], `when n${writer} acknowledged w${i}, the other members had stored it: ${JSON.stringify([...o!.othersHave!])}`);
    }
  });

  it('a write applied only by a node cut off as it sent it is never acknowledged, and the write the others made meanwhile survives the heal', () => {
    const lab = formed(new Lab());
    lab.watched = 'lost';
    // Cut n1 off before its next token visit: it originates the change, delivers it in agreed
    // order itself (it holds every lower message), and nothing it sends reaches anyone.
    for (const other of [2, 3]) lab.cut.add(`1->${other}`);
    const lost = lab.updateCib(1, 'lost', 'v');
    lab.run(3_000, () => lab.quorate(2) && lab.members(2).length === 2 && !lab.drivers.get(1)!.controller.decision.quorate);
    assert.deepEqual(lab.members(2), [2, 3], 'n2 and n3 formed a view without n1');
    assert.ok(lab.has(1, 'lost'), 'n1 applied and stored its own change (agreed delivery)');
    assert.ok(!lab.has(2, 'lost') && !lab.has(3, 'lost'), 'nobody else has it');
    lab.isolate(1);
    const kept = lab.updateCib(2, 'kept', 'v');
    lab.run(2_000, () => lab.outcomesOf(kept).length > 0);
    assert.equal(lab.outcomesOf(kept)[0]?.event.ok, true, 'the quorate side acknowledged its own write');
    lab.heal();
    lab.run(10_000, () => IDS.every((id) => lab.quorate(id) && lab.members(id).length === 3 && lab.has(id, 'kept')));
    lab.run(500);
    const outcomes = lab.outcomesOf(lost);
    assert.equal(outcomes.length, 1, `one outcome for the cut-off write: ${JSON.stringify(outcomes.map((o) => o.event))}`);
    const o = outcomes[0]!.event;
    assert.equal(o.ok, false, 'never reported as written');
    assert.equal(o.ok === false ? o.error.code : undefined, 'SANODE_CIB_OUTCOME_UNKNOWN');
    for (const id of IDS) assert.ok(lab.has(id, 'kept'), `the acknowledged write is on n${id} after the heal`);
    const versions = IDS.map((id) => JSON.stringify(lab.drivers.get(id)!.cib.version));
    assert.equal(new Set(versions).size, 1, `one CIB version everywhere after the heal: ${versions.join(' ')}`);
  });

  it('a write whose ring broke before it was safe is acknowledged when the quorate view that follows came straight from that ring', () => {
    const lab = formed(new Lab());
    lab.watched = 'carried';
    // n3 is cut off the instant n1 sends the change: n1 and n2 have it, n3 never does, and the
    // ring breaks before n3's aru could make it safe. n1 and n2 go on together into a quorate view.
    lab.beforeRoute = (from, sends) => {
      if (from === 1 && sends.some((s) => s.msg.kind === TotemMessageKind.mcast)) {
        lab.isolate(3);
        lab.beforeRoute = undefined;
      }
    };
    const carried = lab.updateCib(1, 'carried', 'v');
    lab.run(5_000, () => lab.outcomesOf(carried).length > 0);
    const outcomes = lab.outcomesOf(carried);
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.event.ok, true, `acknowledged: ${JSON.stringify(outcomes[0]!.event)}`);
    assert.deepEqual(lab.members(1), [1, 2], 'acknowledged in the view of n1 and n2');
    const viewAt = lab.record.find((r) => r.node === 1 && r.event.type === 'view' && r.event.view.members.length === 2)?.atMs;
    assert.ok(viewAt !== undefined && outcomes[0]!.atMs >= viewAt, 'acknowledged by the view that followed, not by a safe mark of the old ring');
    assert.deepEqual([...outcomes[0]!.othersHave!], [[2, true], [3, false]]);
    lab.heal();
    lab.run(10_000, () => IDS.every((id) => lab.has(id, 'carried')));
    for (const id of IDS) assert.ok(lab.has(id, 'carried'), `n${id} has the acknowledged write after the heal`);
  });
});
