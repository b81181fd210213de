/**
 * `dummy`: a resource that is only a flag in memory, like ocf:heartbeat:Dummy (whose state is a
 * file). For tests and demos: parameters make operations fail, hang or dawdle, and crash() stops
 * the "resource" behind the cluster's back, as deleting Dummy's state file does.
 *
 * The state lives in the agent made by createDummyAgent(), not in the module, so that many
 * simulated nodes in one process each have their own.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError, OCF, type AgentContext, type MonitorResult, type ResourceAgent } from './types.js';

/** How a hook hangs: 'true' until its signal aborts; 'ignore-signal' forever (a broken hook). */
export type DummyHang = boolean | 'true' | 'false' | 'ignore-signal';

export interface DummyParams {
  /** Which in-memory resource this is; resources with the same name share one. Default 'default'. */
  name?: string;
  /** Alias of name, after Dummy's `state` file parameter. */
  state?: string;
  /** Every hook waits this long first (aborted by the signal). */
  delayMs?: number | string;
  failStart?: boolean | string;
  failStop?: boolean | string;
  /** monitor answers 'failed' (the process is there but broken). */
  failMonitor?: boolean | string;
  hangStart?: DummyHang;
  hangStop?: DummyHang;
  hangMonitor?: DummyHang;
  /** promote and demote work only when set; otherwise they answer ERR_UNIMPLEMENTED. */
  promotable?: boolean | string;
}

export type DummyRole = 'stopped' | 'started' | 'promoted';

/** Faults set at run time, overriding the parameters (parameters are fixed at register time). */
export interface DummyFaults {
  failStart?: boolean;
  failStop?: boolean;
  failMonitor?: boolean;
  hangStart?: DummyHang;
  hangStop?: DummyHang;
  hangMonitor?: DummyHang;
}

export interface DummyAgent extends ResourceAgent<DummyParams> {
  role(name?: string): DummyRole;
  isRunning(name?: string): boolean;
  /** The resource dies on its own: the next monitor says 'not-running'. */
  crash(name?: string): void;
  setFaults(name: string, faults: DummyFaults): void;
  clearFaults(name: string): void;
}

const META_DATA = `<?xml version="1.0"?>
<resource-agent name="dummy" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">In-memory test resource</shortdesc>
  <longdesc lang="en">A resource that is only a flag in memory, with switches to make its operations fail or hang.</longdesc>
  <parameters>
    <parameter name="name" unique="1"><shortdesc lang="en">Which in-memory resource</shortdesc><content type="string" default="default"/></parameter>
    <parameter name="delayMs"><shortdesc lang="en">Delay before every operation</shortdesc><content type="integer" default="0"/></parameter>
    <parameter name="failStart"><shortdesc lang="en">start fails</shortdesc><content type="boolean" default="false"/></parameter>
    <parameter name="failStop"><shortdesc lang="en">stop fails</shortdesc><content type="boolean" default="false"/></parameter>
    <parameter name="failMonitor"><shortdesc lang="en">monitor reports failed</shortdesc><content type="boolean" default="false"/></parameter>
    <parameter name="hangStart"><shortdesc lang="en">start hangs (true, or ignore-signal)</shortdesc><content type="string" default="false"/></parameter>
    <parameter name="hangStop"><shortdesc lang="en">stop hangs (true, or ignore-signal)</shortdesc><content type="string" default="false"/></parameter>
    <parameter name="hangMonitor"><shortdesc lang="en">monitor hangs (true, or ignore-signal)</shortdesc><content type="string" default="false"/></parameter>
    <parameter name="promotable"><shortdesc lang="en">supports promote and demote</shortdesc><content type="boolean" default="false"/></parameter>
  </parameters>
  <actions>
    <action name="start" timeout="20s"/>
    <action name="stop" timeout="20s"/>
    <action name="monitor" timeout="20s" interval="10s"/>
    <action name="promote" timeout="20s"/>
    <action name="demote" timeout="20s"/>
    <action name="validate-all" timeout="20s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
`;

function flag(value: unknown): boolean {
  if (value === true) return true;
  return typeof value === 'string' && ['true', '1', 'yes', 'on'].includes(value.trim().toLowerCase());
}

function hangMode(value: unknown): 'no' | 'until-aborted' | 'forever' {
  if (value === 'ignore-signal') return 'forever';
  return flag(value) ? 'until-aborted' : 'no';
}

function nameOf(params: DummyParams | undefined): string {
  const name = params?.name ?? params?.state;
  return typeof name === 'string' && name !== '' ? name : 'default';
}

function delayOf(params: DummyParams): number {
  const raw = params.delayMs;
  if (raw === undefined || raw === '') return 0;
  const value = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new AgentError(OCF.ERR_CONFIGURED, `delayMs: must be a number of milliseconds >= 0, got ${String(raw)}`);
  return value;
}

async function hang(mode: 'no' | 'until-aborted' | 'forever', signal: AbortSignal): Promise<void> {
  if (mode === 'no') return;
  // Deliberately deaf to the signal: this is how tests prove the executor survives such a hook.
  if (mode === 'forever') return new Promise<void>(() => undefined);
  await new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function createDummyAgent(): DummyAgent {
  const roles = new Map<string, DummyRole>();
  const faults = new Map<string, DummyFaults>();

  const prepare = async (context: AgentContext<DummyParams>, hangParam: keyof DummyFaults & `hang${string}`): Promise<{ name: string; faults: DummyFaults }> => {
    const params = context.params ?? {};
    const name = nameOf(params);
    const delayMs = delayOf(params);
    if (delayMs > 0) await sleep(delayMs, undefined, { signal: context.signal });
    const injected = faults.get(name) ?? {};
    await hang(hangMode(injected[hangParam] ?? params[hangParam]), context.signal);
    return { name, faults: injected };
  };

  const promotable = (params: DummyParams | undefined): void => {
    if (!flag(params?.promotable)) throw new AgentError(OCF.ERR_UNIMPLEMENTED, 'this dummy is not promotable (set promotable=true)');
  };

  return {
    async start(context) {
      const { name, faults: f } = await prepare(context, 'hangStart');
      if (f.failStart ?? flag(context.params?.failStart)) throw new AgentError(OCF.ERR_GENERIC, `dummy ${name}: start fails as configured`);
      // Starting a started resource succeeds: OCF start is idempotent.
      if ((roles.get(name) ?? 'stopped') === 'stopped') roles.set(name, 'started');
    },
    async stop(context) {
      const { name, faults: f } = await prepare(context, 'hangStop');
      if (f.failStop ?? flag(context.params?.failStop)) throw new AgentError(OCF.ERR_GENERIC, `dummy ${name}: stop fails as configured`);
      roles.set(name, 'stopped');
    },
    async monitor(context): Promise<MonitorResult> {
      const { name, faults: f } = await prepare(context, 'hangMonitor');
      if (f.failMonitor ?? flag(context.params?.failMonitor)) return 'failed';
      const role = roles.get(name) ?? 'stopped';
      if (role === 'stopped') return 'not-running';
      return role === 'promoted' ? 'running-promoted' : 'running';
    },
    async promote(context) {
      promotable(context.params);
      const { name } = await prepare(context, 'hangStart');
      if ((roles.get(name) ?? 'stopped') === 'stopped') throw new AgentError(OCF.NOT_RUNNING, `dummy ${name}: cannot promote a stopped resource`);
      roles.set(name, 'promoted');
    },
    async demote(context) {
      promotable(context.params);
      const { name } = await prepare(context, 'hangStop');
      if ((roles.get(name) ?? 'stopped') === 'stopped') throw new AgentError(OCF.NOT_RUNNING, `dummy ${name}: cannot demote a stopped resource`);
      roles.set(name, 'started');
    },
    async validate(context) {
      const params = context.params ?? {};
      delayOf(params);
      for (const key of ['hangStart', 'hangStop', 'hangMonitor'] as const) {
        const value = params[key];
        if (value !== undefined && typeof value !== 'boolean' && !['true', 'false', 'ignore-signal', '1', '0', 'yes', 'no', 'on', 'off', ''].includes(String(value).toLowerCase())) {
          throw new AgentError(OCF.ERR_CONFIGURED, `${key}: use true, false or ignore-signal, got ${String(value)}`);
        }
      }
    },
    metaData() {
      return META_DATA;
    },
    role(name = 'default') {
      return roles.get(name) ?? 'stopped';
    },
    isRunning(name = 'default') {
      return (roles.get(name) ?? 'stopped') !== 'stopped';
    },
    crash(name = 'default') {
      roles.set(name, 'stopped');
    },
    setFaults(name, newFaults) {
      faults.set(name, { ...faults.get(name), ...newFaults });
    },
    clearFaults(name) {
      faults.delete(name);
    },
  };
}
