/**
 * Resource agents (`sanode/agents`): the agent contract and the agents sanode ships.
 */
export * from './types.js';
