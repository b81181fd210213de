import { EventEmitter } from 'eventemitter3';
import { OCF, ocfRcName, type MonitorResult, type ResourceAgent } from '../../agents/types.js';
import type { OpName, OpRecord, ResourceStatus } from '../cib/model.js';
import { ConfigError, SanodeError } from '../errors/index.js';
import { MAX_TIMER_MS, realClock, type ExecutorClock } from './clock.js';
import { describe, mapMetaDataValue, mapMonitorValue, rcOfThrown, type Mapped } from './outcome.js';

export const EXECUTOR_OPS = ['start', 'stop', 'monitor', 'promote', 'demote', 'probe', 'validate', 'meta-data'] as const;
export type ExecutorOp = (typeof EXECUTOR_OPS)[number];

export interface OperationResult {
  readonly resourceId: string;
  readonly op: ExecutorOp;
  /** 0 for one-shot operations; the interval of the recurring monitor that produced it. */
  readonly intervalMs: number;
  /** Increases with every operation this executor runs; orders records sharing a timestamp. */
  readonly callId: number;
  /** OCF exit code. */
  readonly rc: number;
  /** ocfRcName(rc): 'success', 'not-running', 'err-generic', ... */
  readonly rcName: string;
  /**
   * rc is not what the operation may answer: anything but success, except that a monitor may
   * say running-promoted and a probe may also say not-running.
   */
  readonly failed: boolean;
  /** The hook overran its timeout; rc is ERR_GENERIC. */
  readonly timedOut: boolean;
  /** What monitor or probe resolved with, when it resolved with a valid MonitorResult. */
  readonly monitorResult?: MonitorResult;
  /** The agent's meta-data XML (op 'meta-data' only). */
  readonly metaData?: string;
  /** Why it failed, for logs and `sanode status`. */
  readonly message?: string;
  readonly startedMs: number;
  readonly finishedMs: number;
}

/** A hook that did not settle within abandonGraceMs after its timeout aborted its signal. */
export interface AbandonedOperation {
  readonly resourceId: string;
  readonly op: ExecutorOp;
  readonly callId: number;
}

export interface ExecutorEvents {
  /**
   * Every one-shot result; for a recurring monitor, the first result, every rc change and
   * every failure (an unchanged success is not news, as in pacemaker).
   */
  result: (result: OperationResult) => void;
  abandoned: (operation: AbandonedOperation) => void;
}

export interface ExecutorOptions {
  clock?: ExecutorClock;
  /** Used when exec() is given no timeout; pacemaker's default op timeout is 20 s. */
  defaultTimeoutMs?: number;
  /** Per-operation defaults, overriding defaultTimeoutMs. */
  defaultTimeoutsMs?: Partial<Record<ExecutorOp, number>>;
  /**
   * After a timeout aborts a hook, the next operation on that resource waits this long for the
   * hook to wind down before it is abandoned. Default 1000.
   */
  abandonGraceMs?: number;
  /** Operation records kept per resource (at least 8). Default 32. */
  historyLimit?: number;
}

export interface ExecOptions {
  timeoutMs?: number;
}

export interface RecurringOptions {
  intervalMs: number;
  timeoutMs?: number;
}

interface Registration {
  readonly agent: ResourceAgent<unknown>;
  readonly params: unknown;
}

interface RecurringMonitor {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  timer: unknown;
  cancelled: boolean;
  /** rc of the previous run; undefined before the first, so the first is always news. */
  lastRc: number | undefined;
  /** The run in flight, aborted when the monitor is cancelled. */
  controller: AbortController | undefined;
}

interface ResourceEntry {
  readonly id: string;
  registration: Registration | undefined;
  /** Settles when every operation queued so far has finished or been abandoned. */
  tail: Promise<void>;
  history: OpRecord[];
  failCount: number;
  lastFailureMs: number | undefined;
  recurring: Map<number, RecurringMonitor>;
}

interface Performed {
  /** undefined when a cancelled recurring monitor's result is discarded. */
  result: OperationResult | undefined;
  /** Settles when the hook has settled or been abandoned: only then may the next op start. */
  settled: Promise<void>;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const CANCELLED = Symbol('cancelled');
const TIMED_OUT = Symbol('timed-out');
const MIN_HISTORY = 8;

/**
 * Runs agent hooks for the resources of one node (pacemaker-execd). See lib/executor/index.ts
 * for its guarantees and docs/executor.md for why.
 */
export class Executor extends EventEmitter<ExecutorEvents> {
  private readonly clock: ExecutorClock;
  private readonly defaultTimeoutMs: number;
  private readonly defaultTimeoutsMs: Partial<Record<ExecutorOp, number>>;
  private readonly abandonGraceMs: number;
  private readonly historyLimit: number;
  private readonly entries = new Map<string, ResourceEntry>();
  private lastCallId = 0;
  private closed = false;

  constructor(options: ExecutorOptions = {}) {
    super();
    this.clock = options.clock ?? realClock;
    this.defaultTimeoutMs = checkTimeout('defaultTimeoutMs', options.defaultTimeoutMs ?? 20_000);
    this.defaultTimeoutsMs = {};
    for (const [op, value] of Object.entries(options.defaultTimeoutsMs ?? {})) {
      checkOp(op, `defaultTimeoutsMs.${op}`);
      if (value !== undefined) this.defaultTimeoutsMs[op as ExecutorOp] = checkTimeout(`defaultTimeoutsMs.${op}`, value);
    }
    const grace = options.abandonGraceMs ?? 1000;
    if (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0 || grace > MAX_TIMER_MS) {
      throw new ConfigError('abandonGraceMs', `must be a number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${describe(grace)}`);
    }
    this.abandonGraceMs = grace;
    const limit = options.historyLimit ?? 32;
    if (!Number.isInteger(limit) || limit < MIN_HISTORY) {
      throw new ConfigError('historyLimit', `must be an integer of at least ${MIN_HISTORY}, got ${describe(limit)}`);
    }
    this.historyLimit = limit;
  }

  /**
   * Binds a resource id to an agent and its parameters. Registering again replaces both for the
   * operations that start afterwards; history, fail count and queue are kept.
   */
  register<P>(resourceId: string, agent: ResourceAgent<P>, params: P): void {
    this.assertOpen();
    if (typeof resourceId !== 'string' || resourceId === '') {
      throw new ConfigError('resourceId', `must be a non-empty string, got ${describe(resourceId)}`);
    }
    const candidate = agent as unknown as Record<string, unknown> | null;
    if (typeof candidate !== 'object' || candidate === null || ['start', 'stop', 'monitor'].some((h) => typeof candidate[h] !== 'function')) {
      throw new ConfigError('agent', `resource "${resourceId}": an agent needs start, stop and monitor functions`);
    }
    this.entryFor(resourceId).registration = { agent: agent as ResourceAgent<unknown>, params };
  }

  /** Cancels the resource's recurring monitors and forgets it, history included. */
  unregister(resourceId: string): void {
    const entry = this.known(resourceId);
    this.cancelAll(entry);
    entry.registration = undefined;
    entry.history = [];
    entry.failCount = 0;
    entry.lastFailureMs = undefined;
    // The entry itself stays: its queue still orders operations already in flight before any
    // operation of a resource registered again under the same id.
  }

  /**
   * Runs one operation and resolves with its OCF result; it never rejects for anything the
   * agent does. Rejects with a SanodeError for bad input (unknown op, bad timeout, unknown
   * resource) or after close(). A stop first cancels the resource's recurring monitors.
   */
  async exec(resourceId: string, op: ExecutorOp, options: ExecOptions = {}): Promise<OperationResult> {
    this.assertOpen();
    checkOp(op, 'op');
    const timeoutMs = checkTimeout('timeoutMs', options.timeoutMs ?? this.defaultTimeoutsMs[op] ?? this.defaultTimeoutMs);
    const entry = this.known(resourceId);
    if (entry.registration === undefined) throw unknownResource(resourceId);
    if (op === 'stop') this.cancelAll(entry);
    const result = await this.enqueue(entry, () => this.perform(entry, op, timeoutMs, undefined));
    // Only a cancelled recurring monitor yields no result, and this is not one.
    if (result === undefined) throw new Error('executor invariant: a one-shot operation produced no result');
    return result;
  }

  /**
   * Monitors the resource every intervalMs, the first run at once. The interval counts from the
   * end of one run to the start of the next, so runs never overlap. Starting a monitor with an
   * interval already running replaces it.
   */
  startRecurring(resourceId: string, options: RecurringOptions): void {
    this.assertOpen();
    const intervalMs = options.intervalMs;
    if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0 || intervalMs > MAX_TIMER_MS) {
      throw new ConfigError('intervalMs', `must be a number of milliseconds above 0 and at most ${MAX_TIMER_MS}, got ${describe(intervalMs)}`);
    }
    const timeoutMs = checkTimeout('timeoutMs', options.timeoutMs ?? this.defaultTimeoutsMs.monitor ?? this.defaultTimeoutMs);
    const entry = this.known(resourceId);
    if (entry.registration === undefined) throw unknownResource(resourceId);
    const previous = entry.recurring.get(intervalMs);
    if (previous !== undefined) this.cancelOne(entry, previous);
    const monitor: RecurringMonitor = { intervalMs, timeoutMs, timer: undefined, cancelled: false, lastRc: undefined, controller: undefined };
    entry.recurring.set(intervalMs, monitor);
    this.runRecurring(entry, monitor);
  }

  /** Cancels one recurring monitor, or all of the resource's when intervalMs is omitted. */
  cancelRecurring(resourceId: string, intervalMs?: number): void {
    const entry = this.known(resourceId);
    if (intervalMs === undefined) return this.cancelAll(entry);
    const monitor = entry.recurring.get(intervalMs);
    if (monitor !== undefined) this.cancelOne(entry, monitor);
  }

  recurringIntervals(resourceId: string): number[] {
    return [...this.known(resourceId).recurring.keys()].sort((a, b) => a - b);
  }

  /** The resource's status as the CIB stores it (a copy), or undefined if never registered. */
  status(resourceId: string): ResourceStatus | undefined {
    const entry = this.entries.get(resourceId);
    if (entry === undefined || entry.registration === undefined) return undefined;
    return statusOf(entry);
  }

  /** Every registered resource's status, keyed by resource id, as NodeStatus.resources. */
  statusAll(): Record<string, ResourceStatus> {
    const out: Record<string, ResourceStatus> = {};
    for (const entry of this.entries.values()) if (entry.registration !== undefined) out[entry.id] = statusOf(entry);
    return out;
  }

  failCount(resourceId: string): number {
    return this.known(resourceId).failCount;
  }

  /** Resets the fail count and last failure time (crm_resource --cleanup's counter part). */
  clearFailures(resourceId: string): void {
    const entry = this.known(resourceId);
    entry.failCount = 0;
    entry.lastFailureMs = undefined;
  }

  /**
   * Cancels every recurring monitor and waits for operations in flight to finish (each bounded
   * by its timeout plus abandonGraceMs). Later calls to exec reject.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.entries.values()) this.cancelAll(entry);
    await Promise.all([...this.entries.values()].map((e) => e.tail));
  }

  private assertOpen(): void {
    if (this.closed) throw new SanodeError('SANODE_EXECUTOR_CLOSED', 'the executor is closed; create a new one');
  }

  private entryFor(resourceId: string): ResourceEntry {
    let entry = this.entries.get(resourceId);
    if (entry === undefined) {
      entry = { id: resourceId, registration: undefined, tail: Promise.resolve(), history: [], failCount: 0, lastFailureMs: undefined, recurring: new Map() };
      this.entries.set(resourceId, entry);
    }
    return entry;
  }

  private known(resourceId: string): ResourceEntry {
    const entry = this.entries.get(resourceId);
    if (entry === undefined || entry.registration === undefined) throw unknownResource(resourceId);
    return entry;
  }

  /**
   * One queue per resource: an operation starts only when the previous one has settled or been
   * abandoned, so a stop never overlaps the start it undoes. Queues of different resources are
   * independent, so resources run in parallel.
   */
  private enqueue(entry: ResourceEntry, task: () => Promise<Performed>): Promise<OperationResult | undefined> {
    const run = entry.tail.then(task);
    entry.tail = run.then(
      (performed) => performed.settled,
      () => undefined,
    );
    return run.then((performed) => performed.result);
  }

  private cancelAll(entry: ResourceEntry): void {
    for (const monitor of [...entry.recurring.values()]) this.cancelOne(entry, monitor);
  }

  private cancelOne(entry: ResourceEntry, monitor: RecurringMonitor): void {
    monitor.cancelled = true;
    if (monitor.timer !== undefined) this.clock.clearTimeout(monitor.timer);
    monitor.timer = undefined;
    // A monitor racing the stop would report the stop itself as a failure.
    monitor.controller?.abort(new CancelledError());
    if (entry.recurring.get(monitor.intervalMs) === monitor) entry.recurring.delete(monitor.intervalMs);
  }

  private runRecurring(entry: ResourceEntry, monitor: RecurringMonitor): void {
    if (monitor.cancelled) return;
    const next = (): void => {
      if (monitor.cancelled) return;
      monitor.timer = this.clock.setTimeout(() => {
        monitor.timer = undefined;
        this.runRecurring(entry, monitor);
      }, monitor.intervalMs);
    };
    // perform() never rejects; the catch keeps the loop alive even if that ever breaks.
    this.enqueue(entry, () => this.perform(entry, 'monitor', monitor.timeoutMs, monitor)).then(next, next);
  }

  private async perform(entry: ResourceEntry, op: ExecutorOp, timeoutMs: number, recurring: RecurringMonitor | undefined): Promise<Performed> {
    const done: Promise<void> = Promise.resolve();
    if (recurring?.cancelled === true) return { result: undefined, settled: done };
    const registration = entry.registration;
    const callId = ++this.lastCallId;
    const startedMs = this.clock.now();
    const intervalMs = recurring?.intervalMs ?? 0;
    const finish = (mapped: Mapped, timedOut: boolean): OperationResult => {
      const result = buildResult(entry.id, op, intervalMs, callId, mapped, timedOut, startedMs, this.clock.now());
      this.account(entry, result, recurring);
      return result;
    };
    if (registration === undefined) {
      // Not accounted: the resource's record was wiped and the agent was never called.
      const mapped = { rc: OCF.ERR_GENERIC, message: 'the resource was unregistered before the operation ran' };
      return { result: buildResult(entry.id, op, intervalMs, callId, mapped, false, startedMs, startedMs), settled: done };
    }

    const controller = new AbortController();
    if (recurring !== undefined) recurring.controller = controller;
    const hook = invoke(registration, op, controller.signal);
    if (hook === undefined) {
      return { result: finish({ rc: OCF.ERR_UNIMPLEMENTED, message: `the agent has no ${hookName(op)} hook` }, false), settled: done };
    }

    let timer: unknown;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(TIMED_OUT), timeoutMs);
    });
    const cancelled = new Promise<typeof CANCELLED>((resolve) => {
      controller.signal.addEventListener('abort', () => resolve(CANCELLED), { once: true });
    });
    const winner = await Promise.race([hook, timeout, cancelled]);
    this.clock.clearTimeout(timer);
    if (recurring !== undefined) recurring.controller = undefined;

    if (winner !== TIMED_OUT && winner !== CANCELLED) {
      const mapped = mapOutcome(op, winner);
      // Cancelled while the hook was settling: the resource is being stopped, the answer is moot.
      if (recurring !== undefined && isCancelled(recurring)) return { result: undefined, settled: done };
      return { result: finish(mapped, false), settled: done };
    }

    if (winner === TIMED_OUT) controller.abort(new TimeoutError(op, timeoutMs));
    const settled = this.graceFor(entry.id, op, callId, hook);
    if (winner === CANCELLED) return { result: undefined, settled };
    return { result: finish({ rc: OCF.ERR_GENERIC, message: `${op} timed out after ${timeoutMs} ms` }, true), settled };
  }

  /**
   * Waits for an aborted hook to wind down, but not forever: JavaScript cannot kill a promise,
   * and one hook that ignores its signal must not wedge its resource for good.
   */
  private graceFor(resourceId: string, op: ExecutorOp, callId: number, hook: Promise<Outcome>): Promise<void> {
    let timer: unknown;
    const grace = new Promise<'grace'>((resolve) => {
      timer = this.clock.setTimeout(() => resolve('grace'), this.abandonGraceMs);
    });
    return Promise.race([hook, grace]).then((winner) => {
      this.clock.clearTimeout(timer);
      if (winner === 'grace') this.emitSafely('abandoned', { resourceId, op, callId });
    });
  }

  private account(entry: ResourceEntry, result: OperationResult, recurring: RecurringMonitor | undefined): void {
    // Pacemaker records a recurring monitor only when its rc changes; an unchanged failure is
    // one incident, so it is neither recorded nor counted again.
    const changed = recurring === undefined || recurring.lastRc !== result.rc;
    if (recurring !== undefined) recurring.lastRc = result.rc;
    const recordedAs = historyOp(result.op);
    if (recordedAs !== undefined && changed) {
      this.pushHistory(entry, { op: recordedAs, intervalMs: result.intervalMs, rc: result.rc, timeMs: result.finishedMs, callId: result.callId });
      if (result.failed) {
        entry.failCount += 1;
        entry.lastFailureMs = result.finishedMs;
      }
    }
    if (changed || result.failed) this.emitSafely('result', result);
  }

  /**
   * Bounded, but never by dropping the newest record of an (op, interval) pair: the scheduler
   * replays the history, and the last start, stop or probe decides the resource's state.
   */
  private pushHistory(entry: ResourceEntry, record: OpRecord): void {
    entry.history.push(record);
    while (entry.history.length > this.historyLimit) {
      const keyOf = (r: OpRecord): string => `${r.op}_${r.intervalMs}`;
      const newest = new Map<string, number>();
      entry.history.forEach((r, i) => newest.set(keyOf(r), i));
      const victim = entry.history.findIndex((r, i) => newest.get(keyOf(r)) !== i);
      entry.history.splice(victim === -1 ? 0 : victim, 1);
    }
  }

  /**
   * A listener that throws is the caller's bug; it surfaces as an uncaught exception on a later
   * tick, like any other, instead of unwinding through the executor's bookkeeping.
   */
  private emitSafely<E extends keyof ExecutorEvents>(event: E, ...args: Parameters<ExecutorEvents[E]>): void {
    try {
      (this.emit as (event: E, ...args: Parameters<ExecutorEvents[E]>) => boolean)(event, ...args);
    } catch (error) {
      setImmediate(() => {
        throw error;
      });
    }
  }
}

class TimeoutError extends Error {
  constructor(op: ExecutorOp, timeoutMs: number) {
    super(`${op} timed out after ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

class CancelledError extends Error {
  constructor() {
    super('the recurring monitor was cancelled');
    this.name = 'AbortError';
  }
}

/** Read through a call: the flag changes while perform() awaits, which narrowing cannot see. */
function isCancelled(monitor: RecurringMonitor): boolean {
  return monitor.cancelled;
}

function unknownResource(resourceId: string): SanodeError {
  return new SanodeError('SANODE_UNKNOWN_RESOURCE', `resource "${describe(resourceId)}" is not registered with this executor; call register() first`, {
    field: 'resourceId',
  });
}

function checkOp(op: unknown, field: string): asserts op is ExecutorOp {
  if (!(EXECUTOR_OPS as readonly unknown[]).includes(op)) {
    throw new ConfigError(field, `unknown operation ${describe(op)}; use one of ${EXECUTOR_OPS.join(', ')}`);
  }
}

function checkTimeout(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new ConfigError(field, `must be a number of milliseconds above 0 and at most ${MAX_TIMER_MS}, got ${describe(value)}`);
  }
  return value;
}

function hookName(op: ExecutorOp): string {
  if (op === 'probe') return 'monitor';
  if (op === 'meta-data') return 'metaData';
  return op;
}

/** Probes are recorded as pacemaker records them: a monitor with interval 0. */
function historyOp(op: ExecutorOp): OpName | undefined {
  if (op === 'probe') return 'monitor';
  if (op === 'validate' || op === 'meta-data') return undefined;
  return op;
}

/** Starts the hook; undefined when the agent does not implement it. Never throws. */
function invoke(registration: Registration, op: ExecutorOp, signal: AbortSignal): Promise<Outcome> | undefined {
  const { agent, params } = registration;
  const context = { params, signal };
  let call: (() => unknown) | undefined;
  try {
    const hook: unknown = (agent as unknown as Record<string, unknown>)[hookName(op)];
    if (typeof hook === 'function') {
      call = op === 'meta-data' ? () => hook.call(agent) : () => hook.call(agent, context);
    }
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
  if (call === undefined) return undefined;
  const run = call;
  // The executor function catches a synchronous throw, and resolving adopts any thenable.
  return new Promise<unknown>((resolve) => resolve(run())).then(
    (value): Outcome => ({ ok: true, value }),
    (error: unknown): Outcome => ({ ok: false, error }),
  );
}

function mapOutcome(op: ExecutorOp, outcome: Outcome): Mapped {
  if (!outcome.ok) return { rc: rcOfThrown(outcome.error), message: describe(outcome.error) };
  if (op === 'monitor' || op === 'probe') return mapMonitorValue(outcome.value);
  if (op === 'meta-data') return mapMetaDataValue(outcome.value);
  // start, stop, promote, demote and validate promise nothing; whatever they resolve with is ignored.
  return { rc: OCF.SUCCESS };
}

function isFailure(op: ExecutorOp, rc: number): boolean {
  if (rc === OCF.SUCCESS) return false;
  if (op === 'monitor') return rc !== OCF.RUNNING_PROMOTED;
  // A probe asks whether the resource runs here; "no" is an answer, not a failure.
  if (op === 'probe') return rc !== OCF.NOT_RUNNING && rc !== OCF.RUNNING_PROMOTED;
  return true;
}

function buildResult(
  resourceId: string,
  op: ExecutorOp,
  intervalMs: number,
  callId: number,
  mapped: Mapped,
  timedOut: boolean,
  startedMs: number,
  finishedMs: number,
): OperationResult {
  return {
    resourceId,
    op,
    intervalMs,
    callId,
    rc: mapped.rc,
    rcName: ocfRcName(mapped.rc),
    failed: isFailure(op, mapped.rc),
    timedOut,
    ...(mapped.monitorResult === undefined ? {} : { monitorResult: mapped.monitorResult }),
    ...(mapped.metaData === undefined ? {} : { metaData: mapped.metaData }),
    ...(mapped.message === undefined ? {} : { message: mapped.message }),
    startedMs,
    finishedMs,
  };
}

function statusOf(entry: ResourceEntry): ResourceStatus {
  const status: ResourceStatus = { ops: entry.history.map((r) => ({ ...r })) };
  if (entry.failCount > 0) status.failCount = entry.failCount;
  if (entry.lastFailureMs !== undefined) status.lastFailureMs = entry.lastFailureMs;
  return status;
}
