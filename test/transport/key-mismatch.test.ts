import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { ClusterNet, type AuthFailureWarning } from '../../lib/transport/index.js';
import { generateKey, Wire } from '../../lib/wire/index.js';

/**
 * A node whose peer has another key says so (issue 12, item 7): a coded warning naming the
 * source address and the likely cause, rate-limited per source, and a line in the status.
 * Loopback 127.0.123.x only; nothing asserts a speed.
 */
const CLUSTER = 'key-mismatch';
const port = 5461;
const WAIT_MS = 10_000;

test('frames under another key raise one SANODE_KEY_MISMATCH warning per source and show in authFailures()', async () => {
  let nowMs = 0;
  const net = await ClusterNet.open({
    wire: { cluster: CLUSTER, nodeId: 1, incarnation: 1, security: { mode: 'secure', key: generateKey() }, knownNodes: [1, 2, 3] },
    links: [{ mode: 'udpu', bindAddr: '127.0.123.1', port }],
    nodes: [
      { id: 1, addrs: ['127.0.123.1'] },
      { id: 2, addrs: ['127.0.123.2'] },
      { id: 3, addrs: ['127.0.123.3'] },
    ],
    now: () => nowMs,
  });
  const warnings: AuthFailureWarning[] = [];
  net.on('warning', (w) => warnings.push(w));
  const otherKey = new Wire({ cluster: CLUSTER, nodeId: 2, incarnation: 7, security: { mode: 'secure', key: generateKey() }, knownNodes: [1, 2, 3] });
  const insecure = new Wire({ cluster: CLUSTER, nodeId: 3, incarnation: 7, security: { mode: 'insecure' }, knownNodes: [1, 2, 3] });
  const s2 = createSocket('udp4');
  const s3 = createSocket('udp4');
  await new Promise<void>((r) => s2.bind(port, '127.0.123.2', r));
  await new Promise<void>((r) => s3.bind(port, '127.0.123.3', r));
  const sendAll = async (count: number): Promise<void> => {
    const before = net.stats().wire.received;
    for (let i = 0; i < count; i++) {
      for (const f of otherKey.seal([1, 0])) await new Promise((r) => s2.send(f, port, '127.0.123.1', r));
      for (const f of insecure.seal([1, 0])) await new Promise((r) => s3.send(f, port, '127.0.123.1', r));
    }
    const deadline = Date.now() + WAIT_MS;
    while (net.stats().wire.received < before + 2 * count) {
      assert.ok(Date.now() < deadline, 'every datagram was read');
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    await sendAll(20);
    assert.equal(warnings.length, 2, `one warning per source, not one per frame: ${JSON.stringify(warnings)}`);
    const [fromTwo, fromThree] = [warnings.find((w) => w.node === 2)!, warnings.find((w) => w.node === 3)!];
    assert.equal(fromTwo.code, 'SANODE_KEY_MISMATCH');
    assert.equal(fromTwo.address, `127.0.123.2:${port}`);
    assert.match(fromTwo.message, /127\.0\.123\.2.*node 2.*another key.*authkey/);
    assert.equal(fromThree.cause, 'security-mode');
    assert.match(fromThree.message, /insecure/);

    // Later frames from the same sources are counted, and reported again only after the interval.
    nowMs += 1_000;
    await sendAll(5);
    assert.equal(warnings.length, 2);
    const status = net.authFailures();
    assert.deepEqual(
      status.map((s) => [s.address, s.node, s.frames, s.cause]).sort(),
      [
        [`127.0.123.2:${port}`, 2, 25, 'key'],
        [`127.0.123.3:${port}`, 3, 25, 'security-mode'],
      ],
    );
    nowMs += 60_000;
    await sendAll(1);
    assert.equal(warnings.length, 4);
    assert.equal(warnings[2]!.frames, 26, 'a repeated warning says how many frames failed in all');
  } finally {
    await net.close();
    s2.close();
    s3.close();
  }
});
