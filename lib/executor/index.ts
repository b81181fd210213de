/**
 * The executor (pacemaker-execd, the LRM): runs resource agent hooks on this node and reports
 * their outcome in OCF terms. docs/executor.md explains the choices.
 *
 * Takes: resources (id → agent + params), operation requests (start, stop, monitor, promote,
 * demote, probe, validate, meta-data) with timeouts, recurring monitor requests, a clock.
 * Emits: OperationResult per operation (rc, rc name, timedOut), `result` events (recurring
 * monitors: first result, rc changes and failures), `abandoned` events, and the CIB status shape
 * (ResourceStatus: op history, fail count, last failure) per resource.
 * Guarantees:
 *  - operations on one resource run one at a time, in request order; different resources run
 *    in parallel;
 *  - every operation ends with a result by its timeout: an overrunning hook's signal is
 *    aborted and the result (ERR_GENERIC, timedOut) is reported at once; the next operation on
 *    that resource waits at most abandonGraceMs more for the hook to wind down;
 *  - nothing an agent returns or throws makes exec() reject or the executor crash;
 *  - a stop cancels the resource's recurring monitors before it runs.
 * Must never: decide what to do about a failure (that is the scheduler's job), or read time
 * except through the injected clock.
 */
export { Executor, EXECUTOR_OPS } from './executor.js';
export type {
  AbandonedOperation,
  ExecOptions,
  ExecutorEvents,
  ExecutorOp,
  ExecutorOptions,
  OperationResult,
  RecurringOptions,
} from './executor.js';
export { realClock, MAX_TIMER_MS, type ExecutorClock } from './clock.js';
