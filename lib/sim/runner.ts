/**
 * Runs ranges of seeds, optionally on several worker threads, and resolves the real totem core.
 *
 * Node counts and fault mixes given as lists cycle by seed: seed s runs with
 * nodes[s mod |nodes|] and faults[floor(s / |nodes|) mod |faults|], so any |nodes|×|faults|
 * consecutive seeds cover every combination.
 */
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TotemTimers } from '../totem/types.js';
import type { BugName } from './bugs.js';
import type { QuorumFlavour } from './leadership-plan.js';
import { runSimulation, type CreateCore, type RunResult } from './simulator.js';

export interface RangeOptions {
  readonly seeds: readonly number[];
  readonly nodes: readonly number[];
  readonly faults: readonly string[];
  readonly profile: string;
  readonly bug?: BugName | undefined;
  readonly safetyMs?: number | undefined;
  /** Force one quorum flavour (see leadership-plan.ts) instead of the seed's draw. */
  readonly quorumFlavour?: QuorumFlavour | undefined;
  readonly stopOnViolation?: boolean | undefined;
  /** Worker threads to use; 1 runs in this thread. */
  readonly jobs: number;
  /** URL of a module exporting createTotem and PROFILES (default: this package's lib/totem). */
  readonly coreModule?: string | undefined;
}

export interface SeedResult extends RunResult {
  /** Real time the run took (for cost measurements only; never feeds back into a run). */
  readonly wallMs: number;
}

export interface TotemModule {
  createTotem: CreateCore;
  PROFILES: Readonly<Record<string, TotemTimers>>;
}

/** Loads lib/totem at run time, so the simulator builds even while the protocol is absent. */
export async function loadTotem(moduleUrl?: string): Promise<TotemModule> {
  const url = moduleUrl ?? new URL('../totem/index.js', import.meta.url).href;
  let mod: Partial<TotemModule>;
  try {
    mod = (await import(url)) as Partial<TotemModule>;
  } catch (err) {
    throw new Error(`cannot load the totem core from ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof mod.createTotem !== 'function' || typeof mod.PROFILES !== 'object') {
    throw new Error(`${url} does not export createTotem() and PROFILES`);
  }
  return mod as TotemModule;
}

export function planSeed(seed: number, nodes: readonly number[], faults: readonly string[]): { nodes: number; faults: string } {
  return {
    nodes: nodes[seed % nodes.length]!,
    faults: faults[Math.floor(seed / nodes.length) % faults.length]!,
  };
}

export function runOneSeed(totem: TotemModule, seed: number, o: Omit<RangeOptions, 'seeds' | 'jobs' | 'coreModule'>, extra: { traceSink?: (line: string) => void; hashTrace?: boolean } = {}): SeedResult {
  const timers = totem.PROFILES[o.profile];
  if (timers === undefined) throw new RangeError(`unknown profile '${o.profile}': use ${Object.keys(totem.PROFILES).join(', ')}`);
  const plan = planSeed(seed, o.nodes, o.faults);
  const started = performance.now();
  const result = runSimulation({
    seed, nodes: plan.nodes, faults: plan.faults, profile: o.profile, timers, createCore: totem.createTotem,
    bug: o.bug, safetyMs: o.safetyMs, quorumFlavour: o.quorumFlavour, stopOnViolation: o.stopOnViolation, traceSink: extra.traceSink, hashTrace: extra.hashTrace,
  });
  return { ...result, wallMs: performance.now() - started };
}

/**
 * Runs every seed and calls `onResult` in ascending seed order (results from workers are
 * buffered until all earlier seeds are done, so output is the same for any --jobs).
 */
export async function runRange(o: RangeOptions, onResult: (r: SeedResult) => void): Promise<SeedResult[]> {
  const seeds = [...o.seeds];
  const results = new Map<number, SeedResult>();
  let emitted = 0;
  const ordered: SeedResult[] = [];
  const accept = (r: SeedResult): void => {
    results.set(r.seed, r);
    while (emitted < seeds.length && results.has(seeds[emitted]!)) {
      const next = results.get(seeds[emitted]!)!;
      results.delete(seeds[emitted]!);
      ordered.push(next);
      onResult(next);
      emitted++;
    }
  };
  const { seeds: _seeds, jobs, ...perSeed } = o;
  const workers = Math.max(1, Math.min(jobs, seeds.length, cpus().length * 2));
  if (workers === 1) {
    const totem = await loadTotem(o.coreModule);
    for (const seed of seeds) accept(runOneSeed(totem, seed, perSeed));
    return ordered;
  }
  // Seeds are dealt out one at a time as workers become free, so one slow seed does not leave
  // the other workers idle.
  let nextIndex = 0;
  await Promise.all(
    Array.from({ length: workers }, () =>
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: perSeed });
        const feed = (): void => {
          if (nextIndex >= seeds.length) {
            void worker.terminate().then(() => resolve());
            return;
          }
          worker.postMessage(seeds[nextIndex++]!);
        };
        worker.on('message', (m: { result?: SeedResult; error?: string; ready?: boolean }) => {
          if (m.error !== undefined) {
            reject(new Error(m.error));
            void worker.terminate();
            return;
          }
          if (m.result !== undefined) accept(m.result);
          feed();
        });
        worker.on('error', reject);
      }),
    ),
  );
  return ordered;
}

/** Parses `A-B`, `N`, or a comma list of those into a seed list. */
export function parseSeeds(value: string): number[] {
  const out: number[] = [];
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new RangeError(`bad seed range '${part}': use A-B, N, or a comma list`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from) throw new RangeError(`bad seed range '${part}'`);
    for (let s = from; s <= to; s++) out.push(s);
  }
  if (out.length === 0) throw new RangeError('no seeds given');
  return out;
}

export function parseNodeCounts(value: string): number[] {
  const out = value.split(',').map((p) => Number(p.trim()));
  for (const n of out) if (!Number.isInteger(n) || n < 2 || n > 32) throw new RangeError(`--nodes: each count must be 2..32, got '${value}'`);
  return out;
}
