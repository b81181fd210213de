import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TotemMessageKind } from '../../lib/totem/index.js';
import { DriverLab, formed } from '../helpers/driver-lab.js';

/**
 * A graceful leave must not take with it what the leaver sent last (its final stop records, its
 * leader release). Agreed order delivers a node's own message to itself at once, before anybody
 * else has it; simulator seed 11013: the leaver's stop record was lost with it, and the others
 * waited out its lost-node deadline.
 */
describe('graceful leave', () => {
  it('waits until the others hold what the leaver sent last, even when its first copy is lost', () => {
    const lab = formed(new DriverLab());
    const text = 'the last thing node 1 says';
    // The first transmission of node 1's next message is lost on the way to both others.
    let dropped = 0;
    lab.drop = (from, _to, msg) => {
      if (from !== 1 || msg.kind !== TotemMessageKind.mcast || dropped >= 2) return false;
      dropped++;
      return true;
    };
    const result = lab.drivers.get(1)!.broadcast(text, lab.nowMs);
    assert.equal(result.ok, true);
    lab.drivers.get(1)!.leave(lab.nowMs);
    lab.run(5_000, () => lab.record.some((r) => r.node === 1 && r.event.type === 'left'));
    assert.equal(dropped, 2, 'both first copies were lost');
    const leftAt = lab.record.find((r) => r.node === 1 && r.event.type === 'left')?.atMs;
    assert.ok(leftAt !== undefined, 'node 1 finished its leave');
    for (const id of [2, 3]) {
      const got = lab.record.find((r) => r.node === id && r.event.type === 'message' && r.event.from === 1 && r.event.data === text);
      assert.ok(got !== undefined, `node ${id} delivered node 1's last message`);
      assert.ok(got.atMs <= leftAt, `node ${id} had it before node 1 left`);
    }
    assert.ok(lab.record.some((r) => r.node === 1 && r.event.type === 'message' && r.event.from === 1), 'node 1 delivered its own message');
  });
});
