/**
 * The executor's record is what the scheduler reads back from the CIB. These tests feed it to
 * the real scheduler to prove the two agree on what the record means.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDummyAgent } from '../../agents/dummy.js';
import { emptyCib, type Cib, type CibConfig, type ResourceStatus } from '../../lib/cib/model.js';
import { Executor } from '../../lib/executor/index.js';
import { schedule } from '../../lib/scheduler/index.js';
import { FakeClock } from './fake-clock.js';

function config(migrationThreshold?: number): CibConfig {
  return {
    properties: { stonithEnabled: false },
    nodes: [
      { id: '1', name: 'n1' },
      { id: '2', name: 'n2' },
    ],
    resources: [
      {
        kind: 'primitive',
        id: 'web',
        agent: { class: 'sanode', type: 'dummy' },
        ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000 }],
        ...(migrationThreshold === undefined ? {} : { meta: { migrationThreshold } }),
      },
    ],
    constraints: [{ kind: 'location', id: 'prefer-n1', rsc: 'web', node: 'n1', score: 100 }],
  };
}

function cibWith(cfg: CibConfig, n1: Record<string, ResourceStatus>): Cib {
  const cib = emptyCib(cfg);
  cib.status.nodes['n1'] = { state: 'online', resources: n1 };
  return cib;
}

function kinds(cib: Cib, nowMs: number): string[] {
  return schedule(cib, { quorate: true, nowMs })
    .actions.filter((a) => a.kind !== 'monitor')
    .map((a) => `${a.kind}@${a.node}`)
    .sort();
}

describe('executor status read by the scheduler', () => {
  it('a probe that found nothing leads to a start; a started, monitored resource is left alone', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock });
    executor.register('web', createDummyAgent(), { name: 'web' });
    await executor.exec('web', 'probe');
    assert.deepEqual(kinds(cibWith(config(), executor.statusAll()), clock.now()), ['start@n1']);
    await executor.exec('web', 'start');
    executor.startRecurring('web', { intervalMs: 10_000 });
    await clock.advance(30_000);
    assert.deepEqual(kinds(cibWith(config(), executor.statusAll()), clock.now()), []);
    await executor.close();
  });

  it('a failed recurring monitor makes the scheduler recover; the fail count moves it away at the threshold', async () => {
    const clock = new FakeClock();
    const executor = new Executor({ clock });
    const dummy = createDummyAgent();
    executor.register('web', dummy, { name: 'web' });
    await executor.exec('web', 'probe');
    await executor.exec('web', 'start');
    executor.startRecurring('web', { intervalMs: 10_000 });
    await clock.advance(10_000);
    dummy.crash('web');
    await clock.advance(10_000);
    assert.equal(executor.failCount('web'), 1);
    const status = executor.statusAll();
    assert.deepEqual(kinds(cibWith(config(), status), clock.now()), ['start@n1', 'stop@n1'], 'restart in place');
    assert.deepEqual(kinds(cibWith(config(1), status), clock.now()), ['start@n2', 'stop@n1'], 'moved after one failure');
    executor.clearFailures('web');
    // After cleanup and a successful restart the threshold no longer applies.
    await executor.exec('web', 'stop');
    await executor.exec('web', 'start');
    assert.deepEqual(kinds(cibWith(config(1), executor.statusAll()), clock.now()), []);
    await executor.close();
  });
});
