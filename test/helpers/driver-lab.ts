/**
 * Three real node drivers (totem core, quorum, CIB replica; no agents) on a scripted network
 * whose links and packets a test cuts at exact moments, in simulated time. Every event of every
 * node is recorded for the whole run, so tests assert on the record.
 */
import assert from 'node:assert/strict';
import { emptyCib, type Cib, type CibConfig } from '../../lib/cib/model.js';
import type { AgentOperation } from '../../lib/controller/local-resources.js';
import { defaultLeadershipTimers, NodeController } from '../../lib/controller/node-controller.js';
import { NodeDriver, type NodeEvent } from '../../lib/node/driver.js';
import { resolveQuorumConfig } from '../../lib/quorum/index.js';
import { createTotem, PROFILES } from '../../lib/totem/index.js';
import type { NodeId, Send } from '../../lib/totem/types.js';

export const IDS = [1, 2, 3] as const;
const LATENCY_MS = 0.2;
const timers = PROFILES['lan']!;

interface Packet {
  readonly atMs: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: Send['msg'];
}

export class DriverLab {
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
  /** Drops single packets: true loses this one (a lost datagram, not a cut link). */
  drop: ((from: NodeId, to: NodeId, msg: Send['msg']) => boolean) | undefined;
  private packets: Packet[] = [];
  /** Every agent operation each node handed over (with `resources`), in order. */
  readonly operations: { atMs: number; node: NodeId; op: AgentOperation }[] = [];
  /** What runs on each node, as the lab's in-memory agents see it (with `resources`). */
  readonly runningOn = new Map<NodeId, Set<string>>(IDS.map((id) => [id, new Set<string>()]));

  /**
   * `resources`: the CIB's resources and constraints (and any node in standby), and the nodes
   * manage them with in-memory agents that answer every operation at once.
   */
  constructor(options: { resources?: Pick<CibConfig, 'resources' | 'constraints'> & { standby?: readonly NodeId[] } } = {}) {
    const config: CibConfig = {
      nodes: IDS.map((id) => ({ id: String(id), name: `n${id}`, ...(options.resources?.standby?.includes(id) === true ? { standby: true } : {}) })),
      resources: options.resources?.resources ?? [],
      ...(options.resources?.constraints === undefined ? {} : { constraints: options.resources.constraints }),
    };
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
          resources: { manage: options.resources !== undefined, selfStopMs: 1000, holdoverMs: () => undefined },
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
        if (this.cut.has(`${id}->${to}`) || this.drop?.(id, to, s.msg) === true) continue;
        this.packets.push({ atMs: this.nowMs + LATENCY_MS, from: id, to, msg: structuredClone(s.msg) });
      }
    }
    for (const op of out.operations) {
      this.operations.push({ atMs: this.nowMs, node: id, op });
      const here = this.runningOn.get(id)!;
      let rc = 0;
      if (op.op === 'start') here.add(op.rsc);
      else if (op.op === 'stop') here.delete(op.rsc);
      else if (op.op === 'monitor' || op.op === 'probe') rc = here.has(op.rsc) ? 0 : 7;
      this.drivers.get(id)!.operationResult(op.opId, { rc, wallMs: 1_700_000_000_000 + this.nowMs }, this.nowMs);
      this.collect(id);
    }
    for (const event of out.events) {
      const entry: DriverLab['record'][number] = { atMs: this.nowMs, node: id, event };
      const watched = this.watched;
      if (event.type === 'cib-outcome' && watched !== undefined) {
        entry.othersHave = new Map(IDS.filter((other) => other !== id).map((other) => [other, this.has(other, watched)]));
      }
      this.record.push(entry);
    }
  }
}

export function hasAttribute(cib: Cib | undefined, name: string): boolean {
  return cib?.config.nodes.some((n) => n.attributes?.[name] !== undefined) ?? false;
}

export function formed(lab: DriverLab): DriverLab {
  lab.run(10_000, () => IDS.every((id) => lab.quorate(id) && lab.members(id).length === IDS.length));
  assert.ok(IDS.every((id) => lab.quorate(id) && lab.members(id).length === 3), 'three nodes formed a quorate, synced view');
  return lab;
}

