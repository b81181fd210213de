/**
 * Liveness of real processes and bounded polling, for the tests that start children and check
 * that sanode ended them (or left them alone).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';

/**
 * Alive and not a zombie: a killed orphan that nobody reaps (an init that does not reap, or a
 * test runner that is not its parent) stays in the process table as a zombie.
 */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may itself contain ')'.
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `done` every 20 ms until it holds; fails the test naming `what` after `timeoutMs`. */
export async function waitFor(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (let i = 0; i < timeoutMs / 20; i++) {
    if (done()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** SIGKILL to the process group `pid` leads and to `pid` itself; either may be gone already. */
export function killByPid(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * The PIDs and temp dirs a test file started. `clear()` kills the PIDs (by PID and group) and
 * removes the dirs; it also runs at exit, so a test that hangs past its finally leaks nothing.
 */
export class Started {
  readonly pids = new Set<number>();
  readonly dirs = new Set<string>();

  constructor() {
    process.once('exit', () => this.clear());
  }

  clear(): void {
    for (const pid of this.pids) killByPid(pid);
    this.pids.clear();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }
}
