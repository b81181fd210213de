/**
 * totem: membership and agreed-order messaging (a simplified Totem single-ring protocol).
 *
 * Takes: packets (`receive`), time (`tick`), API calls (`broadcast`, `leave`).
 * Emits: packets to send, a ring seq to persist (BEFORE sending), and events ('view', 'deliver')
 * through `takeOutput()`.
 * Never: reads a clock, sets a timer, opens a socket, draws a random number or keeps module state
 * (fifty nodes share one process in the simulator). See docs/totem.md.
 */
import { TotemNode } from './core.js';
import type { TotemConfig, TotemCore } from './types.js';

export * from './types.js';
export { PROFILES, validateTotemConfig } from './config.js';
export { Kind as TotemMessageKind } from './messages.js';
export { RECOVER_CHUNK_MESSAGES_MAX } from './core.js';

/** Creates a node that starts gathering at once: the first takeOutput() holds its join. */
export function createTotem(config: TotemConfig, nowMs: number): TotemCore {
  return new TotemNode(config, nowMs);
}
