/**
 * A clock whose time moves only when a test says so. advance() fires due timers in time order
 * and lets promise callbacks run after each, so a timer's consequences land before the next.
 */
import type { ExecutorClock } from '../../lib/executor/index.js';

export async function settle(): Promise<void> {
  // setImmediate runs after every queued microtask, however long the promise chain.
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class FakeClock implements ExecutorClock {
  private nowMs = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { atMs: number; callback: () => void }>();

  now(): number {
    return this.nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.nowMs + delayMs, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  async advance(ms: number): Promise<void> {
    const targetMs = this.nowMs + ms;
    await settle();
    for (let fired = 0; fired < 10_000; fired++) {
      let due: [number, { atMs: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].atMs <= targetMs && (due === undefined || entry[1].atMs < due[1].atMs)) due = entry;
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.nowMs = due[1].atMs;
      due[1].callback();
      await settle();
    }
    this.nowMs = targetMs;
    await settle();
  }
}
