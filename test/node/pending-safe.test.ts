import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TotemMessageKind } from '../../lib/totem/index.js';
import { DriverLab, formed } from '../helpers/driver-lab.js';

/**
 * A start runs only once its pending record is safe (simulator seed 50055, lib/node/driver.ts
 * `unsafePending`): three real node drivers with in-memory agents on a scripted network
 * (test/helpers/driver-lab.ts). Node 2 is ordered to start vip; everything it sends from its next
 * broadcast on (the pending record) is cut, so the record is delivered at node 2 alone (it holds
 * the token and every lower message) and never reaches the coordinator, which then starts vip on
 * another node. Node 2 must never start it. Every operation of every node is recorded.
 */
describe('a start and its pending record', () => {
  it('a node that delivered its own pending record alone never runs the start', () => {
    const lab = formed(
      new DriverLab({
        resources: {
          resources: [{ kind: 'primitive', id: 'vip', agent: { class: 'sanode', type: 'dummy' }, ops: [{ name: 'monitor', intervalMs: 1000, timeoutMs: 5000 }] }],
          constraints: [{ kind: 'location', id: 'vip-likes-n2', rsc: 'vip', node: 'n2', score: 100 }],
          standby: [2],
        },
      }),
    );
    const running = (): number[] => [...lab.runningOn].filter(([, s]) => s.has('vip')).map(([id]) => id);
    lab.run(10_000, () => running().length === 1);
    const first = running();
    assert.equal(first.length, 1, 'vip runs on one node');
    assert.notEqual(first[0], 2, 'not on n2, which is in standby');

    // n2 back online: vip moves there (stop on its holder, then the start on n2). n2's first
    // broadcast after that is the start's pending record; from then on nothing n2 sends arrives.
    let cutAtMs: number | undefined;
    lab.beforeRoute = (from, sends) => {
      if (cutAtMs !== undefined || from !== 2) return;
      if (!lab.operations.some((o) => o.node === first[0] && o.op.rsc === 'vip' && o.op.op === 'stop')) return;
      if (!sends.some((s) => s.msg.kind === TotemMessageKind.mcast && s.msg['sender'] === 2)) return;
      cutAtMs = lab.nowMs;
      lab.cut.add('2->1');
      lab.cut.add('2->3');
    };
    lab.drivers.get(1)!.updateCib({ op: 'set-standby', node: 'n2', standby: false }, lab.nowMs);
    lab.run(10_000, () => cutAtMs !== undefined && running().some((id) => id !== 2) && lab.members(1).length === 2);
    assert.ok(cutAtMs !== undefined, "n2's pending record was cut off");
    const starts = lab.operations.filter((o) => o.op.rsc === 'vip' && o.op.op === 'start').map((o) => `n${o.node}`);
    assert.ok(!starts.includes('n2'), `n2 never started vip (starts: ${starts.join(', ')})`);
    assert.equal(running().length, 1, `vip runs on one node only: ${running().join(', ')}`);
  });
});
