/**
 * Differential check of one scenario: sanode's placement against crm_simulate's.
 */
import { schedule } from '../../lib/scheduler/index.js';
import { runPacemaker } from './pacemaker.js';
import { generateScenario, type Scenario } from './scenarios.js';

export interface Comparison {
  seed: number;
  agree: boolean;
  /** sanode broke a tie between equal scores; pacemaker's choice may differ and both are valid. */
  ambiguous: boolean;
  differences: string[];
  /** crm_simulate's transition stopped early, so its end state is not its target: skipped. */
  incomplete: boolean;
  scenario: Scenario;
}

export function sanodePlacement(s: Scenario): { placement: Record<string, string[]>; ties: string[] } {
  const result = schedule(s.cib, { quorate: s.quorate, nowMs: s.nowMs });
  const placement: Record<string, string[]> = {};
  for (const [id, list] of Object.entries(result.placement)) placement[id] = list.map((e) => `${e.node}:${e.role}`).sort();
  return { placement, ties: result.ties };
}

export function compareSeed(seed: number): Comparison {
  const scenario = generateScenario(seed);
  const ours = sanodePlacement(scenario);
  const theirs = runPacemaker(scenario.cib, scenario.quorate, scenario.nowMs);
  const differences: string[] = [];
  const ids = new Set([...Object.keys(ours.placement), ...Object.keys(theirs.placement)]);
  for (const id of [...ids].sort()) {
    const a = (ours.placement[id] ?? []).join(',');
    const b = (theirs.placement[id] ?? []).join(',');
    if (a !== b) differences.push(`${id}: sanode [${a}] pacemaker [${b}]`);
  }
  return { seed, agree: differences.length === 0, ambiguous: ours.ties.length > 0, differences, incomplete: theirs.incomplete, scenario };
}
