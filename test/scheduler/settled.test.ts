/**
 * The scheduler on its own output: a live cluster re-plans after every transition, so a plan
 * must lead to a state the scheduler then leaves alone (a fixed point), and reactions to a
 * failure must still hold once the first transition has carried them out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Cib, CibConfig, NodeStatus, OpRecord, PrimitiveConfig } from '../../lib/cib/model.js';
import { schedule } from '../../lib/scheduler/index.js';
import { generateScenario } from './scenarios.js';
import { executeActions, settleSanode } from './settle.js';

const NOW_MS = 1_700_000_000_000;
const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;

function prim(id: string, onFail?: 'stop' | 'standby'): PrimitiveConfig {
  return { kind: 'primitive', id, agent, ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, ...(onFail === undefined ? {} : { onFail }) }] };
}

function cib(config: Partial<CibConfig>, nodes: Record<string, NodeStatus>): Cib {
  return {
    adminEpoch: 0,
    epoch: 1,
    numUpdates: 0,
    config: { properties: { stonithEnabled: false }, nodes: [{ id: '1', name: 'n1' }, { id: '2', name: 'n2' }], resources: [], ...config },
    status: { nodes },
  };
}

/** Started a while ago, then a recurring monitor found it not running. */
const failedMonitor = (): { ops: OpRecord[]; failCount: number; lastFailureMs: number } => ({
  ops: [
    { op: 'start', intervalMs: 0, rc: 0, timeMs: NOW_MS - 600_000, callId: 1 },
    { op: 'monitor', intervalMs: 10_000, rc: 7, timeMs: NOW_MS - 30_000, callId: 2 },
  ],
  failCount: 1,
  lastFailureMs: NOW_MS - 30_000,
});

describe('scheduling the scheduler\'s own result', () => {
  it('a resource stopped by on-fail=stop stays stopped once its stop is recorded', () => {
    const first = cib({ resources: [prim('db', 'stop')] }, { n1: { state: 'online', resources: { db: failedMonitor() } } });
    const plan = schedule(first, { quorate: true, nowMs: NOW_MS });
    assert.deepEqual(plan.placement['db'], []);
    assert.deepEqual(plan.actions.map((a) => a.id), ['db_stop_0@n1']);
    const after = schedule(executeActions(first, plan.actions, NOW_MS), { quorate: true, nowMs: NOW_MS });
    assert.deepEqual(after.placement['db'], [], 'the failure is still in the history: it must not start again');
    assert.deepEqual(after.actions, []);
  });

  it('op defaults give on-fail=stop to a monitor without its own', () => {
    const first = cib({ resources: [prim('db')], opDefaults: { onFail: 'stop' } }, { n1: { state: 'online', resources: { db: failedMonitor() } } });
    const settled = settleSanode(first, true, NOW_MS);
    assert.deepEqual(settled.result.placement['db'], []);
    const without = settleSanode(cib({ resources: [prim('db')] }, { n1: { state: 'online', resources: { db: failedMonitor() } } }), true, NOW_MS);
    assert.equal(without.result.placement['db']!.length, 1, 'without the default the resource is recovered');
  });

  it('on-fail=standby keeps its node in standby after the resource has left it', () => {
    const first = cib({ resources: [prim('db', 'standby'), prim('web')] }, { n1: { state: 'online', resources: { db: failedMonitor() } } });
    const settled = settleSanode(first, true, NOW_MS);
    assert.ok(settled.converged);
    assert.deepEqual(settled.result.placement['db']!.map((e) => e.node), ['n2']);
    assert.deepEqual(settled.result.placement['web']!.map((e) => e.node), ['n2'], 'n1 is still in standby');
  });

  const count = Number(process.env['SANODE_CONVERGENCE_SCENARIOS'] ?? '1000');
  it(`reaches a fixed point within 4 transitions in ${count} seeded scenarios`, () => {
    const unsettled: string[] = [];
    for (let seed = 1; seed <= count; seed++) {
      const s = generateScenario(seed);
      const settled = settleSanode(s.cib, s.quorate, s.nowMs, 4);
      if (!settled.converged) {
        const again = schedule(settled.cib, { quorate: s.quorate, nowMs: s.nowMs });
        unsettled.push(`seed ${seed}: still ${again.actions.filter((a) => a.kind !== 'monitor').map((a) => a.id).join(' ')}`);
      }
    }
    assert.deepEqual(unsettled, [], `re-planning on its own result moved something (reproduce: generateScenario(seed) in test/scheduler/scenarios.ts)`);
  });
});
