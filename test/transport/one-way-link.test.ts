import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterNet, type LinkStatus } from '../../lib/transport/index.js';
import { generateKey } from '../../lib/wire/index.js';

/**
 * A mistyped peer address makes the link one-way: node 2 reaches node 1, node 1's frames go to
 * an address where nothing listens. Node 1 hears node 2 but must not call the link healthy
 * (issue 12, item 8). Loopback 127.0.125.x only (127.0.125.9, the mistyped one, has no listener).
 */
const port = 5481;
const key = generateKey();
const WAIT_MS = 10_000;

function open(nodeId: number, addressOfTwo: string): Promise<ClusterNet> {
  return ClusterNet.open({
    wire: { cluster: 'one-way', nodeId, incarnation: 1, security: { mode: 'secure', key }, knownNodes: [1, 2] },
    links: [{ mode: 'udpu', bindAddr: nodeId === 1 ? '127.0.125.1' : '127.0.125.2', port }],
    nodes: [
      { id: 1, addrs: ['127.0.125.1'] },
      { id: 2, addrs: [addressOfTwo] },
    ],
  });
}

test('a link heard in one direction only is not healthy, and status says which direction fails', async () => {
  const one = await open(1, '127.0.125.9'); // node 2's address mistyped on node 1
  const two = await open(2, '127.0.125.2');
  const seenByOne: boolean[] = [];
  one.on('link', (status: LinkStatus) => seenByOne.push(status.peers.find((p) => p.node === 2)!.healthy));
  try {
    // Bounded: wait until node 1 has had several of node 2's pings (each carries node 2's report).
    const deadline = Date.now() + WAIT_MS;
    while (one.stats().pingsReceived < 5) {
      assert.ok(Date.now() < deadline, "node 1 receives node 2's pings");
      await new Promise((r) => setTimeout(r, 20));
    }
    const peer = one.linkStatus()[0]!.peers.find((p) => p.node === 2)!;
    assert.notEqual(peer.lastHeardAgoMs, null, 'node 1 does hear node 2');
    assert.equal(peer.hearsUs, false, 'node 2 reports it does not hear node 1');
    assert.equal(peer.healthy, false);
    // Over the whole window: at most the one healthy moment before node 2's first report arrived.
    assert.ok(seenByOne.filter((h) => h).length <= 1, `link events on node 1: ${JSON.stringify(seenByOne)}`);
    assert.equal(seenByOne.at(-1), false);
    assert.equal(two.linkStatus()[0]!.peers.find((p) => p.node === 1)!.lastHeardAgoMs, null, 'node 2 never heard node 1');
  } finally {
    await one.close();
    await two.close();
  }
});
