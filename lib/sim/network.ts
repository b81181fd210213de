/**
 * The simulated network: who can reach whom, and what happens to each packet.
 *
 * Reachability is a partition (a group number per node; packets cross groups only when
 * healed) plus a set of one-way cuts (from -> to). Loss and duplication are probabilities drawn
 * per packet from the run's PRNG; latency is uniform between a minimum and maximum, which is
 * what reorders packets.
 */
import type { NodeId } from '../totem/types.js';
import type { Prng } from './prng.js';

export interface NetworkModel {
  readonly latencyUsMin: number;
  readonly latencyUsMax: number;
}

export type Fate = { readonly delivered: false; readonly reason: 'lost' | 'cut' } | { readonly delivered: true; readonly latenciesUs: readonly number[] };

export class SimNetwork {
  lossRate = 0;
  duplicateRate = 0;
  private readonly groupOf = new Map<NodeId, number>();
  /** One-way cuts, counted so that overlapping cut faults heal independently. */
  private readonly cuts = new Map<string, number>();

  constructor(
    private readonly prng: Prng,
    readonly model: NetworkModel,
  ) {}

  /** Splits the nodes into the given groups; nodes not listed form one more group together. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groupOf.clear();
    groups.forEach((g, i) => {
      for (const n of g) this.groupOf.set(n, i + 1);
    });
  }

  healPartition(): void {
    this.groupOf.clear();
  }

  cut(from: NodeId, to: NodeId): void {
    const key = `${from}>${to}`;
    this.cuts.set(key, (this.cuts.get(key) ?? 0) + 1);
  }

  uncut(from: NodeId, to: NodeId): void {
    const key = `${from}>${to}`;
    const count = this.cuts.get(key) ?? 0;
    if (count <= 1) this.cuts.delete(key);
    else this.cuts.set(key, count - 1);
  }

  healAll(): void {
    this.groupOf.clear();
    this.cuts.clear();
    this.lossRate = 0;
    this.duplicateRate = 0;
  }

  reachable(from: NodeId, to: NodeId): boolean {
    // Checked for every packet: the common case (no partition, no cut) builds no key.
    if (this.groupOf.size > 0 && (this.groupOf.get(from) ?? 0) !== (this.groupOf.get(to) ?? 0)) return false;
    return this.cuts.size === 0 || !this.cuts.has(`${from}>${to}`);
  }

  /** Decides one packet's fate: cut, lost, or delivered once or twice with these latencies. */
  fate(from: NodeId, to: NodeId): Fate {
    if (!this.reachable(from, to)) return { delivered: false, reason: 'cut' };
    if (this.prng.chance(this.lossRate)) return { delivered: false, reason: 'lost' };
    const first = this.latencyUs();
    if (!this.prng.chance(this.duplicateRate)) return { delivered: true, latenciesUs: [first] };
    // Some duplicates are replays that arrive long after the original.
    const late = this.prng.chance(0.3) ? this.latencyUs() * this.prng.int(5, 50) : this.latencyUs();
    return { delivered: true, latenciesUs: [first, late] };
  }

  latencyUs(): number {
    return this.prng.int(this.model.latencyUsMin, this.model.latencyUsMax);
  }

  /** No partition and no cut in effect (loss and duplication may still be). */
  get whole(): boolean {
    return this.groupOf.size === 0 && this.cuts.size === 0;
  }

  describe(): string {
    const groups = new Map<number, NodeId[]>();
    for (const [n, g] of this.groupOf) groups.set(g, [...(groups.get(g) ?? []), n]);
    const parts = [...groups.values()].map((g) => g.sort((a, b) => a - b).join(','));
    return `partition ${parts.length > 0 ? parts.join(' | ') : 'none'}; cuts ${this.cuts.size > 0 ? [...this.cuts.keys()].join(' ') : 'none'}`;
  }
}
