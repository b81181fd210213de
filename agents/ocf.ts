/**
 * `ocf`: runs an existing OCF resource agent script (ocf:heartbeat:IPaddr2, a vendor's agent…)
 * unchanged, the way pacemaker-execd does: the action as the only argument, the parameters as
 * OCF_RESKEY_<name> in the environment, the result as the exit code.
 *
 * Which script: the factory's `provider`+`type` (at $OCF_ROOT/resource.d/<provider>/<type>) or
 * `path`; when the factory names none, the resource's params `provider`, `type` and `path` do, and
 * those three are then not passed to the script. Every other param is passed as OCF_RESKEY_<name>.
 * A param named `CRM_meta_<x>` overrides the meta value of that name (timeout, interval…).
 */
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsRunner, runCommand, type CommandResult, type CommandRunner } from './command.js';
import { AgentError, OCF, type AgentContext, type MonitorResult, type OcfRc, type ResourceAgent } from './types.js';

export type OcfParams = Record<string, string | number | boolean | undefined>;

export interface OcfOptions {
  provider?: string;
  type?: string;
  /** An explicit script path; wins over provider/type. */
  path?: string;
  /** Default: $OCF_ROOT, else /usr/lib/ocf (where Debian's resource-agents installs). */
  ocfRoot?: string;
  /** OCF_RESOURCE_INSTANCE: the resource's id; scripts use it to name state and lock files. */
  instance?: string;
  /**
   * Told to the script as OCF_RESKEY_CRM_meta_timeout, and enforced: past it the script's process
   * group gets SIGTERM, then SIGKILL after `killGraceMs`. Default 20 s, pacemaker's default.
   */
  timeoutMs?: number;
  /** Told to the script as OCF_RESKEY_CRM_meta_interval for monitor (0 for other actions). */
  monitorIntervalMs?: number;
  killGraceMs?: number;
  /** Runs the script inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Runs the commands; wins over `netns`. */
  runner?: CommandRunner;
}

export const DEFAULT_OCF_ROOT = '/usr/lib/ocf';
export const DEFAULT_OCF_TIMEOUT_MS = 20_000;
const RESERVED = new Set(['provider', 'type', 'path']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SCRIPT_PART = /^[A-Za-z0-9_.+-]+$/;

export function ocf(options: OcfOptions = {}): ResourceAgent<OcfParams> {
  const ocfRoot = options.ocfRoot ?? process.env['OCF_ROOT'] ?? DEFAULT_OCF_ROOT;
  const runner = options.runner ?? (options.netns ? netnsRunner(options.netns) : runCommand);
  const scriptInOptions = options.path !== undefined || options.provider !== undefined || options.type !== undefined;

  const scriptPath = (params: OcfParams): string => {
    const source = scriptInOptions ? options : { path: str(params['path']), provider: str(params['provider']), type: str(params['type']) };
    if (source.path) return source.path;
    const { provider, type } = source;
    if (!provider || !type) throw new AgentError(OCF.ERR_CONFIGURED, 'ocf: set provider and type (e.g. heartbeat, Dummy) or path');
    // Path traversal through a param would run an arbitrary file as root.
    if (!SCRIPT_PART.test(provider) || !SCRIPT_PART.test(type) || provider.startsWith('.') || type.startsWith('.')) {
      throw new AgentError(OCF.ERR_CONFIGURED, `ocf: provider ${JSON.stringify(provider)} / type ${JSON.stringify(type)} is not a plain name`);
    }
    return join(ocfRoot, 'resource.d', provider, type);
  };

  const environment = (params: OcfParams, action: string): { env: NodeJS.ProcessEnv; timeoutMs: number } => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // A variable left over from the parent (say the parent itself runs under pacemaker) must
    // not leak in as a parameter this resource never set.
    for (const key of Object.keys(env)) if (key.startsWith('OCF_RESKEY_')) delete env[key];
    const meta: Record<string, string> = {
      timeout: String(options.timeoutMs ?? DEFAULT_OCF_TIMEOUT_MS),
      interval: String(action === 'monitor' ? (options.monitorIntervalMs ?? 0) : 0),
    };
    for (const [name, value] of Object.entries(params)) {
      if (value === undefined || (!scriptInOptions && RESERVED.has(name))) continue;
      if (!NAME.test(name)) throw new AgentError(OCF.ERR_CONFIGURED, `ocf: parameter name ${JSON.stringify(name)} cannot be an environment variable`);
      if (name.startsWith('CRM_meta_')) meta[name.slice('CRM_meta_'.length)] = String(value);
      else env[`OCF_RESKEY_${name}`] = String(value);
    }
    for (const [name, value] of Object.entries(meta)) env[`OCF_RESKEY_CRM_meta_${name}`] = value;
    env['OCF_ROOT'] = ocfRoot;
    env['OCF_FUNCTIONS_DIR'] = join(ocfRoot, 'lib', 'heartbeat');
    env['OCF_RA_VERSION_MAJOR'] = '1';
    env['OCF_RA_VERSION_MINOR'] = '1';
    env['OCF_RESOURCE_INSTANCE'] = options.instance ?? `sanode-${str(params['type']) ?? options.type ?? 'resource'}`;
    const timeoutMs = Number(meta['timeout']);
    if (!(timeoutMs > 0)) throw new AgentError(OCF.ERR_CONFIGURED, `ocf: CRM_meta_timeout ${JSON.stringify(meta['timeout'])} must be milliseconds > 0`);
    return { env, timeoutMs };
  };

  /** Runs one action; returns its exit code, throwing only when it did not finish by itself. */
  const act = async (action: string, params: OcfParams, signal: AbortSignal | undefined): Promise<{ rc: number; result: CommandResult }> => {
    const path = scriptPath(params);
    try {
      await access(path, fsConstants.X_OK);
    } catch {
      throw new AgentError(OCF.ERR_INSTALLED, `ocf: ${path} is missing or not executable (is Debian package resource-agents installed?)`);
    }
    const { env, timeoutMs } = environment(params, action);
    const result = await runner(path, [action], {
      env,
      ...(signal ? { signal } : {}),
      timeoutMs,
      ...(options.killGraceMs !== undefined ? { killGraceMs: options.killGraceMs } : {}),
    });
    if (result.aborted) throw new AgentError(OCF.ERR_GENERIC, `ocf: ${path} ${action} aborted`);
    if (result.timedOut) throw new AgentError(OCF.ERR_GENERIC, `ocf: ${path} ${action} timed out after ${timeoutMs} ms and was killed`);
    if (result.code === null) throw new AgentError(OCF.ERR_GENERIC, `ocf: ${path} ${action} died of ${result.signal}`);
    return { rc: result.code, result };
  };

  const fail = (action: string, rc: number, result: CommandResult): AgentError => {
    const reason = lastLine(result.stderr) ?? lastLine(result.stdout) ?? '';
    // 1..6 keep their OCF meaning (installed, configured, …); a 7, 8 or 9 where no monitor asked
    // for one, or a code outside OCF, is just a failure.
    const ocfRc: OcfRc = rc >= 1 && rc <= 6 ? (rc as OcfRc) : OCF.ERR_GENERIC;
    return new AgentError(ocfRc, `ocf ${action} exited ${rc}${reason ? `: ${reason}` : ''}`);
  };

  /** start, promote, demote: only 0 is success. */
  const simple = (action: string) => async (context: AgentContext<OcfParams>): Promise<void> => {
    const { rc, result } = await act(action, context.params, context.signal);
    if (rc !== OCF.SUCCESS) throw fail(action, rc, result);
  };

  return {
    start: simple('start'),
    promote: simple('promote'),
    demote: simple('demote'),

    async stop(context) {
      const { rc, result } = await act('stop', context.params, context.signal);
      // "Not running" is what stop is for; some older agents report it instead of 0.
      if (rc !== OCF.SUCCESS && rc !== OCF.NOT_RUNNING) throw fail('stop', rc, result);
    },

    async monitor(context): Promise<MonitorResult> {
      const { rc, result } = await act('monitor', context.params, context.signal);
      switch (rc) {
        case OCF.SUCCESS:
          return 'running';
        case OCF.NOT_RUNNING:
          return 'not-running';
        case OCF.RUNNING_PROMOTED:
          return 'running-promoted';
        case OCF.FAILED_PROMOTED:
          return 'failed-promoted';
        default:
          throw fail('monitor', rc, result);
      }
    },

    async validate(context) {
      const { rc, result } = await act('validate-all', context.params, context.signal);
      // An agent without validate-all says "unimplemented": there is nothing it could check.
      if (rc !== OCF.SUCCESS && rc !== OCF.ERR_UNIMPLEMENTED) throw fail('validate-all', rc, result);
    },

    async metaData() {
      if (!scriptInOptions) throw new AgentError(OCF.ERR_CONFIGURED, 'ocf: meta-data needs provider+type or path in the factory options');
      const { rc, result } = await act('meta-data', {}, undefined);
      if (rc !== OCF.SUCCESS) throw fail('meta-data', rc, result);
      return result.stdout;
    },
  };
}

function str(value: string | number | boolean | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : String(value);
}

function lastLine(text: string): string | undefined {
  const lines = text.trim().split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines[lines.length - 1];
}
