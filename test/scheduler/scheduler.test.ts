import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INFINITY, type Cib, type CibConfig, type NodeStatus, type OpRecord, type PrimitiveConfig } from '../../lib/cib/model.js';
import { schedule, type Action } from '../../lib/scheduler/index.js';

const NOW_MS = 1_700_000_000_000;
const agent = { class: 'ocf', provider: 'heartbeat', type: 'Dummy' } as const;
const monitor = [{ name: 'monitor' as const, intervalMs: 10_000, timeoutMs: 20_000 }];

function prim(id: string, extra: Partial<PrimitiveConfig> = {}): PrimitiveConfig {
  return { kind: 'primitive', id, agent, ops: monitor, ...extra };
}

function cib(config: Partial<CibConfig>, nodes: Record<string, NodeStatus> = {}): Cib {
  return {
    adminEpoch: 0,
    epoch: 1,
    numUpdates: 0,
    config: {
      properties: { stonithEnabled: false },
      nodes: [
        { id: '1', name: 'n1' },
        { id: '2', name: 'n2' },
        { id: '3', name: 'n3' },
      ],
      resources: [],
      ...config,
    },
    status: { nodes },
  };
}

let call = 0;
/** A start, then `extra` in the order given (call ids are renumbered so they come after it). */
function started(extra: OpRecord[] = []): { ops: OpRecord[] } {
  const start: OpRecord = { op: 'start', intervalMs: 0, rc: 0, timeMs: NOW_MS - 60_000, callId: ++call };
  return { ops: [start, ...extra.map((o) => ({ ...o, callId: ++call }))] };
}

const run = (c: Cib, quorate = true) => schedule(c, { quorate, nowMs: NOW_MS });
const where = (r: ReturnType<typeof run>, id: string): string[] => r.placement[id]!.map((e) => e.node);
const ids = (actions: Action[]): string[] => actions.map((a) => a.id);
const before = (actions: Action[], a: string, b: string): boolean => ids(actions).indexOf(a) < ids(actions).indexOf(b) && ids(actions).includes(a);

describe('scheduler', () => {
  it("a group's members start in order on one node and stop in reverse", () => {
    const group = { kind: 'group' as const, id: 'g', members: [prim('a'), prim('b'), prim('c')] };
    const start = run(cib({ resources: [group] }));
    assert.deepEqual([where(start, 'a'), where(start, 'b'), where(start, 'c')], [['n1'], ['n1'], ['n1']]);
    assert.ok(before(start.actions, 'a_start_0@n1', 'b_start_0@n1'));
    assert.ok(before(start.actions, 'b_start_0@n1', 'c_start_0@n1'));
    assert.ok(before(start.actions, 'a_start_0@n1', 'a_monitor_10000@n1'));
    const stop = run(cib({ resources: [{ ...group, meta: { targetRole: 'Stopped' } }] }, { n1: { state: 'online', resources: { a: started(), b: started(), c: started() } } }));
    assert.deepEqual(ids(stop.actions), ['c_stop_0@n1', 'b_stop_0@n1', 'a_stop_0@n1']);
  });

  it('a location of +INFINITY pins a resource and -INFINITY forbids a node', () => {
    const r = run(cib({ resources: [prim('ip')], constraints: [{ kind: 'location', id: 'l', rsc: 'ip', node: 'n3', score: INFINITY }] }));
    assert.deepEqual(where(r, 'ip'), ['n3']);
    const banned = run(
      cib({
        resources: [prim('ip')],
        constraints: ['n1', 'n2', 'n3'].map((n) => ({ kind: 'location' as const, id: `l-${n}`, rsc: 'ip', node: n, score: -INFINITY })),
      }),
    );
    assert.deepEqual(where(banned, 'ip'), []);
    assert.equal(banned.scores['ip']!['n2'], -INFINITY);
  });

  it('stickiness keeps a running resource in place against a weaker preference', () => {
    const config = { resources: [prim('ip')], constraints: [{ kind: 'location' as const, id: 'l', rsc: 'ip', node: 'n2', score: 50 }] };
    const status = { n1: { state: 'online' as const, resources: { ip: started() } } };
    assert.deepEqual(where(run(cib({ ...config, rscDefaults: { resourceStickiness: 100 } }, status)), 'ip'), ['n1']);
    const moved = run(cib({ ...config, rscDefaults: { resourceStickiness: 10 } }, status));
    assert.deepEqual(where(moved, 'ip'), ['n2']);
    assert.ok(before(moved.actions, 'ip_stop_0@n1', 'ip_start_0@n2'));
  });

  it('a rule on a node attribute scores only the nodes it matches', () => {
    const r = run(
      cib({
        nodes: [
          { id: '1', name: 'n1', attributes: { ping: '0' } },
          { id: '2', name: 'n2', attributes: { ping: '3' } },
        ],
        resources: [prim('ip')],
        constraints: [{ kind: 'location', id: 'l', rsc: 'ip', rules: [{ score: 200, expressions: [{ attribute: 'ping', operation: 'gt', value: '1', type: 'integer' }] }] }],
      }),
    );
    assert.deepEqual(where(r, 'ip'), ['n2']);
    assert.deepEqual(r.scores['ip'], { n1: 0, n2: 200 });
  });

  it('a standby node gives up its resources', () => {
    const r = run(cib({ resources: [prim('ip')] }, { n1: { state: 'online', standby: true, resources: { ip: started() } } }));
    assert.deepEqual(where(r, 'ip'), ['n2']);
  });

  it('a colocated resource follows, and an anti-colocated one avoids, its primary', () => {
    const r = run(
      cib({
        resources: [prim('db'), prim('app'), prim('backup')],
        constraints: [
          { kind: 'location', id: 'l', rsc: 'db', node: 'n3', score: 100 },
          { kind: 'colocation', id: 'c1', rsc: 'app', withRsc: 'db', score: INFINITY },
          { kind: 'colocation', id: 'c2', rsc: 'backup', withRsc: 'db', score: -INFINITY },
        ],
      }),
    );
    assert.deepEqual(where(r, 'app'), ['n3']);
    assert.notDeepEqual(where(r, 'backup'), ['n3']);
  });

  it('a mandatory order keeps "then" stopped while "first" cannot run', () => {
    const r = run(
      cib({
        resources: [prim('fs', { meta: { targetRole: 'Stopped' } }), prim('db')],
        constraints: [{ kind: 'order', id: 'o', first: 'fs', then: 'db' }],
      }),
    );
    assert.deepEqual(where(r, 'db'), []);
    const optional = run(
      cib({
        resources: [prim('fs', { meta: { targetRole: 'Stopped' } }), prim('db')],
        constraints: [{ kind: 'order', id: 'o', first: 'fs', then: 'db', orderKind: 'Optional' }],
      }),
    );
    assert.deepEqual(where(optional, 'db'), ['n1']);
  });

  it('a symmetrical order stops "then" before "first"', () => {
    const status = { n1: { state: 'online' as const, resources: { fs: started(), db: started() } } };
    const r = run(
      cib(
        {
          resources: [prim('fs', { meta: { targetRole: 'Stopped' } }), prim('db', { meta: { targetRole: 'Stopped' } })],
          constraints: [{ kind: 'order', id: 'o', first: 'fs', then: 'db' }],
        },
        status,
      ),
    );
    assert.deepEqual(ids(r.actions), ['db_stop_0@n1', 'fs_stop_0@n1']);
  });

  it('migration-threshold bans a node until failure-timeout expires the fail count', () => {
    const failed = (ageMs: number) => ({
      n1: {
        state: 'online' as const,
        resources: { ip: { ...started([{ op: 'monitor' as const, intervalMs: 10_000, rc: 7, timeMs: NOW_MS - ageMs, callId: ++call }]), failCount: 2, lastFailureMs: NOW_MS - ageMs } },
      },
    });
    const config = { resources: [prim('ip')], rscDefaults: { migrationThreshold: 2, failureTimeoutMs: 60_000, resourceStickiness: 100 } };
    const fresh = run(cib(config, failed(10_000)));
    assert.deepEqual(where(fresh, 'ip'), ['n2']);
    assert.equal(fresh.scores['ip']!['n1'], -INFINITY);
    const expired = run(cib(config, failed(120_000)));
    assert.deepEqual(where(expired, 'ip'), ['n1']);
    assert.deepEqual(ids(expired.actions), []);
  });

  it('a failed monitor restarts the resource in place (on-fail=restart)', () => {
    const status = { n1: { state: 'online' as const, resources: { ip: { ...started([{ op: 'monitor' as const, intervalMs: 10_000, rc: 1, timeMs: NOW_MS - 1000, callId: ++call }]), failCount: 1, lastFailureMs: NOW_MS - 1000 } } } };
    const r = run(cib({ resources: [prim('ip')], rscDefaults: { resourceStickiness: 100 } }, status));
    assert.deepEqual(ids(r.actions), ['ip_stop_0@n1', 'ip_start_0@n1', 'ip_monitor_10000@n1']);
  });

  it('on-fail=block leaves a failed resource alone; on-fail=standby empties its node', () => {
    const failedWith = (onFail: 'block' | 'standby') => {
      const p = prim('ip', { ops: [{ name: 'monitor', intervalMs: 10_000, timeoutMs: 20_000, onFail }] });
      const status = { n1: { state: 'online' as const, resources: { ip: started([{ op: 'monitor', intervalMs: 10_000, rc: 1, timeMs: NOW_MS - 1000, callId: ++call }]), web: started() } } };
      return run(cib({ resources: [p, prim('web')] }, status));
    };
    const blocked = failedWith('block');
    assert.deepEqual(where(blocked, 'ip'), ['n1']);
    assert.ok(!ids(blocked.actions).some((a) => a.startsWith('ip_')));
    const standby = failedWith('standby');
    assert.ok(!where(standby, 'web').includes('n1'));
    assert.ok(!where(standby, 'ip').includes('n1'));
  });

  it('an unclean node is fenced before its resources start elsewhere', () => {
    const c = cib({ resources: [prim('ip')], properties: { stonithEnabled: true } }, { n1: { state: 'unclean', resources: { ip: started() } } });
    const r = run(c);
    assert.deepEqual(r.fenced, ['n1']);
    const start = r.actions.find((a) => a.id === 'ip_start_0@n2')!;
    assert.deepEqual(start.deps, ['fence@n1']);
  });

  it('without quorum, no-quorum-policy=stop stops everything and freeze keeps what runs', () => {
    const status = { n1: { state: 'online' as const, resources: { ip: started() } } };
    const stop = run(cib({ resources: [prim('ip'), prim('web')], properties: { stonithEnabled: false, noQuorumPolicy: 'stop' } }, status), false);
    assert.deepEqual(ids(stop.actions), ['ip_stop_0@n1']);
    const freeze = run(cib({ resources: [prim('ip'), prim('web')], properties: { stonithEnabled: false, noQuorumPolicy: 'freeze' } }, status), false);
    assert.deepEqual(where(freeze, 'ip'), ['n1']);
    assert.deepEqual(where(freeze, 'web'), []);
    assert.deepEqual(ids(freeze.actions), []);
  });

  it('maintenance mode and unmanaged resources produce no actions', () => {
    const status = { n1: { state: 'online' as const, standby: true, resources: { ip: started() } } };
    const m = run(cib({ resources: [prim('ip')], properties: { stonithEnabled: false, maintenanceMode: true } }, status));
    assert.deepEqual(ids(m.actions), []);
    assert.deepEqual(where(m, 'ip'), ['n1']);
    const u = run(cib({ resources: [prim('ip', { meta: { isManaged: false } })] }, status));
    assert.deepEqual(ids(u.actions), []);
  });

  it('a node in maintenance (node attribute maintenance=true) keeps what it runs untouched; the other nodes stay managed', () => {
    const failedMonitor: OpRecord = { op: 'monitor', intervalMs: 10_000, rc: 7, timeMs: NOW_MS - 1_000, callId: 0 };
    const nodes = [
      { id: '1', name: 'n1', attributes: { maintenance: 'true' } },
      { id: '2', name: 'n2' },
      { id: '3', name: 'n3' },
    ];
    const clone = { kind: 'clone' as const, id: 'cl', child: prim('c') };
    const status = {
      // On n1 (maintenance): 'ip' runs, 'db' failed its monitor, 'web' runs but is asked to stop.
      n1: { state: 'online' as const, resources: { ip: started(), db: started([failedMonitor]), web: started(), c: started() } },
      // On n2 (managed): 'app' failed its monitor and is recovered as usual.
      n2: { state: 'online' as const, resources: { app: started([failedMonitor]), c: started() } },
    };
    const r = run(cib({ nodes, resources: [prim('ip'), prim('db'), prim('web', { meta: { targetRole: 'Stopped' } }), prim('app'), prim('new'), clone] }, status));
    const onN1 = r.actions.filter((a) => a.node === 'n1');
    assert.deepEqual(ids(onN1), [], 'nothing is started, stopped, recovered or monitored on n1');
    assert.deepEqual([where(r, 'ip'), where(r, 'db'), where(r, 'web')], [['n1'], ['n1'], ['n1']]);
    assert.ok(ids(r.actions).includes('app_stop_0@n2'), 'a failure on a managed node is still recovered');
    assert.notDeepEqual(where(r, 'new'), ['n1'], 'nothing new is placed on n1');
    assert.equal(where(r, 'new').length, 1);
    // The clone's instance on n1 stays; the clone still runs an instance on n3.
    assert.deepEqual(where(r, 'c').sort(), ['n1', 'n2', 'n3']);
    assert.ok(ids(r.actions).includes('c_start_0@n3'));
    // A transient attribute (crm_attribute --lifetime reboot) counts the same, and "off" ends it.
    const transient = run(cib({ resources: [prim('ip')] }, { n1: { state: 'online', attributes: { maintenance: 'on' }, resources: { ip: started([failedMonitor]) } } }));
    assert.deepEqual(ids(transient.actions), []);
    const off = run(cib({ nodes: [{ ...nodes[0]!, attributes: { maintenance: 'off' } }, nodes[1]!, nodes[2]!], resources: [prim('ip')] }, { n1: { state: 'online', resources: { ip: started([failedMonitor]) } } }));
    assert.ok(ids(off.actions).includes('ip_stop_0@n1'), 'out of maintenance, the failure is recovered');
  });

  it('the higher-priority resource wins when only one can run', () => {
    const r = run(
      cib({
        nodes: [{ id: '1', name: 'n1' }],
        resources: [prim('low', { meta: { priority: 1 } }), prim('high', { meta: { priority: 10 } })],
        constraints: [{ kind: 'colocation', id: 'c', rsc: 'low', withRsc: 'high', score: -INFINITY }],
      }),
    );
    assert.deepEqual(where(r, 'high'), ['n1']);
    assert.deepEqual(where(r, 'low'), []);
  });

  it('a clone runs one instance per node up to clone-max; a promotable promotes the best score', () => {
    const clone = { kind: 'clone' as const, id: 'pc', child: prim('p'), meta: { cloneMax: 2 } };
    assert.deepEqual(where(run(cib({ resources: [clone] })), 'p'), ['n1', 'n2']);
    const promotable = { ...clone, meta: { promotable: true } };
    const r = run(cib({ resources: [promotable] }, { n2: { state: 'online', attributes: { 'master-p': '50' } }, n3: { state: 'online', attributes: { 'master-p': '10' } } }));
    assert.deepEqual(
      r.placement['p']!.map((e) => `${e.node}:${e.role}`).sort(),
      ['n1:Unpromoted', 'n2:Promoted', 'n3:Unpromoted'],
    );
    assert.ok(before(r.actions, 'p_start_0@n2', 'p_promote_0@n2'));
  });

  it('a cli-ban moves a resource away and clearing it lets stickiness decide again', () => {
    const status = { n1: { state: 'online' as const, resources: { ip: started() } } };
    const r = run(cib({ resources: [prim('ip')], constraints: [{ kind: 'location', id: 'cli-ban-ip-on-n1', rsc: 'ip', node: 'n1', score: -INFINITY }] }, status));
    assert.deepEqual(where(r, 'ip'), ['n2']);
  });

  it('is deterministic and leaves its input untouched', () => {
    const c = cib(
      { resources: [prim('a'), { kind: 'group', id: 'g', members: [prim('b'), prim('c')] }], constraints: [{ kind: 'colocation', id: 'x', rsc: 'g', withRsc: 'a', score: 100 }] },
      { n2: { state: 'online', resources: { a: started() } } },
    );
    const copy = structuredClone(c);
    assert.deepEqual(run(c), run(c));
    assert.deepEqual(c, copy);
  });
});
