/**
 * The executor's only contact with time. Tests pass a fake one to fire timeouts and recurring
 * monitors on demand instead of sleeping.
 */
export interface ExecutorClock {
  /**
   * Milliseconds. Only stamps records (OpRecord.timeMs, lastFailureMs); every timeout and
   * interval is a timer, so a clock jump cannot make an operation time out early or late.
   */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Wall-clock stamps, because the records are replicated in the CIB and compared with other
 * nodes' time (failure-timeout), as pacemaker's last-rc-change is; a monotonic reading means
 * nothing on another host.
 */
export const realClock: ExecutorClock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Node fires a longer setTimeout at once (with a warning), so longer timeouts are refused. */
export const MAX_TIMER_MS = 2_147_483_647;
