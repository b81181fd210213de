import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDummyAgent } from '../../agents/dummy.js';
import { AgentError, OCF, type AgentContext, type MonitorResult, type ResourceAgent } from '../../agents/types.js';
import { Executor, type OperationResult } from '../../lib/executor/index.js';
import { isSanodeError } from '../../lib/errors/index.js';
import { FakeClock, settle } from './fake-clock.js';

type Params = Record<string, string>;

/** An agent whose hooks do whatever the test sets, recording each call's signal. */
function scripted(hooks: Partial<Record<keyof ResourceAgent<Params>, unknown>> = {}): ResourceAgent<Params> & { signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  const wrap = (name: string, fallback: unknown) => {
    const hook = name in hooks ? hooks[name as keyof ResourceAgent<Params>] : fallback;
    if (typeof hook !== 'function') return hook;
    return (context: AgentContext<Params>) => {
      signals.push(context?.signal);
      return (hook as (c: AgentContext<Params>) => unknown)(context);
    };
  };
  return {
    signals,
    start: wrap('start', async () => undefined),
    stop: wrap('stop', async () => undefined),
    monitor: wrap('monitor', async () => 'running'),
    promote: wrap('promote', undefined),
    demote: wrap('demote', undefined),
    validate: wrap('validate', undefined),
    metaData: hooks.metaData,
  } as ResourceAgent<Params> & { signals: AbortSignal[] };
}

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function rejectsWithCode(promise: Promise<unknown> | (() => unknown), code: string, field?: string): Promise<void> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    assert.ok(isSanodeError(error), `expected a SanodeError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (field !== undefined) assert.equal(error.field, field);
    return;
  }
  assert.fail(`expected a ${code} error`);
}

describe('executor: OCF results', () => {
  it('maps hook outcomes to OCF rc numbers and names', async () => {
    const executor = new Executor();
    const cases: { hooks: Parameters<typeof scripted>[0]; op: Parameters<Executor['exec']>[1]; rc: number; rcName: string; failed: boolean }[] = [
      { hooks: {}, op: 'start', rc: 0, rcName: 'success', failed: false },
      { hooks: { monitor: async () => 'running-promoted' }, op: 'monitor', rc: 8, rcName: 'running-promoted', failed: false },
      { hooks: { monitor: async () => 'not-running' }, op: 'monitor', rc: 7, rcName: 'not-running', failed: true },
      { hooks: { monitor: async () => 'failed' }, op: 'monitor', rc: 1, rcName: 'err-generic', failed: true },
      { hooks: { monitor: async () => 'failed-promoted' }, op: 'monitor', rc: 9, rcName: 'failed-promoted', failed: true },
      { hooks: { start: async () => { throw new AgentError(OCF.ERR_INSTALLED, 'no binary'); } }, op: 'start', rc: 5, rcName: 'err-installed', failed: true },
      { hooks: { validate: async () => { throw new AgentError(OCF.ERR_CONFIGURED, 'bad ip'); } }, op: 'validate', rc: 6, rcName: 'err-configured', failed: true },
      { hooks: { stop: async () => { throw new Error('boom'); } }, op: 'stop', rc: 1, rcName: 'err-generic', failed: true },
      { hooks: {}, op: 'promote', rc: 3, rcName: 'err-unimplemented', failed: true },
      { hooks: {}, op: 'meta-data', rc: 3, rcName: 'err-unimplemented', failed: true },
      { hooks: { metaData: () => '<resource-agent/>' }, op: 'meta-data', rc: 0, rcName: 'success', failed: false },
      { hooks: { validate: async () => undefined }, op: 'validate', rc: 0, rcName: 'success', failed: false },
    ];
    for (const [i, c] of cases.entries()) {
      executor.register(`r${i}`, scripted(c.hooks), {});
      const result = await executor.exec(`r${i}`, c.op, { timeoutMs: 10_000 });
      assert.equal(result.rc, c.rc, `case ${i} (${c.op})`);
      assert.equal(result.rcName, c.rcName, `case ${i} (${c.op})`);
      assert.equal(result.failed, c.failed, `case ${i} (${c.op})`);
      assert.equal(result.timedOut, false);
    }
    const meta = await executor.exec('r10', 'meta-data');
    assert.equal(meta.metaData, '<resource-agent/>');
    const monitored = await executor.exec('r1', 'monitor');
    assert.equal(monitored.monitorResult, 'running-promoted');
    await executor.close();
  });

  it('never rejects or crashes for thrown non-Errors, garbage results or synchronous throws', async () => {
    const executor = new Executor();
    const evil = {
      get message(): string {
        throw new Error('getter');
      },
      toString(): string {
        throw new Error('toString');
      },
    };
    const hooks: Parameters<typeof scripted>[0][] = [
      { start: async () => { throw 'a string'; } },
      { start: async () => { throw undefined; } },
      { start: async () => { throw null; } },
      { start: async () => { throw evil; } },
      { start: () => { throw new Error('synchronous'); } },
      { start: () => Promise.reject(42) },
      { start: async () => { throw { name: 'AgentError', rc: 99 }; } },
      { start: async () => { throw new AgentError(OCF.SUCCESS, 'a thrown success'); } },
    ];
    for (const [i, h] of hooks.entries()) {
      executor.register(`s${i}`, scripted(h), {});
      const result = await executor.exec(`s${i}`, 'start');
      assert.equal(result.rc, OCF.ERR_GENERIC, `case ${i}`);
      assert.equal(typeof result.message, 'string');
    }
    const garbage: unknown[] = [42, undefined, null, 'RUNNING', { then: 1 }, Symbol('x'), evil];
    for (const [i, value] of garbage.entries()) {
      executor.register(`g${i}`, scripted({ monitor: async () => value }), {});
      const result = await executor.exec(`g${i}`, 'monitor');
      assert.equal(result.rc, OCF.ERR_GENERIC, `garbage ${i}`);
      assert.match(result.message ?? '', /not one of/);
    }
    executor.register('m', scripted({ metaData: () => 7 }), {});
    assert.equal((await executor.exec('m', 'meta-data')).rc, OCF.ERR_GENERIC);
    // A duplicate copy of sanode's AgentError is recognised by its shape.
    executor.register('dup', scripted({ start: async () => { throw Object.assign(new Error('x'), { name: 'AgentError', rc: OCF.ERR_PERM }); } }), {});
    assert.equal((await executor.exec('dup', 'start')).rc, OCF.ERR_PERM);
    // Start resolving with a value is still a success: only monitor and meta-data return data.
    executor.register('v', scripted({ start: async () => 'whatever' }), {});
    assert.equal((await executor.exec('v', 'start')).rc, OCF.SUCCESS);
    await executor.close();
  });
});

describe('executor: bad input', () => {
  it('rejects unknown operations, bad timeouts and unknown resources with typed errors', async () => {
    const executor = new Executor();
    executor.register('a', scripted(), {});
    await rejectsWithCode(executor.exec('a', 'restart' as never), 'SANODE_INVALID_CONFIG', 'op');
    await rejectsWithCode(executor.exec('a', 'start', { timeoutMs: -1 }), 'SANODE_INVALID_CONFIG', 'timeoutMs');
    await rejectsWithCode(executor.exec('a', 'start', { timeoutMs: 0 }), 'SANODE_INVALID_CONFIG', 'timeoutMs');
    await rejectsWithCode(executor.exec('a', 'start', { timeoutMs: Number.NaN }), 'SANODE_INVALID_CONFIG', 'timeoutMs');
    await rejectsWithCode(executor.exec('a', 'start', { timeoutMs: 2 ** 31 }), 'SANODE_INVALID_CONFIG', 'timeoutMs');
    await rejectsWithCode(executor.exec('nope', 'start'), 'SANODE_UNKNOWN_RESOURCE', 'resourceId');
    await rejectsWithCode(() => executor.startRecurring('a', { intervalMs: 0 }), 'SANODE_INVALID_CONFIG', 'intervalMs');
    await rejectsWithCode(() => executor.startRecurring('nope', { intervalMs: 1000 }), 'SANODE_UNKNOWN_RESOURCE');
    await rejectsWithCode(() => executor.clearFailures('nope'), 'SANODE_UNKNOWN_RESOURCE');
    await rejectsWithCode(() => executor.register('b', { start: async () => undefined } as never, {}), 'SANODE_INVALID_CONFIG', 'agent');
    await rejectsWithCode(() => executor.register('', scripted(), {}), 'SANODE_INVALID_CONFIG', 'resourceId');
    await rejectsWithCode(() => new Executor({ defaultTimeoutMs: -5 }), 'SANODE_INVALID_CONFIG', 'defaultTimeoutMs');
    await rejectsWithCode(() => new Executor({ defaultTimeoutsMs: { reboot: 5 } as never }), 'SANODE_INVALID_CONFIG');
    await rejectsWithCode(() => new Executor({ historyLimit: 2 }), 'SANODE_INVALID_CONFIG', 'historyLimit');
    // Bad input leaves no trace in the record.
    assert.deepEqual(executor.status('a'), { ops: [] });
    await executor.close();
    await rejectsWithCode(executor.exec('a', 'start'), 'SANODE_EXECUTOR_CLOSED');
  });
});

describe('executor: timeouts', () => {
  it('an overrunning hook has its signal aborted and is reported as a timeout', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock });
    let stopCalls = 0;
    const agent = scripted({ start: ({ signal }: AgentContext<Params>) => untilAborted(signal), stop: async () => void stopCalls++ });
    executor.register('a', agent, {});
    const box: { result?: OperationResult } = {};
    void executor.exec('a', 'start', { timeoutMs: 5000 }).then((r) => (box.result = r));
    const got = (): OperationResult | undefined => box.result;
    await clock.advance(4999);
    assert.ok(got() === undefined, 'no result before the timeout');
    assert.equal(agent.signals[0]?.aborted, false);
    await clock.advance(1);
    const result = got();
    assert.ok(result);
    assert.equal(result.rc, OCF.ERR_GENERIC);
    assert.equal(result.timedOut, true);
    assert.equal(result.failed, true);
    assert.match(result.message ?? '', /timed out after 5000 ms/);
    assert.equal(agent.signals[0]?.aborted, true);
    assert.equal((agent.signals[0]?.reason as Error).name, 'TimeoutError');
    // The hook honoured its signal, so the next operation need not wait out the grace period.
    const stop = await executor.exec('a', 'stop');
    assert.equal(stop.rc, OCF.SUCCESS);
    assert.equal(stopCalls, 1);
    assert.deepEqual(
      executor.status('a')?.ops.map((o) => [o.op, o.rc]),
      [['start', 1], ['stop', 0]],
    );
    await executor.close();
  });

  it('a hook that ignores its signal still yields a timeout at the deadline, and is abandoned after the grace period', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock, abandonGraceMs: 2000 });
    const abandoned: unknown[] = [];
    executor.on('abandoned', (a) => abandoned.push(a));
    let stopStarted = false;
    const agent = scripted({ start: () => new Promise(() => undefined), stop: async () => void (stopStarted = true) });
    executor.register('a', agent, {});
    let result: OperationResult | undefined;
    void executor.exec('a', 'start', { timeoutMs: 1000 }).then((r) => (result = r));
    const stop = executor.exec('a', 'stop', { timeoutMs: 1000 });
    await clock.advance(1000);
    assert.equal(result?.timedOut, true, 'the timeout is reported at the deadline, not after the grace');
    assert.equal(agent.signals[0]?.aborted, true);
    // The stop waits: the start might still be doing something.
    assert.equal(stopStarted, false);
    await clock.advance(1999);
    assert.equal(stopStarted, false);
    assert.equal(abandoned.length, 0);
    await clock.advance(1);
    assert.deepEqual(abandoned, [{ resourceId: 'a', op: 'start', callId: result?.callId }]);
    assert.equal((await stop).rc, OCF.SUCCESS);
    assert.equal(stopStarted, true);
    await executor.close();
  });

  it('with real timers, a hook that ignores its signal does not hold the caller', { timeout: 30_000 }, async () => {
    const executor = new Executor({ abandonGraceMs: 50 });
    executor.register('a', scripted({ monitor: () => new Promise(() => undefined) }), {});
    const result = await executor.exec('a', 'monitor', { timeoutMs: 50 });
    assert.equal(result.timedOut, true);
    assert.equal(result.rc, OCF.ERR_GENERIC);
    await executor.close();
  });

  it('uses per-operation default timeouts', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock, defaultTimeoutMs: 20_000, defaultTimeoutsMs: { stop: 3000 } });
    executor.register('a', scripted({ start: ({ signal }: AgentContext<Params>) => untilAborted(signal), stop: ({ signal }: AgentContext<Params>) => untilAborted(signal) }), {});
    const stop = executor.exec('a', 'stop');
    await clock.advance(3000);
    assert.equal((await stop).timedOut, true);
    const box: { start?: OperationResult } = {};
    void executor.exec('a', 'start').then((r) => (box.start = r));
    const got = (): OperationResult | undefined => box.start;
    await clock.advance(19_999);
    assert.ok(got() === undefined);
    await clock.advance(1);
    assert.equal(got()?.timedOut, true);
    await executor.close();
  });
});

describe('executor: ordering', () => {
  it('serializes operations on one resource and runs different resources in parallel', { timeout: 30_000 }, async () => {
    const executor = new Executor();
    const events: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const gate = (key: string) => {
      let g = gates.get(key);
      if (g === undefined) gates.set(key, (g = deferred()));
      return g;
    };
    const agentFor = (id: string) =>
      scripted({
        start: async () => {
          events.push(`${id}:start:begin`);
          await gate(`${id}:start`).promise;
          events.push(`${id}:start:end`);
        },
        stop: async () => {
          events.push(`${id}:stop:begin`);
          events.push(`${id}:stop:end`);
        },
      });
    executor.register('a', agentFor('a'), {});
    executor.register('b', agentFor('b'), {});
    const aStart = executor.exec('a', 'start');
    const aStop = executor.exec('a', 'stop');
    const bStart = executor.exec('b', 'start');
    await settle();
    // a's start is blocked; b's start runs anyway, and a's stop has not begun.
    assert.deepEqual(events, ['a:start:begin', 'b:start:begin']);
    gate('b:start').resolve();
    await bStart;
    assert.ok(!events.includes('a:stop:begin'));
    gate('a:start').resolve();
    await Promise.all([aStart, aStop]);
    assert.deepEqual(events.filter((e) => e.startsWith('a:')), ['a:start:begin', 'a:start:end', 'a:stop:begin', 'a:stop:end']);
    const callIds = (executor.status('a')?.ops ?? []).map((o) => o.callId);
    assert.ok(callIds[0]! < callIds[1]!, 'call ids follow the order the operations ran');
    await executor.close();
  });

  it('never runs two hooks of one resource at once, even under a burst of requests', { timeout: 30_000 }, async () => {
    const executor = new Executor();
    let active = 0;
    let maxActive = 0;
    const busy = async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setImmediate(r));
      active--;
      return 'running' as MonitorResult;
    };
    executor.register('a', scripted({ start: busy, stop: busy, monitor: busy }), {});
    executor.startRecurring('a', { intervalMs: 1 });
    const ops = ['start', 'monitor', 'stop', 'start', 'probe', 'monitor', 'stop'] as const;
    await Promise.all(Array.from({ length: 5 }, () => ops.map((op) => executor.exec('a', op))).flat());
    assert.equal(maxActive, 1);
    await executor.close();
  });
});

describe('executor: recurring monitors', () => {
  it('detects a failure, reports each rc change and every failure, and records only changes', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock });
    const dummy = createDummyAgent();
    executor.register('web', dummy, { name: 'web' });
    const seen: OperationResult[] = [];
    executor.on('result', (r) => seen.push(r));
    await executor.exec('web', 'start');
    seen.length = 0;
    executor.startRecurring('web', { intervalMs: 10_000, timeoutMs: 5000 });
    await settle();
    assert.deepEqual(seen.map((r) => [r.op, r.intervalMs, r.rc]), [['monitor', 10_000, 0]], 'the first run happens at once and is reported');
    await clock.advance(10_000);
    await clock.advance(10_000);
    assert.equal(seen.length, 1, 'an unchanged success is not news');
    dummy.crash('web');
    await clock.advance(10_000);
    assert.equal(seen.length, 2);
    assert.equal(seen[1]?.rc, OCF.NOT_RUNNING);
    assert.equal(seen[1]?.failed, true);
    await clock.advance(10_000);
    assert.equal(seen.length, 3, 'every failure is reported');
    assert.equal(executor.failCount('web'), 1, 'one incident counts once');
    const monitors = (executor.status('web')?.ops ?? []).filter((o) => o.op === 'monitor');
    assert.deepEqual(monitors.map((o) => [o.intervalMs, o.rc]), [[10_000, 0], [10_000, 7]]);
    // The resource comes back (say, restarted by hand): the change is reported and recorded.
    await dummy.start({ params: { name: 'web' }, signal: new AbortController().signal });
    await clock.advance(10_000);
    assert.equal(seen.at(-1)?.rc, OCF.SUCCESS);
    assert.equal(executor.status('web')?.ops.filter((o) => o.op === 'monitor').length, 3);
    // A new failure after recovery is a new incident.
    dummy.setFaults('web', { failMonitor: true });
    await clock.advance(10_000);
    assert.equal(seen.at(-1)?.rc, OCF.ERR_GENERIC);
    assert.equal(executor.failCount('web'), 2);
    await executor.close();
  });

  it('a recurring monitor that times out is a failure with timedOut', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock, abandonGraceMs: 100 });
    const dummy = createDummyAgent();
    executor.register('d', dummy, { name: 'd' });
    await executor.exec('d', 'start');
    const seen: OperationResult[] = [];
    executor.on('result', (r) => seen.push(r));
    executor.startRecurring('d', { intervalMs: 1000, timeoutMs: 500 });
    await settle();
    dummy.setFaults('d', { hangMonitor: 'ignore-signal' });
    await clock.advance(1000);
    await clock.advance(500);
    assert.equal(seen.at(-1)?.timedOut, true);
    assert.equal(seen.at(-1)?.rc, OCF.ERR_GENERIC);
    await clock.advance(100);
    dummy.clearFaults('d');
    await clock.advance(1000);
    assert.equal(seen.at(-1)?.rc, OCF.SUCCESS, 'the loop survives an abandoned run');
    await executor.close();
  });

  it('stop cancels recurring monitors, aborting one in flight without counting it as a failure', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock });
    let monitorCalls = 0;
    let running = true;
    const agent = scripted({
      monitor: async ({ signal }: AgentContext<Params>) => {
        monitorCalls++;
        if (monitorCalls === 2) await untilAborted(signal);
        return running ? 'running' : 'not-running';
      },
      stop: async () => void (running = false),
    });
    executor.register('a', agent, {});
    const seen: OperationResult[] = [];
    executor.on('result', (r) => seen.push(r));
    executor.startRecurring('a', { intervalMs: 1000, timeoutMs: 10_000 });
    await clock.advance(1000);
    assert.equal(monitorCalls, 2, 'the second run is in flight');
    const stop = await executor.exec('a', 'stop');
    assert.equal(stop.rc, OCF.SUCCESS);
    assert.equal(agent.signals[1]?.aborted, true, 'the monitor in flight was aborted');
    assert.deepEqual(executor.recurringIntervals('a'), []);
    await clock.advance(10_000);
    assert.equal(monitorCalls, 2, 'no monitor runs after the stop');
    assert.equal(executor.failCount('a'), 0);
    assert.deepEqual(seen.map((r) => [r.op, r.rc]), [['monitor', 0], ['stop', 0]]);
    assert.equal(clock.pendingTimers, 0);
    await executor.close();
  });

  it('cancelRecurring stops one interval and keeps another', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock });
    const runs: number[] = [];
    executor.register('a', scripted(), {});
    executor.on('result', (r) => runs.push(r.intervalMs));
    executor.startRecurring('a', { intervalMs: 1000 });
    executor.startRecurring('a', { intervalMs: 3000 });
    await settle();
    executor.cancelRecurring('a', 1000);
    assert.deepEqual(executor.recurringIntervals('a'), [3000]);
    const calls: number[] = [];
    executor.register('a', scripted({ monitor: async () => (calls.push(clock.now()), 'running') }), {});
    await clock.advance(6000);
    assert.deepEqual(calls, [3000, 6000]);
    await executor.close();
    assert.equal(clock.pendingTimers, 0, 'close cancels every timer');
  });
});

describe('executor: fail counts, probes and status', () => {
  it('counts failed starts, stops and monitors, and clearFailures resets them', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock });
    const dummy = createDummyAgent();
    executor.register('a', dummy, { name: 'a', failStart: 'true', failStop: 'true', failMonitor: 'true' });
    await clock.advance(100);
    assert.equal((await executor.exec('a', 'start')).rc, OCF.ERR_GENERIC);
    assert.equal(executor.failCount('a'), 1);
    assert.equal(executor.status('a')?.lastFailureMs, 100);
    await clock.advance(100);
    await executor.exec('a', 'stop');
    await executor.exec('a', 'monitor');
    assert.equal(executor.failCount('a'), 3);
    assert.equal(executor.status('a')?.lastFailureMs, 200);
    // validate and meta-data do not touch the resource, so their failures never count.
    executor.register('a', dummy, { name: 'a', delayMs: 'soon' });
    assert.equal((await executor.exec('a', 'validate')).rc, OCF.ERR_CONFIGURED);
    assert.equal(executor.failCount('a'), 3);
    executor.clearFailures('a');
    assert.equal(executor.failCount('a'), 0);
    const status = executor.status('a');
    assert.equal(status?.failCount, undefined);
    assert.equal(status?.lastFailureMs, undefined);
    assert.equal(status?.ops.length, 3, 'the history stays');
    await executor.close();
  });

  it('a probe that finds nothing is a normal answer, recorded as monitor_0', async () => {
    const executor = new Executor();
    const dummy = createDummyAgent();
    executor.register('p', dummy, { name: 'p' });
    const probe = await executor.exec('p', 'probe');
    assert.equal(probe.rc, OCF.NOT_RUNNING);
    assert.equal(probe.failed, false);
    assert.equal(executor.failCount('p'), 0);
    assert.deepEqual(executor.status('p')?.ops.map(({ op, intervalMs, rc }) => ({ op, intervalMs, rc })), [{ op: 'monitor', intervalMs: 0, rc: 7 }]);
    await executor.exec('p', 'start');
    assert.equal((await executor.exec('p', 'probe')).rc, OCF.SUCCESS);
    // A probe that cannot even tell is a failure.
    executor.register('q', scripted({ monitor: async () => { throw new AgentError(OCF.ERR_INSTALLED, 'tool missing'); } }), {});
    const broken = await executor.exec('q', 'probe');
    assert.equal(broken.rc, OCF.ERR_INSTALLED);
    assert.equal(broken.failed, true);
    assert.equal(executor.failCount('q'), 1);
    await executor.close();
  });

  it('exposes the CIB status shapes, with a bounded history that keeps the latest of each operation', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock, historyLimit: 8 });
    const dummy = createDummyAgent();
    executor.register('a', dummy, { name: 'a' });
    await executor.exec('a', 'probe');
    await executor.exec('a', 'start');
    for (let i = 0; i < 20; i++) {
      await clock.advance(10);
      await executor.exec('a', i % 2 === 0 ? 'monitor' : 'validate');
    }
    const status = executor.status('a');
    assert.ok(status);
    assert.equal(status.ops.length, 8);
    for (const record of status.ops) assert.deepEqual(Object.keys(record).sort(), ['callId', 'intervalMs', 'op', 'rc', 'timeMs']);
    assert.ok(status.ops.some((o) => o.op === 'start'), 'the last start survives the bound');
    assert.ok(status.ops.some((o) => o.op === 'monitor' && o.intervalMs === 0));
    const ids = status.ops.map((o) => o.callId);
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(executor.statusAll(), { a: status });
    // A copy: changing it does not change the executor's record.
    status.ops.length = 0;
    assert.equal(executor.status('a')?.ops.length, 8);
    executor.unregister('a');
    assert.equal(executor.status('a'), undefined);
    assert.deepEqual(executor.statusAll(), {});
    await executor.close();
  });

  it('a listener that throws does not break the executor', { timeout: 30_000 }, async () => {
    const executor = new Executor();
    executor.register('a', scripted(), {});
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener('uncaughtException', onUncaught);
    const original = process.listeners('uncaughtException').filter((l) => l !== onUncaught);
    for (const l of original) process.removeListener('uncaughtException', l);
    try {
      executor.once('result', () => {
        throw new Error('listener bug');
      });
      assert.equal((await executor.exec('a', 'start')).rc, OCF.SUCCESS);
      assert.equal((await executor.exec('a', 'stop')).rc, OCF.SUCCESS);
      for (let i = 0; i < 50 && uncaught.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal((uncaught[0] as Error | undefined)?.message, 'listener bug');
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const l of original) process.on('uncaughtException', l);
    }
    await executor.close();
  });
});
