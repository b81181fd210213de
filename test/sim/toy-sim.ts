/** Runs the simulator on the toy core (helpers for the tests; not itself a test file). */
import type { BugName } from '../../lib/sim/bugs.js';
import { runSimulation, type RunResult } from '../../lib/sim/simulator.js';
import { createToyCore, TOY_TIMERS, type ToyMode } from './toy-core.js';

export function runToy(seed: number, options: { mode?: ToyMode; bug?: BugName; nodes?: number; hashTrace?: boolean; stopOnViolation?: boolean } = {}): RunResult {
  return runSimulation({
    seed,
    nodes: options.nodes ?? 3,
    faults: 'none',
    profile: 'lan',
    timers: TOY_TIMERS,
    createCore: (config, nowMs) => createToyCore(config, nowMs, options.mode ?? 'sequencer'),
    bug: options.bug,
    hashTrace: options.hashTrace,
    stopOnViolation: options.stopOnViolation,
    // The toy has no retransmission: packets sent before a peer starts would be lost for good.
    startSpreadMs: 0,
    // Plain majority: no quorate notes at start-up, which the toy (no retransmission) could lose.
    quorum: {},
    // The toy orders only what the harness broadcasts; resources would add CIB traffic it cannot carry.
    resources: false,
  });
}
