/**
 * sim: the deterministic simulator for the totem protocol (see docs/simulator.md).
 *
 * Takes: a seed, a node count, a fault mix, timers and a core factory (`createTotem`).
 * Emits: a RunResult with the violations the guarantee checkers found, each with a readable
 * trace and the one-line command that replays it.
 * Never: reads the real clock, calls Math.random(), or keeps module-level state; a run is a pure
 * function of its options.
 */
export { runSimulation, reproduceCommand, livenessBudget, NETWORK_MODELS } from './simulator.js';
export type { SimOptions, RunResult, RunStats, CreateCore } from './simulator.js';
export { runRange, runOneSeed, loadTotem, planSeed, parseSeeds, parseNodeCounts } from './runner.js';
export type { RangeOptions, SeedResult, TotemModule } from './runner.js';
export { BUGS, BUG_CATCHERS, createBugInjector, isBugName } from './bugs.js';
export type { BugName } from './bugs.js';
export { FAULT_KINDS, FAULT_MIX_HELP, parseFaultMix, parseFaultMixes } from './faults.js';
export { createCheckers } from './checkers/index.js';
export { Prng } from './prng.js';
export type { Checker, CheckerName, EndState, Observation, Violation } from './types.js';
