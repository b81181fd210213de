/**
 * The run's trace: every packet, timer, view, delivery and fault, kept as compact records.
 *
 * Records are formatted only when needed (a violation report, `--trace`, or the determinism
 * hash), because formatting every packet of every run would dominate the simulator's cost.
 * A ring buffer keeps the recent past for violation reports.
 */
import { createHash, type Hash } from 'node:crypto';
import { unpack } from 'msgpackr';
import type { NodeId, View } from '../totem/types.js';
import { decodeChannel } from '../node/channels.js';
import { formatTimeUs, formatView, msgKey } from './types.js';

export type PacketFate = 'sent' | 'lost' | 'cut' | 'stalled' | 'duplicated';

export type TraceRecord =
  | { readonly k: 'net'; readonly t: number; readonly from: NodeId; readonly to: NodeId; readonly bytes: Uint8Array; readonly fate: PacketFate }
  | { readonly k: 'recv'; readonly t: number; readonly node: NodeId; readonly from: NodeId; readonly bytes: Uint8Array; readonly note: 'ok' | 'queued' | 'dropped' | 'overflow' }
  | { readonly k: 'tick'; readonly t: number; readonly node: NodeId; readonly localMs: number }
  | { readonly k: 'view'; readonly t: number; readonly node: NodeId; readonly inc: number; readonly view: View }
  | { readonly k: 'deliver'; readonly t: number; readonly node: NodeId; readonly inc: number; readonly key: string; readonly view: string }
  | { readonly k: 'broadcast'; readonly t: number; readonly node: NodeId; readonly inc: number; readonly msgId: number; readonly payload: Uint8Array }
  | { readonly k: 'refused'; readonly t: number; readonly node: NodeId; readonly inc: number; readonly reason: string }
  | { readonly k: 'persist'; readonly t: number; readonly node: NodeId; readonly ringSeq: number }
  | { readonly k: 'fault'; readonly t: number; readonly text: string }
  | { readonly k: 'bug'; readonly t: number; readonly text: string }
  | { readonly k: 'leader'; readonly t: number; readonly text: string }
  | { readonly k: 'phase'; readonly t: number; readonly text: string };

export interface TraceOptions {
  /** How many recent records to keep for violation reports. */
  readonly capacity: number;
  /** Fold every record into a SHA-256 (for determinism tests). */
  readonly hash: boolean;
  /** Receives every record as a formatted line as it happens (`--trace`). */
  readonly sink: ((line: string) => void) | undefined;
}

export class TraceLog {
  private readonly ring: (TraceRecord | undefined)[];
  private next = 0;
  private total = 0;
  private readonly hasher: Hash | undefined;
  private readonly sink: ((line: string) => void) | undefined;

  constructor(options: TraceOptions) {
    this.ring = new Array<TraceRecord | undefined>(options.capacity).fill(undefined);
    this.hasher = options.hash ? createHash('sha256') : undefined;
    this.sink = options.sink;
  }

  get count(): number {
    return this.total;
  }

  add(record: TraceRecord): void {
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.ring.length;
    this.total++;
    if (this.hasher !== undefined) {
      if (record.k === 'net' || record.k === 'recv') {
        this.hasher.update(`${record.k} ${record.t} ${record.k === 'net' ? `${record.from}>${record.to} ${record.fate}` : `${record.from}>${record.node} ${record.note}`}\n`);
        this.hasher.update(record.bytes);
      } else {
        this.hasher.update(formatRecord(record));
        this.hasher.update('\n');
      }
    }
    if (this.sink !== undefined) this.sink(formatRecord(record));
  }

  digest(): string {
    if (this.hasher === undefined) throw new Error('trace hashing was not enabled for this run');
    return this.hasher.digest('hex');
  }

  /** Records still in the ring, oldest first. */
  recent(): TraceRecord[] {
    const out: TraceRecord[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const r = this.ring[(this.next + i) % this.ring.length];
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /**
   * The readable tail for a violation report: the last `relevant` views, deliveries,
   * broadcasts, faults and persists, with the last `packets` packet-level records in full and
   * older packet traffic collapsed into one summary line per gap.
   */
  report(relevant = 60, packets = 16): string {
    const records = this.recent();
    const lines: string[] = [];
    let kept = 0;
    let shownPackets = 0;
    let gap = { sent: 0, lost: 0, recv: 0, ticks: 0 };
    const flushGap = (): void => {
      if (gap.sent + gap.lost + gap.recv + gap.ticks === 0) return;
      lines.push(`    … ${gap.sent} packets sent, ${gap.lost} lost or cut, ${gap.recv} received, ${gap.ticks} timer ticks …`);
      gap = { sent: 0, lost: 0, recv: 0, ticks: 0 };
    };
    for (let i = records.length - 1; i >= 0 && kept < relevant; i--) {
      const r = records[i]!;
      const isPacket = r.k === 'net' || r.k === 'recv' || r.k === 'tick';
      if (isPacket && shownPackets >= packets) {
        if (r.k === 'net') {
          if (r.fate === 'sent' || r.fate === 'duplicated') gap.sent++;
          else gap.lost++;
        } else if (r.k === 'recv') gap.recv++;
        else gap.ticks++;
        continue;
      }
      flushGap();
      lines.push(`  ${formatRecord(r)}`);
      if (isPacket) shownPackets++;
      else kept++;
    }
    flushGap();
    if (this.total > records.length) lines.push(`    (${this.total - records.length} earlier records not kept)`);
    return lines.reverse().join('\n');
  }
}

export function formatRecord(r: TraceRecord): string {
  const t = formatTimeUs(r.t).padStart(12);
  switch (r.k) {
    case 'net':
      return `${t} net   n${r.from}->n${r.to} ${r.fate.padEnd(7)} ${summarizePacket(r.bytes)}`;
    case 'recv':
      return `${t} recv  n${r.node}<-n${r.from} ${r.note.padEnd(7)} ${summarizePacket(r.bytes)}`;
    case 'tick':
      return `${t} tick  n${r.node} (local ${r.localMs}ms)`;
    case 'view':
      return `${t} VIEW  n${r.node}/${r.inc} installs ${formatView(r.view)}`;
    case 'deliver':
      return `${t} DELIV n${r.node}/${r.inc} ${r.key} in ${r.view}`;
    case 'broadcast':
      return `${t} bcast n${r.node}/${r.inc} ok ${msgKey({ sender: r.node, senderIncarnation: r.inc, msgId: r.msgId })} ${describeBroadcast(r.payload)}`;
    case 'refused':
      return `${t} bcast n${r.node}/${r.inc} refused: ${r.reason}`;
    case 'persist':
      return `${t} persist n${r.node} ringSeq=${r.ringSeq}`;
    case 'fault':
      return `${t} FAULT ${r.text}`;
    case 'bug':
      return `${t} BUG   ${r.text}`;
    case 'leader':
      return `${t} LEAD  ${r.text}`;
    case 'phase':
      return `${t} PHASE ${r.text}`;
  }
}

/** The channel of a node's broadcast, read from its first bytes without decoding it. */
export function broadcastChannel(payload: Uint8Array): number | undefined {
  // [channel, body] in msgpack: a fixarray of two, then the channel as a positive fixint.
  return payload[0] === 0x92 ? payload[1] : undefined;
}

/** `channel N` of a broadcast, with the action for a resource message, and its size. */
function describeBroadcast(payload: Uint8Array): string {
  const ch = broadcastChannel(payload);
  const body = ch === 3 ? (decodeChannel(payload)?.body as { t?: string; req?: { op: string; rsc: string; node: string }; key?: string; rc?: number } | undefined) : undefined;
  const what = body?.t === 'exec' ? ` exec ${body.req?.op} ${body.req?.rsc} on ${body.req?.node}` : body?.t === 'result' ? ` result ${body.key} rc ${body.rc}` : '';
  return `channel ${ch ?? '?'}${what} (${payload.length}B)`;
}

/** A one-line summary of an encoded protocol message, e.g. `kind=3 {"ring":[4,1],"seq":17,…}`. */
export function summarizePacket(bytes: Uint8Array, maxChars = 120): string {
  let msg: unknown;
  try {
    msg = unpack(bytes);
  } catch {
    return `<${bytes.length} undecodable bytes>`;
  }
  // A replacer sees Buffers after their toJSON(); the raw value is still on the holder.
  const text = JSON.stringify(msg, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    if (raw instanceof Uint8Array) return `<${raw.length}B>`;
    if (typeof value === 'bigint') return value.toString();
    return value;
  });
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}

