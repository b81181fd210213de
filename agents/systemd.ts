/**
 * `systemd`: a systemd unit as a resource, driven through `systemctl`.
 *
 * start and stop are `systemctl start|stop <unit>`, which wait for the job to finish (so a
 * Type=notify or forking service is up when start returns); monitor reads `systemctl is-active`.
 * pacemaker talks to systemd over D-Bus instead; systemctl is the same API with no binding to
 * carry. Honesty note: the tests drive a fake systemctl (the test machines run no systemd), so
 * they prove the commands sent and the mapping of answers, not real systemd's behaviour.
 */
import { commandExists, runCommand, type CommandResult, type CommandRunner } from './command.js';
import { AgentError, OCF, type AgentContext, type MonitorResult, type ResourceAgent } from './types.js';

export interface SystemdParams {
  /** The unit; a bare name means `<name>.service`. */
  unit?: string;
}

export interface SystemdOptions {
  /** Default `systemctl`, looked up in PATH. */
  systemctlPath?: string;
  runner?: CommandRunner;
  /** Upper bound for one systemctl call when the caller's signal never fires. */
  commandTimeoutMs?: number;
}

const UNIT_SUFFIXES = /\.(service|socket|target|mount|automount|swap|path|timer|slice|scope|device)$/;
const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

export function systemd(defaults: SystemdParams = {}, options: SystemdOptions = {}): ResourceAgent<SystemdParams> {
  const systemctl = options.systemctlPath ?? 'systemctl';
  const runner = options.runner ?? runCommand;

  const unitOf = (params: SystemdParams): string => {
    const unit = (params.unit ?? defaults.unit ?? '').trim();
    // A leading dash would be read as an option by systemctl.
    if (unit === '' || unit.startsWith('-') || /[\s/]/.test(unit)) {
      throw new AgentError(OCF.ERR_CONFIGURED, `unit: ${JSON.stringify(unit)} is not a unit name (e.g. nginx or nginx.service)`);
    }
    return UNIT_SUFFIXES.test(unit) ? unit : `${unit}.service`;
  };

  const call = async (context: AgentContext<SystemdParams>, args: string[]): Promise<CommandResult> => {
    const result = await runner(systemctl, args, { signal: context.signal, timeoutMs: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS });
    if (result.aborted || result.timedOut) {
      throw new AgentError(OCF.ERR_GENERIC, `systemctl ${args.join(' ')}: ${result.aborted ? 'aborted' : 'timed out'}`);
    }
    return result;
  };

  const loadState = async (context: AgentContext<SystemdParams>, unit: string): Promise<string> => {
    const result = await call(context, ['show', '--property=LoadState', '--value', unit]);
    return result.code === 0 ? result.stdout.trim() : '';
  };

  return {
    async validate(context) {
      const unit = unitOf(context.params);
      if (!(await commandExists(systemctl))) throw new AgentError(OCF.ERR_INSTALLED, `${systemctl} not found (is this a systemd host?)`);
      if ((await loadState(context, unit)) === 'not-found') throw new AgentError(OCF.ERR_INSTALLED, `unit ${unit} is not installed on this node`);
    },

    async start(context) {
      const unit = unitOf(context.params);
      const result = await call(context, ['start', unit]);
      if (result.code !== 0) {
        const missing = (await loadState(context, unit)) === 'not-found';
        throw new AgentError(missing ? OCF.ERR_INSTALLED : OCF.ERR_GENERIC, `systemctl start ${unit} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
      }
    },

    async stop(context) {
      const unit = unitOf(context.params);
      const result = await call(context, ['stop', unit]);
      if (result.code === 0) return;
      // A unit that is not installed is certainly not running: stop is idempotent.
      if ((await loadState(context, unit)) === 'not-found') return;
      throw new AgentError(OCF.ERR_GENERIC, `systemctl stop ${unit} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
    },

    async monitor(context): Promise<MonitorResult> {
      const unit = unitOf(context.params);
      // is-active answers on stdout whatever its exit code (0 only for active).
      const result = await call(context, ['is-active', unit]);
      const state = result.stdout.trim().split('\n')[0]?.trim() ?? '';
      switch (state) {
        case 'active':
        case 'reloading':
        // Still coming up or going down: the process is there, and calling it stopped would
        // make the cluster start a second copy elsewhere.
        case 'activating':
        case 'deactivating':
          return 'running';
        case 'inactive':
        case 'unknown':
        case 'maintenance':
          return 'not-running';
        case 'failed':
          return 'failed';
        default:
          throw new AgentError(OCF.ERR_GENERIC, `systemctl is-active ${unit} said ${JSON.stringify(state)} (exit ${result.code}): ${result.stderr.trim()}`);
      }
    },
  };
}
