/**
 * Fault mixes: which kinds of trouble the safety phase of a run may contain.
 *
 * Every mix keeps latency jitter (so packets are reordered) and application broadcasts; the
 * named faults add to that. A comma list enables several at once; `all` enables every one.
 */

export const FAULT_KINDS = ['loss', 'partition', 'asymmetric', 'crash', 'pause', 'clock'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The names accepted by `--faults`, with what each does (printed by docs and the CLI help). */
export const FAULT_MIX_HELP: Readonly<Record<'none' | FaultKind | 'all', string>> = {
  none: 'no faults: latency jitter (reordering) and broadcasts only',
  loss: 'each packet is lost with a per-run probability of 0-30% and duplicated with 0-10% (some duplicates arrive much later)',
  partition: 'symmetric splits of the live nodes into 2 or 3 groups (2|1, 2|2, 3|2, 1|1|1, ...) or one node isolated, each healed after a while',
  asymmetric: 'one-way cuts: a single link A->B, a node that can only send, or a node that can only receive; each healed after a while',
  crash: 'a node crashes (state lost, packets to it dropped) or leaves gracefully and then stops; most restart later with a new incarnation and their persisted ringSeq',
  pause: 'a node freezes (GC, paused VM) for a while: its timers do not fire and its inbound packets queue up; then it resumes with a jump in its clock',
  clock: 'clock rates drift by up to 5% (instead of 1%) and timers fire late by up to a quarter of the token timeout (event-loop lag)',
  all: 'every fault above',
};

export type FaultSet = ReadonlySet<FaultKind>;

/** Parses one mix such as `loss,partition` or `all` into the set of enabled faults. */
export function parseFaultMix(mix: string): FaultSet {
  const out = new Set<FaultKind>();
  for (const part of mix.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    if (part === 'none') continue;
    if (part === 'all') {
      for (const f of FAULT_KINDS) out.add(f);
      continue;
    }
    if (!(FAULT_KINDS as readonly string[]).includes(part)) {
      throw new RangeError(`unknown fault '${part}': use none, all, or a comma list of ${FAULT_KINDS.join(', ')}`);
    }
    out.add(part as FaultKind);
  }
  return out;
}

/**
 * Splits a `--faults` value into the mixes that runs cycle through. `a;b` or `a|b` separate
 * mixes; a plain comma list is one mix (so `--faults loss,crash` means both together), except
 * the shorthand `each`, which cycles through none, every single fault, and all.
 */
export function parseFaultMixes(value: string): string[] {
  if (value === 'each') return ['none', ...FAULT_KINDS, 'all'];
  const mixes = value.split(/[;|]/).map((m) => m.trim()).filter((m) => m !== '');
  for (const m of mixes) parseFaultMix(m);
  if (mixes.length === 0) throw new RangeError('--faults needs at least one mix');
  return mixes;
}
