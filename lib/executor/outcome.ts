/**
 * Turns whatever a hook did (resolved, threw, resolved with nonsense) into an OCF rc. Agents are
 * user code: nothing they return or throw may escape as an exception from the executor.
 */
import { inspect } from 'node:util';
import { AgentError, OCF, monitorResultRc, type MonitorResult } from '../../agents/types.js';

const MONITOR_RESULTS: readonly string[] = ['running', 'not-running', 'running-promoted', 'failed', 'failed-promoted'];
const OCF_VALUES: ReadonlySet<number> = new Set(Object.values(OCF));

export function isMonitorResult(value: unknown): value is MonitorResult {
  return typeof value === 'string' && MONITOR_RESULTS.includes(value);
}

/** A short, never-throwing description of any value (a getter or toString may throw). */
export function describe(value: unknown): string {
  try {
    if (value instanceof Error) return value.message === '' ? value.name : value.message;
    if (typeof value === 'string') return value;
    return inspect(value, { depth: 2, breakLength: Infinity, maxStringLength: 200 });
  } catch {
    return 'a value that cannot be printed';
  }
}

/**
 * The rc a thrown value stands for. AgentError's rc is honoured when it is a real OCF code; a
 * second copy of sanode makes `instanceof` fail, so the shape is checked too. A thrown
 * "success" is a contradiction and counts as ERR_GENERIC: throwing means the hook failed.
 */
export function rcOfThrown(error: unknown): number {
  let rc: unknown;
  try {
    if (error instanceof AgentError) rc = error.rc;
    else if (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AgentError') {
      rc = (error as { rc?: unknown }).rc;
    }
  } catch {
    return OCF.ERR_GENERIC;
  }
  if (typeof rc === 'number' && OCF_VALUES.has(rc) && rc !== OCF.SUCCESS) return rc;
  return OCF.ERR_GENERIC;
}

export interface Mapped {
  rc: number;
  monitorResult?: MonitorResult;
  metaData?: string;
  message?: string;
}

export function mapMonitorValue(value: unknown): Mapped {
  if (isMonitorResult(value)) return { rc: monitorResultRc(value), monitorResult: value };
  return { rc: OCF.ERR_GENERIC, message: `monitor resolved with ${describe(value)}, not one of ${MONITOR_RESULTS.join(', ')}` };
}

export function mapMetaDataValue(value: unknown): Mapped {
  if (typeof value === 'string') return { rc: OCF.SUCCESS, metaData: value };
  return { rc: OCF.ERR_GENERIC, message: `metaData resolved with ${describe(value)}, not an XML string` };
}
