/**
 * Differential check of one scenario: where sanode's scheduler settles against where Pacemaker's
 * settles. Each is run on its own result until it stops changing (a live cluster re-plans after
 * every transition), so a first step that differs but ends in the same place counts as agreement,
 * and a scheduler that keeps moving something does not.
 */
import { runPacemaker } from './pacemaker.js';
import { LEVELS, generateScenario, type Scenario } from './scenarios.js';
import { settleSanode } from './settle.js';

export interface Comparison {
  seed: number;
  agree: boolean;
  /**
   * Pacemaker placed something by a tie-break among equal scores (from its own scores): another
   * valid choice exists, so the scenario is reported but not judged.
   */
  ambiguous: boolean;
  differences: string[];
  /** crm_simulate's transition stopped early, so its end state is not its target: skipped. */
  incomplete: boolean;
  /** sanode's scheduler did not reach a fixed point (always a disagreement). */
  sanodeUnsettled: boolean;
  /** Pacemaker did not reach a fixed point within its rounds (reported; judged on its last). */
  pacemakerUnsettled: boolean;
  scenario: Scenario;
}

export function sanodePlacement(s: Scenario): { placement: Record<string, string[]>; ties: string[]; converged: boolean } {
  const settled = settleSanode(s.cib, s.quorate, s.nowMs);
  const placement: Record<string, string[]> = {};
  for (const [id, list] of Object.entries(settled.result.placement)) placement[id] = list.map((e) => `${e.node}:${e.role}`).sort();
  return { placement, ties: settled.ties, converged: settled.converged };
}

export function compareSeed(seed: number): Comparison {
  const scenario = generateScenario(seed);
  const ours = sanodePlacement(scenario);
  const theirs = runPacemaker(scenario.cib, scenario.quorate, scenario.nowMs, scenario.sets);
  const differences = comparePlacements(scenario, ours.placement, theirs.placement);
  if (!ours.converged) differences.push('sanode does not settle');
  return {
    seed,
    agree: differences.length === 0,
    ambiguous: theirs.ties.length > 0,
    differences,
    incomplete: theirs.incomplete,
    sanodeUnsettled: !ours.converged,
    pacemakerUnsettled: !theirs.converged,
    scenario,
  };
}

/** "id: sanode [..] pacemaker [..]" for every primitive placed differently. */
export function comparePlacements(scenario: Scenario, oursRaw: Record<string, string[]>, theirsRaw: Record<string, string[]>): string[] {
  // Both run an anonymous clone at most once per node (Pacemaker resets clone-node-max > 1 to 1),
  // so placements compare entry by entry, roles included.
  const ours = oursRaw;
  const theirs = theirsRaw;
  const differences: string[] = [];
  const ids = new Set([...Object.keys(ours), ...Object.keys(theirs)]);
  for (const id of [...ids].sort()) {
    const a = (ours[id] ?? []).join(',');
    const b = (theirs[id] ?? []).join(',');
    if (a !== b) differences.push(`${id}: sanode [${a}] pacemaker [${b}]`);
  }
  return differences;
}

export interface Tally {
  scenarios: number;
  judged: number;
  agree: number;
  ties: number;
  tiesAgree: number;
  incomplete: number;
}

export function tally(list: readonly Comparison[]): Tally {
  const t: Tally = { scenarios: list.length, judged: 0, agree: 0, ties: 0, tiesAgree: 0, incomplete: 0 };
  for (const c of list) {
    if (c.incomplete) t.incomplete++;
    else if (c.ambiguous) {
      t.ties++;
      if (c.agree) t.tiesAgree++;
    } else {
      t.judged++;
      if (c.agree) t.agree++;
    }
  }
  return t;
}

function line(label: string, t: Tally): string {
  const pct = t.judged === 0 ? '-' : `${((100 * t.agree) / t.judged).toFixed(1)}%`;
  return `  ${label.padEnd(16)} ${String(t.scenarios).padStart(5)} scenarios: judged ${t.judged}, agree ${t.agree} (${pct}); ties ${t.ties} (agree ${t.tiesAgree}); pacemaker incomplete ${t.incomplete}\n`;
}

/** Agreement overall, per level (each scenario in exactly one) and per feature (overlapping). */
export function summarize(list: readonly Comparison[]): string {
  let out = line('all', tally(list));
  for (const level of LEVELS) out += line(`level ${level}`, tally(list.filter((c) => c.scenario.level === level)));
  const features = [...new Set(list.flatMap((c) => c.scenario.features))].sort();
  for (const f of features) out += line(`+ ${f}`, tally(list.filter((c) => c.scenario.features.includes(f))));
  const unsettled = list.filter((c) => c.sanodeUnsettled).length;
  const pcmkUnsettled = list.filter((c) => c.pacemakerUnsettled).length;
  out += `  sanode unsettled ${unsettled}; pacemaker unsettled ${pcmkUnsettled}\n`;
  return out;
}
