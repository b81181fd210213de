import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterNet } from '../../lib/transport/index.js';
import { isSanodeError } from '../../lib/errors/index.js';

/**
 * A node whose frame counter ran out stays up and says what to do (issue 12, item 11): send()
 * throws SANODE_COUNTER_EXHAUSTED and the ping timer reports it instead of crashing the process.
 * Loopback 127.0.126.x only.
 */
test('an exhausted frame counter is a typed error on send and a report from the ping timer, not a crash', async () => {
  const reports: unknown[] = [];
  const net = await ClusterNet.open({
    wire: { cluster: 'counter', nodeId: 1, incarnation: 1, security: { mode: 'insecure' }, knownNodes: [1, 2], counterStart: Number.MAX_SAFE_INTEGER },
    links: [{ mode: 'udpu', bindAddr: '127.0.126.1', port: 5491 }],
    nodes: [
      { id: 1, addrs: ['127.0.126.1'] },
      { id: 2, addrs: ['127.0.126.2'] },
    ],
    linkPingMs: 10,
    linkTimeoutMs: 40,
    log: (message, error) => reports.push({ message, error }),
  });
  try {
    assert.throws(() => net.send('x', 2), (error: unknown) => isSanodeError(error) && error.code === 'SANODE_COUNTER_EXHAUSTED');
    // The first ping went out (or failed) inside open(); wait, bounded, for the timer to report.
    const deadline = Date.now() + 5_000;
    while (reports.length === 0) {
      assert.ok(Date.now() < deadline, 'the ping timer reported the exhausted counter');
      await new Promise((r) => setTimeout(r, 10));
    }
    const { error } = reports[0] as { error: unknown };
    assert.ok(isSanodeError(error) && error.code === 'SANODE_COUNTER_EXHAUSTED', String(error));
  } finally {
    await net.close();
  }
});
