/**
 * A small deterministic harness for totem unit tests: N cores in memory, one fake clock, a seeded
 * PRNG for loss, duplication and delay (delay jitter reorders), directed link blocks for
 * partitions and one-way links, crash/restart and pause. Every packet goes through msgpackr, as
 * on the wire. Checkers for the messaging guarantees run on the recorded events.
 *
 * The big fault-injection simulator lives in lib/sim; this one stays small and readable.
 */
import { Packr } from 'msgpackr';
import { createTotem, PROFILES, TotemMessageKind, type NodeId, type TotemCore, type TotemTimers, type View, type ViewId } from '../../lib/totem/index.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface NetOptions {
  readonly nodes: number;
  readonly seed?: number;
  readonly timers?: TotemTimers;
  readonly loss?: number;
  readonly dup?: number;
  readonly delayMinMs?: number;
  readonly delayMaxMs?: number;
  readonly maxSendQueue?: number;
  readonly maxMessagesPerToken?: number;
  readonly maxBytesPerToken?: number;
}

interface Packet {
  readonly atMs: number;
  readonly order: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly bytes: Uint8Array;
}

export interface Delivered {
  readonly key: string;
  readonly view: string;
}

interface SimNode {
  readonly id: NodeId;
  core: TotemCore | undefined;
  incarnation: number;
  persistedRingSeq: number;
  pausedUntilMs: number;
  /** Views installed, over all incarnations, in order. */
  readonly views: { view: View; atMs: number; incarnation: number }[];
  /** Deliveries (per incarnation) in order. */
  readonly deliveries: Delivered[];
  /** The view in which the node currently is (per incarnation), for checking delivery views. */
  current: string | undefined;
  /** Times at which the core reported accepting a new token of its ring (lease renewals). */
  readonly tokensAcceptedMs: number[];
  /** Every token message this node received, as sent (to replay one as a duplicate). */
  readonly tokensReceived: unknown[];
  /** The safe marks the core reported (TotemOutput.safe), in order. */
  readonly safeMarks: { view: string; seq: number }[];
}

export const viewKey = (id: ViewId): string => `${id.seq}/${id.rep}`;

export class Net {
  readonly timers: TotemTimers;
  nowMs = 0;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly ids: NodeId[];
  private readonly rand: () => number;
  private readonly packr = new Packr({ useRecords: false });
  private readonly queue: Packet[] = [];
  private order = 0;
  private readonly blocked = new Set<string>();
  loss: number;
  dup: number;
  delayMinMs: number;
  delayMaxMs: number;
  readonly broadcasts = new Set<string>();
  readonly failures: string[] = [];
  private readonly maxSendQueue: number;
  private readonly maxMessagesPerToken: number;
  private readonly maxBytesPerToken: number | undefined;
  /** view key → member list, across all nodes (view agreement). */
  private readonly viewMembers = new Map<string, string>();
  /** (node, incarnation, view key) → delivered keys, for agreed order and virtual synchrony. */
  readonly perView = new Map<string, string[]>();
  /** "node|view" → the highest ring seq that node delivered in that view. */
  private readonly deliveredSeq = new Map<string, number>();
  /** "prev->next" → per-node delivered set in prev (virtual synchrony). */
  private readonly transitions: { node: NodeId; prev: string; next: string; delivered: string[] }[] = [];

  constructor(o: NetOptions) {
    this.timers = o.timers ?? PROFILES.lan;
    this.rand = mulberry32(o.seed ?? 1);
    this.loss = o.loss ?? 0;
    this.dup = o.dup ?? 0;
    this.delayMinMs = o.delayMinMs ?? 1;
    this.delayMaxMs = o.delayMaxMs ?? 2;
    this.maxSendQueue = o.maxSendQueue ?? 1000;
    this.maxMessagesPerToken = o.maxMessagesPerToken ?? 16;
    this.maxBytesPerToken = o.maxBytesPerToken;
    this.ids = Array.from({ length: o.nodes }, (_, i) => i + 1);
    for (const id of this.ids) {
      this.nodes.set(id, {
        id, core: undefined, incarnation: 0, persistedRingSeq: 0, pausedUntilMs: 0,
        views: [], deliveries: [], current: undefined, tokensAcceptedMs: [], tokensReceived: [], safeMarks: [],
      });
    }
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  start(id: NodeId): void {
    const n = this.nodes.get(id)!;
    n.incarnation++;
    n.current = undefined;
    n.core = createTotem(
      {
        nodeId: id,
        incarnation: n.incarnation,
        nodes: this.ids,
        ringSeq: n.persistedRingSeq,
        timers: this.timers,
        maxSendQueue: this.maxSendQueue,
        maxMessagesPerToken: this.maxMessagesPerToken,
        ...(this.maxBytesPerToken === undefined ? {} : { maxBytesPerToken: this.maxBytesPerToken }),
      },
      this.nowMs,
    );
    this.drain(n);
  }

  crash(id: NodeId): void {
    this.nodes.get(id)!.core = undefined;
  }

  pause(id: NodeId, forMs: number): void {
    this.nodes.get(id)!.pausedUntilMs = this.nowMs + forMs;
  }

  core(id: NodeId): TotemCore {
    const c = this.nodes.get(id)!.core;
    if (c === undefined) throw new Error(`node ${id} is down`);
    return c;
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  partition(...sides: NodeId[][]): void {
    for (const a of sides) for (const b of sides) {
      if (a === b) continue;
      for (const x of a) for (const y of b) this.block(x, y);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  broadcast(id: NodeId, text: string): boolean {
    const n = this.nodes.get(id)!;
    const r = this.core(id).broadcast(new TextEncoder().encode(text), this.nowMs);
    if (r.ok) this.broadcasts.add(`${id}.${n.incarnation}.${r.msgId}`);
    this.drain(n);
    return r.ok;
  }

  leave(id: NodeId): void {
    const n = this.nodes.get(id)!;
    this.core(id).leave(this.nowMs);
    this.drain(n);
  }

  /** Feeds a raw (possibly malformed) message to a node. */
  inject(to: NodeId, from: NodeId, msg: unknown): void {
    const n = this.nodes.get(to)!;
    this.core(to).receive(from, msg as never, this.nowMs);
    this.drain(n);
  }

  private drain(n: SimNode): void {
    const core = n.core;
    if (core === undefined) return;
    const out = core.takeOutput();
    if (out.tokenAcceptedMs !== undefined) n.tokensAcceptedMs.push(out.tokenAcceptedMs);
    if (out.persist !== undefined) {
      if (out.persist.ringSeq < n.persistedRingSeq) this.fail(`n${n.id} persisted a smaller ring seq`);
      n.persistedRingSeq = out.persist.ringSeq;
    }
    for (const s of out.sends) {
      const bytes = this.packr.pack(s.msg) as Uint8Array;
      const targets = s.to === 'all' ? this.ids.filter((x) => x !== n.id) : [s.to];
      for (const to of targets) this.transmit(n.id, to, bytes);
    }
    for (const ev of out.events) {
      if (ev.type === 'view') this.onView(n, ev.view);
      else {
        this.onDeliver(n, ev.delivery.viewId, `${ev.delivery.sender}.${ev.delivery.senderIncarnation}.${ev.delivery.msgId}`, ev.delivery.sender);
        const dk = `${n.id}|${viewKey(ev.delivery.viewId)}`;
        if (ev.delivery.seq !== (this.deliveredSeq.get(dk) ?? 0) + 1) this.fail(`n${n.id} delivered seq ${ev.delivery.seq} after ${this.deliveredSeq.get(dk) ?? 0} in ${viewKey(ev.delivery.viewId)}`);
        this.deliveredSeq.set(dk, ev.delivery.seq ?? 0);
      }
    }
    if (out.safe !== undefined) this.onSafe(n, viewKey(out.safe.viewId), out.safe.seq);
  }

  /** A safe mark must be true when it is reported: every member has delivered up to it. */
  private onSafe(n: SimNode, vk: string, seq: number): void {
    const last = n.safeMarks[n.safeMarks.length - 1];
    if (last !== undefined && last.view === vk && seq <= last.seq) this.fail(`n${n.id} reported safe ${seq} in ${vk} after ${last.seq}`);
    n.safeMarks.push({ view: vk, seq });
    if (vk !== n.current) this.fail(`n${n.id} reported safe in ${vk} while in ${n.current}`);
    for (const member of (this.viewMembers.get(vk) ?? '').split(',').filter((m) => m !== '').map(Number)) {
      const delivered = this.deliveredSeq.get(`${member}|${vk}`) ?? 0;
      if (delivered < seq) this.fail(`n${n.id} reported ${vk} safe up to ${seq}, but member n${member} had delivered only up to ${delivered}`);
    }
  }

  private transmit(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    if (this.blocked.has(`${from}>${to}`)) return;
    if (this.rand() < this.loss) return;
    const copies = this.rand() < this.dup ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.delayMinMs + this.rand() * (this.delayMaxMs - this.delayMinMs);
      this.enqueue({ atMs: this.nowMs + delay, order: this.order++, from, to, bytes });
    }
  }

  private fail(what: string): void {
    this.failures.push(`t=${this.nowMs.toFixed(1)} ${what}`);
  }

  private onView(n: SimNode, view: View): void {
    const k = viewKey(view.id);
    const members = view.members.join(',');
    const known = this.viewMembers.get(k);
    if (known !== undefined && known !== members) this.fail(`view agreement: ${k} is [${known}] and [${members}]`);
    this.viewMembers.set(k, members);
    if (!view.members.includes(n.id)) this.fail(`n${n.id} installed ${k} without itself`);
    const last = n.views[n.views.length - 1];
    if (last !== undefined && (view.id.seq < last.view.id.seq || (view.id.seq === last.view.id.seq && view.id.rep <= last.view.id.rep))) {
      this.fail(`n${n.id} view ids did not grow: ${viewKey(last.view.id)} then ${k}`);
    }
    if (n.current !== undefined) {
      this.transitions.push({ node: n.id, prev: n.current, next: k, delivered: [...(this.perView.get(`${n.id}.${n.incarnation}.${n.current}`) ?? [])] });
    }
    n.views.push({ view, atMs: this.nowMs, incarnation: n.incarnation });
    n.current = k;
  }

  private onDeliver(n: SimNode, viewId: ViewId, key: string, sender: NodeId): void {
    const vk = viewKey(viewId);
    if (vk !== n.current) this.fail(`n${n.id} delivered ${key} in ${vk} while in ${n.current}`);
    if (!this.broadcasts.has(key)) this.fail(`integrity: n${n.id} delivered ${key} that nobody broadcast`);
    const members = this.viewMembers.get(vk);
    if (members !== undefined && !members.split(',').includes(String(sender))) this.fail(`integrity: ${key} delivered in ${vk} without its sender`);
    if (n.deliveries.some((d) => d.key === key)) this.fail(`integrity: n${n.id} delivered ${key} twice`);
    n.deliveries.push({ key, view: vk });
    const pk = `${n.id}.${n.incarnation}.${vk}`;
    const list = this.perView.get(pk) ?? [];
    list.push(key);
    this.perView.set(pk, list);
  }

  /** Agreed order and virtual synchrony over everything recorded so far. */
  checkOrderAndSynchrony(): string[] {
    const problems: string[] = [];
    const byView = new Map<string, { who: string; seq: string[] }[]>();
    for (const [pk, seq] of this.perView) {
      const parts = pk.split('.');
      const vk = parts[2]!;
      const list = byView.get(vk) ?? [];
      list.push({ who: `${parts[0]}.${parts[1]}`, seq });
      byView.set(vk, list);
    }
    for (const [vk, list] of byView) {
      for (const a of list) for (const b of list) {
        const n = Math.min(a.seq.length, b.seq.length);
        for (let i = 0; i < n; i++) {
          if (a.seq[i] !== b.seq[i]) {
            problems.push(`agreed order in ${vk}: ${a.who} and ${b.who} differ at ${i}`);
            break;
          }
        }
      }
    }
    const moves = new Map<string, { node: NodeId; delivered: string[] }[]>();
    for (const t of this.transitions) {
      const k = `${t.prev}->${t.next}`;
      const list = moves.get(k) ?? [];
      list.push(t);
      moves.set(k, list);
    }
    for (const [k, list] of moves) {
      const first = list[0]!.delivered.join('|');
      for (const t of list) {
        if (t.delivered.join('|') !== first) problems.push(`virtual synchrony ${k}: n${list[0]!.node} and n${t.node} delivered different sets`);
      }
    }
    return problems;
  }

  /** Runs the world until `untilMs` (absolute). Packets win ties with timers. */
  runUntil(untilMs: number): void {
    for (let steps = 0; ; steps++) {
      if (steps > 50_000_000) throw new Error('harness: too many steps');
      const p = this.queue[0];
      const packetAt = p?.atMs ?? Infinity;
      let tickNode: SimNode | undefined;
      let tickAt = Infinity;
      for (const n of this.nodes.values()) {
        if (n.core === undefined) continue;
        const d = Math.max(n.core.nextDeadlineMs() ?? Infinity, n.pausedUntilMs);
        if (d < tickAt) {
          tickAt = d;
          tickNode = n;
        }
      }
      const next = Math.min(packetAt, tickAt);
      if (next > untilMs) break;
      this.nowMs = Math.max(this.nowMs, next);
      if (packetAt <= tickAt) {
        this.queue.shift();
        const n = this.nodes.get(p!.to)!;
        if (n.core === undefined) continue;
        if (n.pausedUntilMs > this.nowMs) {
          // A paused node reads its backlog, in order, when it resumes.
          this.enqueue({ ...p!, atMs: n.pausedUntilMs, order: this.order++ });
          continue;
        }
        const msg = this.packr.unpack(p!.bytes) as { kind?: number };
        if (msg.kind === TotemMessageKind.token) n.tokensReceived.push({ from: p!.from, msg });
        n.core.receive(p!.from, msg as never, this.nowMs);
        this.drain(n);
      } else {
        tickNode!.core!.tick(this.nowMs);
        this.drain(tickNode!);
      }
    }
    this.nowMs = untilMs;
  }

  private enqueue(p: Packet): void {
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const q = this.queue[mid]!;
      if (q.atMs < p.atMs || (q.atMs === p.atMs && q.order < p.order)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, p);
  }

  run(forMs: number): void {
    this.runUntil(this.nowMs + forMs);
  }

  /** Runs until `pred` holds (checked every `stepMs`), or throws after `limitMs`. Returns elapsed ms. */
  runUntilTrue(pred: () => boolean, limitMs: number, stepMs = 5): number {
    const start = this.nowMs;
    while (!pred()) {
      if (this.nowMs - start > limitMs) throw new Error(`condition not reached within ${limitMs} ms`);
      this.run(stepMs);
    }
    return this.nowMs - start;
  }

  view(id: NodeId): View | undefined {
    return this.nodes.get(id)!.core?.status().view;
  }

  /** True when every listed node is operational in one view with exactly these members. */
  agreeOn(members: readonly NodeId[]): boolean {
    let key: string | undefined;
    for (const id of members) {
      const st = this.nodes.get(id)!.core?.status();
      if (st === undefined || st.state !== 'operational' || st.view === undefined) return false;
      if (st.view.members.join(',') !== [...members].sort((a, b) => a - b).join(',')) return false;
      const k = viewKey(st.view.id);
      if (key !== undefined && key !== k) return false;
      key = k;
    }
    return true;
  }

  /** Lease-renewal signals the core of `id` emitted, and the tokens it received (for replays). */
  safeMarks(id: NodeId): readonly { view: string; seq: number }[] {
    return this.nodes.get(id)!.safeMarks;
  }

  tokens(id: NodeId): { acceptedMs: readonly number[]; received: readonly { from: NodeId; msg: unknown }[] } {
    const n = this.nodes.get(id)!;
    return { acceptedMs: n.tokensAcceptedMs, received: n.tokensReceived as { from: NodeId; msg: unknown }[] };
  }

  viewCount(id: NodeId): number {
    return this.nodes.get(id)!.views.length;
  }

  deliveredKeys(id: NodeId): string[] {
    return this.nodes.get(id)!.deliveries.map((d) => d.key);
  }
}
