import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDummyAgent, type DummyParams } from '../../agents/dummy.js';
import { OCF } from '../../agents/types.js';
import { Executor } from '../../lib/executor/index.js';

const live = (): AbortSignal => new AbortController().signal;

describe('dummy agent', () => {
  it('starts, monitors and stops an in-memory resource, idempotently', async () => {
    const dummy = createDummyAgent();
    const context = { params: { name: 'a' }, signal: live() };
    assert.equal(await dummy.monitor(context), 'not-running');
    await dummy.start(context);
    await dummy.start(context);
    assert.equal(await dummy.monitor(context), 'running');
    assert.equal(dummy.isRunning('a'), true);
    assert.equal(dummy.isRunning('b'), false, 'names are separate resources');
    await dummy.stop(context);
    await dummy.stop(context);
    assert.equal(await dummy.monitor(context), 'not-running');
  });

  it('keeps state per agent, so simulated nodes in one process do not share it', async () => {
    const one = createDummyAgent();
    const two = createDummyAgent();
    await one.start({ params: { state: 'x' }, signal: live() });
    assert.equal(one.isRunning('x'), true);
    assert.equal(two.isRunning('x'), false);
  });

  it('crash() makes the next monitor say not-running', async () => {
    const dummy = createDummyAgent();
    const context = { params: { name: 'a' }, signal: live() };
    await dummy.start(context);
    dummy.crash('a');
    assert.equal(await dummy.monitor(context), 'not-running');
  });

  it('parameters and injected faults drive the failures the executor reports', async () => {
    const executor = new Executor({ abandonGraceMs: 10 });
    const dummy = createDummyAgent();
    executor.register('f', dummy, { name: 'f', failStart: 'true' } satisfies DummyParams);
    assert.equal((await executor.exec('f', 'start')).rc, OCF.ERR_GENERIC);
    assert.equal(dummy.isRunning('f'), false);
    executor.register('f', dummy, { name: 'f' });
    assert.equal((await executor.exec('f', 'start')).rc, OCF.SUCCESS);
    dummy.setFaults('f', { failMonitor: true });
    assert.equal((await executor.exec('f', 'monitor')).rc, OCF.ERR_GENERIC);
    dummy.setFaults('f', { failMonitor: false, failStop: true });
    assert.equal((await executor.exec('f', 'stop')).rc, OCF.ERR_GENERIC);
    assert.equal(dummy.isRunning('f'), true, 'a failed stop leaves it running');
    dummy.clearFaults('f');
    executor.register('f', dummy, { name: 'f', hangStop: 'true' });
    const hung = await executor.exec('f', 'stop', { timeoutMs: 50 });
    assert.equal(hung.timedOut, true);
    executor.register('f', dummy, { name: 'f', hangMonitor: 'ignore-signal' });
    assert.equal((await executor.exec('f', 'monitor', { timeoutMs: 50 })).timedOut, true);
    await executor.close();
  });

  it('promotes and demotes only when promotable', async () => {
    const executor = new Executor();
    const dummy = createDummyAgent();
    executor.register('p', dummy, { name: 'p', promotable: 'true' });
    assert.equal((await executor.exec('p', 'promote')).rc, OCF.NOT_RUNNING, 'a stopped resource cannot be promoted');
    await executor.exec('p', 'start');
    assert.equal((await executor.exec('p', 'promote')).rc, OCF.SUCCESS);
    assert.equal((await executor.exec('p', 'monitor')).rc, OCF.RUNNING_PROMOTED);
    assert.equal((await executor.exec('p', 'demote')).rc, OCF.SUCCESS);
    assert.equal((await executor.exec('p', 'monitor')).rc, OCF.SUCCESS);
    executor.register('q', dummy, { name: 'q' });
    assert.equal((await executor.exec('q', 'promote')).rc, OCF.ERR_UNIMPLEMENTED);
    await executor.close();
  });

  it('validates its parameters and describes them in meta-data', async () => {
    const executor = new Executor();
    const dummy = createDummyAgent();
    executor.register('v', dummy, { name: 'v', delayMs: '-3' });
    assert.equal((await executor.exec('v', 'validate')).rc, OCF.ERR_CONFIGURED);
    executor.register('v', dummy, { name: 'v', hangStart: 'maybe' as never });
    assert.equal((await executor.exec('v', 'validate')).rc, OCF.ERR_CONFIGURED);
    executor.register('v', dummy, { name: 'v', delayMs: '5' });
    assert.equal((await executor.exec('v', 'validate')).rc, OCF.SUCCESS);
    const meta = await executor.exec('v', 'meta-data');
    assert.match(meta.metaData ?? '', /<resource-agent name="dummy"/);
    await executor.close();
  });
});
