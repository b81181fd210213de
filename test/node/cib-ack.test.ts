import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TotemMessageKind } from '../../lib/totem/index.js';
import { DriverLab, formed, IDS } from '../helpers/driver-lab.js';

/**
 * When a CIB write is acknowledged (docs/cib.md): three real node drivers on a scripted network
 * (test/helpers/driver-lab.ts) whose links the test cuts at exact moments.
 */
describe('CIB write acknowledgement', () => {
  it('a write is acknowledged only once every member has stored it', () => {
    const lab = formed(new DriverLab());
    for (const [i, writer] of [1, 2, 3].entries()) {
      lab.watched = `w${i}`;
      const id = lab.updateCib(writer, `w${i}`, 'v');
      lab.run(2_000, () => lab.outcomesOf(id).length > 0);
      const outcomes = lab.outcomesOf(id);
      assert.equal(outcomes.length, 1, `one outcome for the write at n${writer}`);
      const [o] = outcomes;
      assert.equal(o!.event.ok, true, 'acknowledged');
      assert.deepEqual([...o!.othersHave!.values()], [true, true], `when n${writer} acknowledged w${i}, the other members had stored it: ${JSON.stringify([...o!.othersHave!])}`);
    }
  });

  it('a write applied only by a node cut off as it sent it is never acknowledged, and the write the others made meanwhile survives the heal', () => {
    const lab = formed(new DriverLab());
    lab.watched = 'lost';
    // Cut n1 off before its next token visit: it originates the change, delivers it in agreed
    // order itself (it holds every lower message), and nothing it sends reaches anyone.
    for (const other of [2, 3]) lab.cut.add(`1->${other}`);
    const lost = lab.updateCib(1, 'lost', 'v');
    lab.run(3_000, () => lab.quorate(2) && lab.members(2).length === 2 && !lab.drivers.get(1)!.controller.decision.quorate);
    assert.deepEqual(lab.members(2), [2, 3], 'n2 and n3 formed a view without n1');
    assert.ok(lab.has(1, 'lost'), 'n1 applied and stored its own change (agreed delivery)');
    assert.ok(!lab.has(2, 'lost') && !lab.has(3, 'lost'), 'nobody else has it');
    lab.isolate(1);
    const kept = lab.updateCib(2, 'kept', 'v');
    lab.run(2_000, () => lab.outcomesOf(kept).length > 0);
    assert.equal(lab.outcomesOf(kept)[0]?.event.ok, true, 'the quorate side acknowledged its own write');
    lab.heal();
    lab.run(10_000, () => IDS.every((id) => lab.quorate(id) && lab.members(id).length === 3 && lab.has(id, 'kept')));
    lab.run(500);
    const outcomes = lab.outcomesOf(lost);
    assert.equal(outcomes.length, 1, `one outcome for the cut-off write: ${JSON.stringify(outcomes.map((o) => o.event))}`);
    const o = outcomes[0]!.event;
    assert.equal(o.ok, false, 'never reported as written');
    assert.equal(o.ok === false ? o.error.code : undefined, 'SANODE_CIB_OUTCOME_UNKNOWN');
    for (const id of IDS) assert.ok(lab.has(id, 'kept'), `the acknowledged write is on n${id} after the heal`);
    const versions = IDS.map((id) => JSON.stringify(lab.drivers.get(id)!.cib.version));
    assert.equal(new Set(versions).size, 1, `one CIB version everywhere after the heal: ${versions.join(' ')}`);
  });

  it('a write whose ring broke before it was safe is acknowledged when the quorate view that follows came straight from that ring', () => {
    const lab = formed(new DriverLab());
    lab.watched = 'carried';
    // n3 is cut off the instant n1 sends the change: n1 and n2 have it, n3 never does, and the
    // ring breaks before n3's aru could make it safe. n1 and n2 go on together into a quorate view.
    lab.beforeRoute = (from, sends) => {
      if (from === 1 && sends.some((s) => s.msg.kind === TotemMessageKind.mcast)) {
        lab.isolate(3);
        lab.beforeRoute = undefined;
      }
    };
    const carried = lab.updateCib(1, 'carried', 'v');
    lab.run(5_000, () => lab.outcomesOf(carried).length > 0);
    const outcomes = lab.outcomesOf(carried);
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.event.ok, true, `acknowledged: ${JSON.stringify(outcomes[0]!.event)}`);
    assert.deepEqual(lab.members(1), [1, 2], 'acknowledged in the view of n1 and n2');
    const viewAt = lab.record.find((r) => r.node === 1 && r.event.type === 'view' && r.event.view.members.length === 2)?.atMs;
    assert.ok(viewAt !== undefined && outcomes[0]!.atMs >= viewAt, 'acknowledged by the view that followed, not by a safe mark of the old ring');
    assert.deepEqual([...outcomes[0]!.othersHave!], [[2, true], [3, false]]);
    lab.heal();
    lab.run(10_000, () => IDS.every((id) => lab.has(id, 'carried')));
    for (const id of IDS) assert.ok(lab.has(id, 'carried'), `n${id} has the acknowledged write after the heal`);
  });
});
