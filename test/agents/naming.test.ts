import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as agents from '../../agents/index.js';
import { resolveJoinOptions } from '../../lib/runtime/options.js';

const hooks = (a: unknown): boolean => ['start', 'stop', 'monitor'].every((h) => typeof (a as Record<string, unknown>)[h] === 'function');

test('every shipped agent is a factory named after its type that returns a new agent', () => {
  const factories = { vip: agents.vip, ocf: agents.ocf, systemd: agents.systemd, lsb: agents.lsb, filesystem: agents.filesystem, dummy: agents.dummy, processAgent: agents.processAgent };
  for (const [name, factory] of Object.entries(factories)) {
    const a = (factory as () => unknown)();
    const b = (factory as () => unknown)();
    assert.ok(hooks(a), `${name}() has start, stop and monitor`);
    assert.notEqual(a, b, `${name}() returns a new agent each call`);
  }
});

test('the old names still work: the create* factories and filesystem as an agent object', () => {
  assert.ok(hooks(agents.createDummyAgent()));
  assert.ok(hooks(agents.createProcessAgent()));
  assert.ok(hooks(agents.createFilesystemAgent()));
  assert.ok(hooks(agents.filesystem), 'filesystem is still an agent itself');
  // ... and joinCluster still accepts it where an agent goes.
  const resolved = resolveJoinOptions({ cluster: 'c', node: { id: 1 }, transport: { peers: ['127.0.0.1'] }, security: 'insecure', stateDir: '/tmp/x', agents: { fs: agents.filesystem as never } });
  assert.equal(resolved.agents?.['fs'], agents.filesystem as unknown);
});
