/**
 * Running external programs for agents: no shell, a bounded lifetime, and a kill that reaches
 * the whole process tree a script started.
 *
 * Every agent that shells out (vip, ocf, systemd, lsb, process) goes through `runCommand`, so the
 * rules live in one place:
 * - the child gets its own process group (`detached`), so on abort or timeout SIGTERM and then
 *   SIGKILL go to the group and also reach what a shell script forked (a `sleep`, a daemon that
 *   has not yet detached), not only the script itself;
 * - an exit status is a result, not an exception: callers map codes to OCF meanings themselves;
 * - a missing program is `AgentError(ERR_INSTALLED)`, which is what the OCF API says it means.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { AgentError, OCF } from './types.js';

export interface RunCommandOptions {
  /** Aborting sends SIGTERM to the child's process group, then SIGKILL after `killGraceMs`. */
  signal?: AbortSignal;
  /** The child's whole environment (as in child_process): merge with `process.env` yourself. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  killGraceMs?: number;
  /** Kills the child like an abort when it runs longer than this. */
  timeoutMs?: number;
  /** Output past this many bytes per stream is dropped, so a chatty child cannot exhaust memory. */
  maxOutputBytes?: number;
}

export interface CommandResult {
  /** Exit code, or null when the child died of a signal. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when the child was killed because `signal` aborted. */
  aborted: boolean;
  /** True when the child was killed because `timeoutMs` passed. */
  timedOut: boolean;
}

/** The shape agents call, so tests and namespaces can substitute their own (see `netnsRunner`). */
export type CommandRunner = (file: string, args: readonly string[], options?: RunCommandOptions) => Promise<CommandResult>;

const DEFAULT_KILL_GRACE_MS = 2000;
const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
/**
 * After the child exits, how long to wait for its pipes to close. A daemon that a start script
 * forked can inherit stdout and hold it open for its whole life; the operation must not wait for
 * that, but a child that merely exited should still have its last output read.
 */
const PIPE_DRAIN_MS = 500;

export function runCommand(file: string, args: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const { signal } = options;
  if (signal?.aborted) {
    // Starting a program only to kill it at once would still run part of it.
    return Promise.resolve({ code: null, signal: null, stdout: '', stderr: '', aborted: true, timedOut: false });
  }
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(file, [...args], {
        cwd: options.cwd,
        env: options.env,
        detached: true,
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (error) {
      reject(spawnError(file, error));
      return;
    }
    const pid = child.pid;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (stdoutBytes < maxOutputBytes) stdout.push(chunk.subarray(0, maxOutputBytes - stdoutBytes));
      stdoutBytes += chunk.length;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderrBytes < maxOutputBytes) stderr.push(chunk.subarray(0, maxOutputBytes - stderrBytes));
      stderrBytes += chunk.length;
    });
    if (options.input !== undefined && child.stdin) {
      // A child that exits without reading its input makes the write fail with EPIPE; that is
      // the child's business, not an error of ours.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }

    let aborted = false;
    let timedOut = false;
    let exited = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const killGroup = (name: NodeJS.Signals): void => {
      if (pid === undefined) return;
      try {
        process.kill(-pid, name);
      } catch {
        // The group is gone already (or the child never became a group leader): try the child.
        try {
          if (!exited) process.kill(pid, name);
        } catch {
          // Gone.
        }
      }
    };
    const terminate = (): void => {
      killGroup('SIGTERM');
      // The SIGKILL goes to the group even if the leader has exited: a script's children that
      // ignore SIGTERM must not outlive the operation that started them.
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), killGraceMs);
    };
    const onAbort = (): void => {
      if (exited) return;
      aborted = true;
      terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timeoutTimer = setTimeout(() => {
        if (exited) return;
        timedOut = true;
        terminate();
      }, options.timeoutMs);
    }

    const cleanup = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (timeoutTimer) clearTimeout(timeoutTimer);
      if (drainTimer) clearTimeout(drainTimer);
      // killTimer is left running on purpose when we terminated: the group gets its SIGKILL.
      if (killTimer && !aborted && !timedOut) clearTimeout(killTimer);
    };
    let exitCode: number | null = null;
    let exitSignal: string | null = null;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        code: exitCode,
        signal: exitSignal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        aborted,
        timedOut,
      });
    };

    child.once('error', (error) => {
      if (settled) return;
      if (exited || pid !== undefined) {
        // An error after a successful spawn (a failed kill, a stdin error) does not change the
        // exit status we are about to report.
        return;
      }
      settled = true;
      cleanup();
      reject(spawnError(file, error));
    });
    child.once('exit', (code, sig) => {
      exited = true;
      exitCode = code;
      exitSignal = sig;
      drainTimer = setTimeout(finish, PIPE_DRAIN_MS);
    });
    child.once('close', () => {
      if (exited) finish();
    });
  });
}

function spawnError(file: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new AgentError(OCF.ERR_INSTALLED, `${file}: program not found`);
  if (code === 'EACCES') return new AgentError(OCF.ERR_PERM, `${file}: permission denied (not executable?)`);
  return new AgentError(OCF.ERR_GENERIC, `${file}: cannot run: ${(error as Error).message}`);
}

/**
 * True when `name` is an executable file: a path is checked as given, a bare name is looked up
 * in `PATH` (of `env`, default the process's) the way spawn would.
 */
export async function commandExists(name: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (name === '') return false;
  const candidates = name.includes('/')
    ? [name]
    : (env['PATH'] ?? '').split(delimiter).filter((dir) => isAbsolute(dir)).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, fsConstants.X_OK);
      if ((await stat(candidate)).isFile()) return true;
    } catch {
      // Not here.
    }
  }
  return false;
}

/**
 * A runner that runs every command inside network namespace `netns` (`ip netns exec`, which
 * execs the command in place, so the process-group kill still reaches it). Namespaces share the
 * file system, so a missing program is detected up front: `ip netns exec` would otherwise report
 * it as an exit code that looks like the program's own failure.
 */
export function netnsRunner(netns: string, base: CommandRunner = runCommand): CommandRunner {
  if (!/^[A-Za-z0-9_.-]+$/.test(netns)) throw new AgentError(OCF.ERR_CONFIGURED, `netns ${JSON.stringify(netns)} is not a namespace name`);
  return async (file, args, options) => {
    if (!(await commandExists(file, options?.env ?? process.env))) {
      throw new AgentError(OCF.ERR_INSTALLED, `${file}: program not found`);
    }
    return base('ip', ['netns', 'exec', netns, file, ...args], options);
  };
}
