/**
 * Resource sets (pcs `constraint colocation set` / `order set`, crmsh `colocation c inf: A B C`)
 * written as the pairwise constraints they stand for, so the scheduler only ever sees pairs.
 *
 * Takes: a set constraint as Pacemaker defines it (sets in order, each sequential or not, with an
 * optional role or action for all its members).
 * Emits: plain colocation and order constraints with ids `<constraint id>-<n>`.
 * Must never: invent an ordering or colocation the sets do not state.
 *
 * The meaning, from Pacemaker Explained ("Resource Sets") and as Pacemaker 2.1.5 unpacks them: in
 * a sequential colocation set each member is placed with the member before it, or, with a
 * negative score, kept apart from every member before it (a chain of anti-colocations would let
 * the first and third share a node); a non-sequential set colocates nothing within itself.
 * Between two sets the first member of the earlier set depends on the last member of the later
 * one (a non-sequential side contributes every member). In a
 * sequential order set each member comes after the one before it; between two sets the last
 * member of the earlier set (every member when non-sequential) comes before the first of the
 * later one (every member when non-sequential).
 */
import type { ColocationConstraint, OrderAction, OrderConstraint, Score } from './model.js';

export type SetRole = 'Started' | 'Unpromoted' | 'Promoted';

export interface ResourceSet {
  resources: string[];
  /** Default true. */
  sequential?: boolean;
  /** Colocation sets: the role every member takes part in. */
  role?: SetRole;
  /** Order sets: the action of every member. */
  action?: OrderAction;
}

function sequential(s: ResourceSet): boolean {
  return s.sequential ?? true;
}

export function expandColocationSets(id: string, score: Score, sets: readonly ResourceSet[]): ColocationConstraint[] {
  const out: ColocationConstraint[] = [];
  const add = (rsc: string, rscRole: SetRole | undefined, withRsc: string, withRscRole: SetRole | undefined): void => {
    if (rsc === withRsc) return;
    out.push({
      kind: 'colocation',
      id: `${id}-${out.length + 1}`,
      rsc,
      withRsc,
      score,
      ...(rscRole === undefined ? {} : { rscRole }),
      ...(withRscRole === undefined ? {} : { withRscRole }),
    });
  };
  for (const s of sets) {
    if (!sequential(s)) continue;
    for (let i = 1; i < s.resources.length; i++) {
      if (score >= 0) add(s.resources[i]!, s.role, s.resources[i - 1]!, s.role);
      else for (let j = 0; j < i; j++) add(s.resources[i]!, s.role, s.resources[j]!, s.role);
    }
  }
  for (let k = 1; k < sets.length; k++) {
    const earlier = sets[k - 1]!;
    const later = sets[k]!;
    const deps = sequential(earlier) ? earlier.resources.slice(0, 1) : earlier.resources;
    const pris = sequential(later) ? later.resources.slice(-1) : later.resources;
    for (const d of deps) for (const p of pris) add(d, earlier.role, p, later.role);
  }
  return out;
}

export function expandOrderSets(
  id: string,
  orderKind: 'Mandatory' | 'Optional' | undefined,
  symmetrical: boolean | undefined,
  sets: readonly ResourceSet[],
): OrderConstraint[] {
  const out: OrderConstraint[] = [];
  const add = (first: string, firstAction: OrderAction | undefined, then: string, thenAction: OrderAction | undefined): void => {
    if (first === then) return;
    out.push({
      kind: 'order',
      id: `${id}-${out.length + 1}`,
      first,
      then,
      ...(orderKind === undefined ? {} : { orderKind }),
      ...(firstAction === undefined ? {} : { firstAction }),
      ...(thenAction === undefined ? {} : { thenAction }),
      ...(symmetrical === undefined ? {} : { symmetrical }),
    });
  };
  for (const s of sets) {
    if (!sequential(s)) continue;
    for (let i = 1; i < s.resources.length; i++) add(s.resources[i - 1]!, s.action, s.resources[i]!, s.action);
  }
  for (let k = 1; k < sets.length; k++) {
    const earlier = sets[k - 1]!;
    const later = sets[k]!;
    const firsts = sequential(earlier) ? earlier.resources.slice(-1) : earlier.resources;
    const thens = sequential(later) ? later.resources.slice(0, 1) : later.resources;
    // A set without an action starts; spelt out, since a pair's then-action defaults to its first-action.
    const thenAction = later.action ?? (earlier.action === undefined ? undefined : 'start');
    for (const f of firsts) for (const t of thens) add(f, earlier.action, t, thenAction);
  }
  return out;
}
