import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkHealthMonitor } from '../../lib/transport/health.js';

/** Peers 2 and 3, two links, ping 100 ms, timeout 500 ms, starting at t=1000. */
function monitor(overrides: Partial<{ stallMs: number }> = {}): LinkHealthMonitor {
  return new LinkHealthMonitor({ peers: [2, 3], linkCount: 2, pingMs: 100, timeoutMs: 500, nowMs: 1000, ...overrides });
}

/** Advances fake time in small steps, as the transport's interval timer would. */
function runUntil(health: LinkHealthMonitor, fromMs: number, toMs: number, stepMs: number, beforeTick?: (nowMs: number) => void) {
  const changes = [];
  const pings = [];
  for (let nowMs = fromMs; nowMs <= toMs; nowMs += stepMs) {
    beforeTick?.(nowMs);
    const result = health.tick(nowMs);
    changes.push(...result.changes.map((change) => ({ ...change, atMs: nowMs })));
    pings.push(...result.pings.map((ping) => ({ ...ping, atMs: nowMs })));
  }
  return { changes, pings };
}

describe('link health monitor', () => {
  it('a (peer, link) starts faulty and turns healthy on its first authenticated frame', () => {
    const health = monitor();
    assert.equal(health.isHealthy(2, 0), false);
    assert.deepEqual(health.linkPeers(0, 1000), [
      { node: 2, healthy: false, lastHeardAgoMs: null, hearsUs: null },
      { node: 3, healthy: false, lastHeardAgoMs: null, hearsUs: null },
    ]);
    assert.deepEqual(health.heard(2, 0, 1010), { node: 2, link: 0, healthy: true });
    assert.equal(health.heard(2, 0, 1020), undefined, 'no change reported for a link already healthy');
    assert.equal(health.isHealthy(2, 0), true);
    assert.equal(health.isHealthy(2, 1), false);
    assert.deepEqual(health.linkPeers(0, 1050)[0], { node: 2, healthy: true, lastHeardAgoMs: 30, hearsUs: null });
  });

  it('a link silent for timeoutMs turns faulty, exactly once, and healthy again when traffic resumes', () => {
    const health = monitor();
    health.heard(2, 0, 1000);
    health.heard(2, 1, 1000);
    // Link 1 keeps hearing from node 2; link 0 goes silent.
    const { changes } = runUntil(health, 1025, 2000, 25, (nowMs) => health.heard(2, 1, nowMs));
    assert.deepEqual(changes, [{ node: 2, link: 0, healthy: false, atMs: 1500 }]);
    assert.equal(health.isHealthy(2, 0), false);
    assert.equal(health.isHealthy(2, 1), true);
    assert.deepEqual(health.heard(2, 0, 2010), { node: 2, link: 0, healthy: true });
    assert.deepEqual(health.tick(2025).changes, []);
  });

  it('sends go to the healthy links only, and to every link when none is healthy', () => {
    const health = monitor();
    assert.deepEqual(health.sendLinks(2), [0, 1], 'nothing heard yet: every link');
    health.heard(2, 1, 1000);
    assert.deepEqual(health.sendLinks(2), [1]);
    health.heard(2, 0, 1000);
    assert.deepEqual(health.sendLinks(2), [0, 1]);
    health.heard(2, 0, 1400);
    runUntil(health, 1025, 1500, 25);
    assert.deepEqual(health.sendLinks(2), [0], 'link 1 silent since 1000');
    runUntil(health, 1525, 1900, 25);
    assert.deepEqual(health.sendLinks(2), [0, 1], 'both faulty: fall back to every link');
    assert.deepEqual(health.sendLinks(99), [0, 1], 'an unknown node gets every link');
  });

  it('pings go to a (peer, link) idle for pingMs; one carrying traffic gets only the report ping, every timeoutMs / 3', () => {
    const health = monitor();
    // First tick: nothing was ever sent, so every (peer, link) gets a ping at once.
    assert.deepEqual(health.tick(1000).pings, [
      { node: 2, link: 0 },
      { node: 2, link: 1 },
      { node: 3, link: 0 },
      { node: 3, link: 1 },
    ]);
    // Application traffic to node 2 on link 0 every 50 ms: only the report ping (500 / 3 ms).
    const { pings } = runUntil(health, 1025, 1500, 25, (nowMs) => {
      if (nowMs % 50 === 0) health.sent(2, 0, nowMs);
    });
    assert.deepEqual(pings.filter((ping) => ping.node === 2 && ping.link === 0).map((ping) => ping.atMs), [1175, 1350]);
    // The idle ones get one ping per pingMs: at 1100, 1200, 1300, 1400, 1500.
    for (const [node, link] of [[2, 1], [3, 0], [3, 1]] as const) {
      assert.deepEqual(
        pings.filter((ping) => ping.node === node && ping.link === link).map((ping) => ping.atMs),
        [1100, 1200, 1300, 1400, 1500],
        `pings to node ${node} on link ${link}`,
      );
    }
  });

  it('a link we hear on but the peer reports not hearing us on is faulty (one-way), until it reports hearing us', () => {
    const health = monitor();
    health.heard(2, 0, 1000);
    assert.equal(health.isHealthy(2, 0), true, 'no report yet: judged on what we hear');
    assert.deepEqual(health.reported(2, 0, false, 1010), { node: 2, link: 0, healthy: false });
    health.heard(2, 0, 1020);
    assert.equal(health.isHealthy(2, 0), false, 'hearing the peer again proves only its direction');
    assert.deepEqual(health.linkPeers(0, 1020)[0], { node: 2, healthy: false, lastHeardAgoMs: 0, hearsUs: false });
    assert.deepEqual(health.sendLinks(2), [0, 1], 'no healthy link: every link');
    assert.deepEqual(health.reported(2, 0, true, 1030), { node: 2, link: 0, healthy: true });
  });

  it('reports that stop coming turn a link faulty even while frames still arrive from the peer', () => {
    const health = monitor();
    health.heard(2, 0, 1000);
    health.reported(2, 0, true, 1000);
    const heardChanges: unknown[] = [];
    const { changes } = runUntil(health, 1025, 1600, 25, (nowMs) => {
      const change = health.heard(2, 0, nowMs);
      if (change !== undefined) heardChanges.push({ ...change, atMs: nowMs });
    });
    assert.deepEqual([...heardChanges, ...changes], [{ node: 2, link: 0, healthy: false, atMs: 1500 }]);
  });

  it('the report a ping carries lists the peers heard on that link within timeoutMs', () => {
    const health = monitor();
    health.heard(2, 0, 1000);
    health.heard(3, 1, 1200);
    assert.deepEqual(health.heardOn(0, 1400), [2]);
    assert.deepEqual(health.heardOn(1, 1400), [3]);
    assert.deepEqual(health.heardOn(0, 1500), []);
    assert.deepEqual(health.heardOn(5, 1500), []);
  });

  it('a ping is taken as sent, so a failing link does not turn into a ping storm', () => {
    const health = monitor();
    health.tick(1000);
    assert.deepEqual(health.tick(1001).pings, []);
    assert.equal(health.tick(1100).pings.length, 4);
  });

  it('a stall skips fault detection for one tick, so frames queued during the stall count first', () => {
    const health = monitor();
    health.heard(2, 0, 1000);
    // The process freezes from 1000 to 3000; the next tick sees a 2000 ms gap.
    const afterStall = health.tick(3000);
    assert.equal(afterStall.stalled, true);
    assert.deepEqual(afterStall.changes, [], 'no verdict from a timer that expired while we were frozen');
    assert.equal(health.stalls, 1);
    // The queued frame from node 2 is read right after the timer phase.
    health.heard(2, 0, 3001);
    assert.deepEqual(health.tick(3025).changes, []);
    assert.equal(health.isHealthy(2, 0), true);
  });

  it('after a stall, a link that really died is declared faulty by the next tick', () => {
    const health = monitor();
    health.heard(2, 0, 1000);
    assert.equal(health.tick(3000).stalled, true);
    assert.deepEqual(health.tick(3025).changes, [{ node: 2, link: 0, healthy: false }]);
  });

  it('ignores unknown peers and links out of range', () => {
    const health = monitor();
    assert.equal(health.heard(7, 0, 1000), undefined);
    assert.equal(health.heard(2, 5, 1000), undefined);
    health.sent(7, 0, 1000);
    assert.equal(health.isHealthy(2, 5), false);
  });

  it('rejects impossible options', () => {
    assert.throws(() => new LinkHealthMonitor({ peers: [2], linkCount: 0, pingMs: 100, timeoutMs: 500, nowMs: 0 }), RangeError);
    assert.throws(() => new LinkHealthMonitor({ peers: [2, 2], linkCount: 1, pingMs: 100, timeoutMs: 500, nowMs: 0 }), RangeError);
    assert.throws(() => new LinkHealthMonitor({ peers: [2], linkCount: 1, pingMs: 0, timeoutMs: 500, nowMs: 0 }), RangeError);
  });

  it('nextDueMs is the next ping or possible fault; a timer armed for it sees each fault at its timeout', () => {
    const health = monitor();
    health.tick(1000); // first pings to everyone
    assert.equal(health.nextDueMs(), 1100, 'nothing sent since: the next ping is pingMs away');
    health.heard(2, 0, 1000);
    health.heard(3, 0, 1000);
    health.heard(3, 1, 1000);
    // Traffic to every (peer, link): only the reports (every 500 / 3 ms) and the timeouts remain.
    const traffic = (nowMs: number) => {
      for (const node of [2, 3]) for (const link of [0, 1]) health.sent(node, link, nowMs);
    };
    traffic(1090);
    assert.equal(health.nextDueMs(), 1000 + 500 / 3);
    // Driven only at the times it names, with traffic in between (which moves some of them later,
    // so a tick may find nothing to do): node 2's link 0, heard last at 1000, turns faulty
    // exactly at 1500, and the reports still go every 500 / 3 ms.
    const ticks: { atMs: number; pings: number; changes: string[] }[] = [];
    for (let step = 0; step < 10; step++) {
      const atMs = health.nextDueMs();
      if (atMs > 1600) break;
      traffic(atMs - 1);
      health.heard(3, 0, atMs - 1);
      health.heard(3, 1, atMs - 1);
      const result = health.tick(atMs, atMs);
      ticks.push({ atMs: Math.round(atMs), pings: result.pings.length, changes: result.changes.map((c) => `${c.node}/${c.link}:${c.healthy}`) });
    }
    assert.deepEqual(ticks.find((t) => t.changes.length > 0), { atMs: 1500, pings: 0, changes: ['2/0:false'] });
    assert.ok(ticks.length <= 6, `at most a few wake-ups in 600 ms, got ${JSON.stringify(ticks)}`);
    assert.deepEqual(ticks.filter((t) => t.pings > 0).map((t) => t.atMs), [1167, 1333, 1500]);
  });

  it('a tick that runs more than stallMs after it was scheduled is a stall: nothing turns faulty in it', () => {
    const health = monitor();
    health.heard(2, 0, 1000);
    health.tick(1100);
    // Scheduled for 1200, run at 1600 (the process was frozen); the gap since the last tick alone
    // (500 ms) would say so too, so schedule the previous tick close: it is the lateness that counts.
    health.tick(1590);
    const late = health.tick(1600, 1200);
    assert.equal(late.stalled, true);
    assert.deepEqual(late.changes, [], 'silence during our own freeze proves nothing');
    const next = health.tick(1610, 1610);
    assert.deepEqual(next.changes, [{ node: 2, link: 0, healthy: false }]);
  });
});
