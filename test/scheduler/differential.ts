/**
 * Differential check of one scenario: sanode's placement against crm_simulate's.
 */
import { listPrimitives } from '../../lib/cib/model.js';
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

/**
 * Pacemaker records an anonymous clone's history once per node, so with clone-node-max > 1 the
 * output CIB cannot say how many instances run on a node or which one is promoted: compare the
 * nodes only.
 */
function comparable(s: Scenario, placement: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = { ...placement };
  for (const info of listPrimitives(s.cib.config)) {
    if ((info.clone?.meta?.cloneNodeMax ?? 1) <= 1) continue;
    const id = info.primitive.id;
    out[id] = [...new Set((out[id] ?? []).map((e) => e.split(':')[0]!))].sort();
  }
  return out;
}

export function compareSeed(seed: number): Comparison {
  const scenario = generateScenario(seed);
  const ours = sanodePlacement(scenario);
  const theirs = runPacemaker(scenario.cib, scenario.quorate, scenario.nowMs);
  const differences = comparePlacements(scenario, ours.placement, theirs.placement);
  return { seed, agree: differences.length === 0, ambiguous: ours.ties.length > 0, differences, incomplete: theirs.incomplete, scenario };
}

/** "id: sanode [..] pacemaker [..]" for every primitive placed differently. */
export function comparePlacements(scenario: Scenario, oursRaw: Record<string, string[]>, theirsRaw: Record<string, string[]>): string[] {
  const ours = comparable(scenario, oursRaw);
  const theirs = comparable(scenario, theirsRaw);
  const differences: string[] = [];
  const ids = new Set([...Object.keys(ours), ...Object.keys(theirs)]);
  for (const id of [...ids].sort()) {
    const a = (ours[id] ?? []).join(',');
    const b = (theirs[id] ?? []).join(',');
    if (a !== b) differences.push(`${id}: sanode [${a}] pacemaker [${b}]`);
  }
  return differences;
}
