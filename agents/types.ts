/**
 * The shape every resource agent has, in OCF's terms. Agents are plain objects with async hooks;
 * the executor (lib/executor) runs them with timeouts and turns their outcome into an OCF result.
 */

/** OCF exit codes, as the OCF resource agent API and pacemaker define them. */
export const OCF = {
  SUCCESS: 0,
  ERR_GENERIC: 1,
  ERR_ARGS: 2,
  ERR_UNIMPLEMENTED: 3,
  ERR_PERM: 4,
  ERR_INSTALLED: 5,
  ERR_CONFIGURED: 6,
  NOT_RUNNING: 7,
  RUNNING_PROMOTED: 8,
  FAILED_PROMOTED: 9,
} as const;
export type OcfRc = (typeof OCF)[keyof typeof OCF];

export function ocfRcName(rc: number): string {
  for (const [name, value] of Object.entries(OCF)) if (value === rc) return name.toLowerCase().replace(/_/g, '-');
  return `rc-${rc}`;
}

export interface AgentContext<P> {
  readonly params: P;
  /** Aborted when the operation times out or is cancelled; a hook must stop work promptly. */
  readonly signal: AbortSignal;
}

/** What monitor reports; the executor maps it to an OCF rc. */
export type MonitorResult = 'running' | 'not-running' | 'running-promoted' | 'failed' | 'failed-promoted';

export function monitorResultRc(result: MonitorResult): OcfRc {
  switch (result) {
    case 'running':
      return OCF.SUCCESS;
    case 'not-running':
      return OCF.NOT_RUNNING;
    case 'running-promoted':
      return OCF.RUNNING_PROMOTED;
    case 'failed':
      return OCF.ERR_GENERIC;
    case 'failed-promoted':
      return OCF.FAILED_PROMOTED;
  }
}

/**
 * A hook that fails with a specific OCF meaning throws this; anything else thrown counts as
 * ERR_GENERIC. Example: `throw new AgentError(OCF.ERR_INSTALLED, 'arping not found')`.
 */
export class AgentError extends Error {
  readonly rc: OcfRc;
  constructor(rc: OcfRc, message: string) {
    super(message);
    this.name = 'AgentError';
    this.rc = rc;
  }
}

/** A parameter the agent cannot work with: OCF's ERR_CONFIGURED, naming the parameter. */
export function configError(field: string, message: string): AgentError {
  return new AgentError(OCF.ERR_CONFIGURED, `${field}: ${message}`);
}

export interface ResourceAgent<P = Record<string, string>> {
  start(context: AgentContext<P>): Promise<void>;
  /** Must succeed when the resource is already stopped (stop is idempotent, as in OCF). */
  stop(context: AgentContext<P>): Promise<void>;
  monitor(context: AgentContext<P>): Promise<MonitorResult>;
  promote?(context: AgentContext<P>): Promise<void>;
  demote?(context: AgentContext<P>): Promise<void>;
  /** Checks the parameters (and that needed tools exist) without touching anything. */
  validate?(context: AgentContext<P>): Promise<void>;
  /** OCF meta-data XML describing the agent and its parameters. */
  metaData?(): Promise<string> | string;
  /**
   * The holdover bound: how long after its node's resource lease ended what this agent started
   * can still be active, whatever its node does meanwhile (runs on cut off, freezes, dies) — for
   * a resource that something outside the node's process ends by itself, such as a VIP on a
   * kernel lease. Return undefined (or leave this out) when only the node's stop ends it: the
   * node then counts its selfStopMs, since a node cut off stops its resources within that after
   * its lease, and a frozen or dead process does nothing. The coordinator starts a lost node's
   * resource elsewhere only after the lease and the longest holdover (lib/controller/timing.ts).
   * Must not throw; a bad parameter that start would refuse may return undefined.
   */
  holdoverMs?(params: P): number | undefined;
}
