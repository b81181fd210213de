/**
 * `lsb`: an LSB init script (`/etc/init.d/<name> start|stop|status`) as a resource.
 *
 * The LSB spec gives the exit codes: start/stop 0 success, 1..7 errors that OCF copied with the
 * same numbers; status 0 running, 3 not running, 1/2 dead with a stale pid or lock file, 4
 * unknown. Init scripts are often sloppier than the spec, hence the tolerance in stop.
 */
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandResult, type CommandRunner } from './command.js';
import { AgentError, OCF, type AgentContext, type MonitorResult, type OcfRc, type ResourceAgent } from './types.js';

export interface LsbParams {
  /** The script's name under the init directory. */
  name?: string;
}

export interface LsbOptions {
  /** Default /etc/init.d. */
  initDir?: string;
  runner?: CommandRunner;
  /** Upper bound for one script run when the caller's signal never fires. */
  commandTimeoutMs?: number;
  killGraceMs?: number;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
const LSB_NOT_RUNNING = 3;

export function lsb(defaults: LsbParams = {}, options: LsbOptions = {}): ResourceAgent<LsbParams> {
  const initDir = options.initDir ?? '/etc/init.d';
  const runner = options.runner ?? runCommand;

  const scriptOf = async (params: LsbParams): Promise<string> => {
    const name = (params.name ?? defaults.name ?? '').trim();
    if (name === '' || name.includes('/') || name.startsWith('.') || name.startsWith('-')) {
      throw new AgentError(OCF.ERR_CONFIGURED, `name: ${JSON.stringify(name)} is not an init script name (e.g. ssh)`);
    }
    const path = join(initDir, name);
    try {
      await access(path, fsConstants.X_OK);
    } catch {
      throw new AgentError(OCF.ERR_INSTALLED, `${path} is missing or not executable`);
    }
    return path;
  };

  const call = async (context: AgentContext<LsbParams>, path: string, action: string): Promise<CommandResult & { code: number }> => {
    const result = await runner(path, [action], {
      signal: context.signal,
      timeoutMs: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      ...(options.killGraceMs !== undefined ? { killGraceMs: options.killGraceMs } : {}),
    });
    if (result.aborted || result.timedOut) throw new AgentError(OCF.ERR_GENERIC, `${path} ${action}: ${result.aborted ? 'aborted' : 'timed out'}`);
    if (result.code === null) throw new AgentError(OCF.ERR_GENERIC, `${path} ${action} died of ${result.signal}`);
    return { ...result, code: result.code };
  };

  const failure = (path: string, action: string, result: CommandResult & { code: number }): AgentError => {
    const rc: OcfRc = result.code >= 1 && result.code <= 6 ? (result.code as OcfRc) : OCF.ERR_GENERIC;
    return new AgentError(rc, `${path} ${action} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  };

  const status = async (context: AgentContext<LsbParams>, path: string): Promise<MonitorResult> => {
    const result = await call(context, path, 'status');
    if (result.code === 0) return 'running';
    if (result.code === LSB_NOT_RUNNING) return 'not-running';
    return 'failed';
  };

  return {
    async validate(context) {
      await scriptOf(context.params);
    },

    async start(context) {
      const path = await scriptOf(context.params);
      const result = await call(context, path, 'start');
      if (result.code !== 0) throw failure(path, 'start', result);
    },

    async stop(context) {
      let path: string;
      try {
        path = await scriptOf(context.params);
      } catch (error) {
        // No script, nothing it could have started: stopping succeeds, as OCF wants.
        if (error instanceof AgentError && error.rc === OCF.ERR_INSTALLED) return;
        throw error;
      }
      const result = await call(context, path, 'stop');
      if (result.code === 0) return;
      // Many scripts fail `stop` when already stopped, against the spec; status decides.
      if ((await status(context, path)) === 'not-running') return;
      throw failure(path, 'stop', result);
    },

    async monitor(context) {
      return status(context, await scriptOf(context.params));
    },
  };
}
