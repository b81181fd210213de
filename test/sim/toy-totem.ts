/**
 * The toy core packaged like lib/totem (createTotem + PROFILES), so the runner and its worker
 * threads can be tested without the real protocol. Not itself a test file.
 */
import type { TotemConfig, TotemCore, TotemTimers } from '../../lib/totem/types.js';
import { createToyCore, TOY_TIMERS } from './toy-core.js';

export function createTotem(config: TotemConfig, nowMs: number): TotemCore {
  return createToyCore(config, nowMs, 'deliver-on-receipt');
}

export const PROFILES: Record<string, TotemTimers> = { lan: TOY_TIMERS };
