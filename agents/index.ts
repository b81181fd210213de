/**
 * Resource agents (`sanode/agents`). The shape every agent has; the shipped agents (vip,
 * process, filesystem, systemd, lsb, ocf, dummy) come with the executor.
 */
export interface AgentContext<P> {
  readonly params: P;
  /** Aborted when the operation times out or is cancelled. */
  readonly signal: AbortSignal;
}

/** OCF-style results for monitor: running, not running, or failed. */
export type MonitorResult = 'running' | 'not-running' | 'running-promoted' | 'failed';

export interface ResourceAgent<P = Record<string, unknown>> {
  start(context: AgentContext<P>): Promise<void>;
  stop(context: AgentContext<P>): Promise<void>;
  monitor(context: AgentContext<P>): Promise<MonitorResult>;
  promote?(context: AgentContext<P>): Promise<void>;
  demote?(context: AgentContext<P>): Promise<void>;
  validate?(context: AgentContext<P>): Promise<void>;
}
