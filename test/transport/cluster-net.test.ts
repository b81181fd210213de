/**
 * ClusterNet over real sockets on loopback: nothing here leaves the host (127.0.0.1, ::1, and a
 * multicast group with TTL 0 on the loopback interface).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isSanodeError } from '../../lib/errors/index.js';
import { ClusterNet, type ClusterNetOptions, type LinkStatus } from '../../lib/transport/index.js';
import { allHealthy, closeCluster, freeUdpPorts, generateKey, openCluster, waitFor } from './support.js';

const IDS = [1, 2, 3] as const;

function withCode(code: string, fieldPart?: string) {
  return (error: unknown): boolean => {
    assert.ok(isSanodeError(error), `expected a SanodeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (fieldPart !== undefined) assert.ok(error.message.includes(fieldPart), `message should name ${fieldPart}: ${error.message}`);
    return true;
  };
}

/** A udpu cluster on one address, each node on its own port(s). */
async function udpuCluster(address: string, linkCount = 1, extra: Partial<ClusterNetOptions> = {}) {
  const ports = await freeUdpPorts(IDS.length * linkCount, address);
  const portOf = (id: number, link: number) => ports[(id - 1) * linkCount + link]!;
  const hostPort = (id: number, link: number) => (address.includes(':') ? `[${address}]:${portOf(id, link)}` : `${address}:${portOf(id, link)}`);
  const nodes = IDS.map((id) => ({ id, addrs: Array.from({ length: linkCount }, (_, link) => hostPort(id, link)) }));
  return openCluster(
    IDS,
    (id) => Array.from({ length: linkCount }, (_, link) => ({ mode: 'udpu' as const, bindAddr: address, port: portOf(id, link) })),
    nodes,
    extra,
  );
}

function baseOptions(nodeId: number, overrides: Partial<ClusterNetOptions>): ClusterNetOptions {
  return {
    wire: { cluster: 'transport-test', nodeId, incarnation: 1, security: { mode: 'secure', key: generateKey() }, knownNodes: [1, 2] },
    links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: 1 }],
    nodes: [
      { id: 1, addrs: ['127.0.0.1:1'] },
      { id: 2, addrs: ['127.0.0.1:2'] },
    ],
    ...overrides,
  };
}

describe('ClusterNet on loopback', () => {
  it('udpu over 127.0.0.1: a message to one node reaches only it, and a message to all reaches every other node', async () => {
    const cluster = await udpuCluster('127.0.0.1');
    try {
      const [n1, n2, n3] = IDS.map((id) => cluster.get(id)!);
      n1!.net.send({ hello: 'two' }, 2);
      await waitFor('node 2 to receive the unicast', () => n2!.received.length === 1);
      n3!.net.send(['to', 'all', 3], 'all');
      await waitFor('nodes 1 and 2 to receive the broadcast', () => n1!.received.length === 1 && n2!.received.length === 2);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(n2!.received[0], { from: 1, message: { hello: 'two' }, incarnation: 1 });
      assert.deepEqual(n2!.received[1], { from: 3, message: ['to', 'all', 3], incarnation: 1 });
      assert.deepEqual(n1!.received, [{ from: 3, message: ['to', 'all', 3], incarnation: 1 }]);
      assert.deepEqual(n3!.received, [], 'the unicast went to node 2 only, and a sender does not hear its own broadcast');
    } finally {
      await closeCluster(cluster);
    }
  });

  it('udpu over ::1 (IPv6)', async () => {
    const cluster = await udpuCluster('::1');
    try {
      cluster.get(2)!.net.send('over six', 'all');
      await waitFor('nodes 1 and 3 to receive', () => cluster.get(1)!.received.length === 1 && cluster.get(3)!.received.length === 1);
      assert.equal(cluster.get(1)!.received[0]!.message, 'over six');
      assert.match(cluster.get(1)!.net.linkStatus()[0]!.local, /^\[::1\]:\d+$/);
    } finally {
      await closeCluster(cluster);
    }
  });

  it('mcast on the loopback interface (239.x group, TTL 0): broadcast to all, and unicast delivered by its addressee only', async () => {
    const [port] = await freeUdpPorts(1, '127.0.0.1');
    const group = `239.255.${(process.pid >> 8) & 0xff}.${process.pid & 0xff}`;
    const cluster = await openCluster(
      IDS,
      // TTL 0: looped back to this host's sockets, never put on any wire.
      () => [{ mode: 'mcast', bindAddr: '127.0.0.1', port: port!, mcastAddr: group, ttl: 0, mcastInterface: '127.0.0.1' }],
      IDS.map((id) => ({ id, addrs: [] })),
    );
    try {
      const [n1, n2, n3] = IDS.map((id) => cluster.get(id)!);
      n1!.net.send({ seq: 1 }, 'all');
      await waitFor('nodes 2 and 3 to receive the group message', () => n2!.received.length === 1 && n3!.received.length === 1);
      n2!.net.send('just for three', 3);
      await waitFor('node 3 to receive its unicast', () => n3!.received.length === 2);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(n1!.received, [], 'node 1 saw the frame for node 3 but did not deliver it');
      assert.ok(n1!.net.stats().notForUs >= 1);
      // Multicast loops our own frames back; the wire drops them (it never knows itself as a peer).
      const own = n1!.net.stats();
      assert.ok(own.wire.dropped['unknown-node'] + own.ownFrames >= 1);
      assert.deepEqual(n3!.received.map((entry) => entry.message), [{ seq: 1 }, 'just for three']);
      await waitFor('every (peer, link) healthy', () => [n1!, n2!, n3!].every((node) => allHealthy(node.net)));
      // A batch over mcast: one bundle to the group; each node keeps what is addressed to it, in order.
      const before = { n2: n2!.received.length, n3: n3!.received.length };
      n1!.net.sendBatch([
        { to: 'all', msg: { kind: 10, seq: 2 } },
        { to: 2, msg: { kind: 9, seq: 3 } },
        { to: 3, msg: { kind: 8, seq: 4 } },
        { to: 'all', msg: { kind: 10, seq: 5 } },
      ]);
      await waitFor('the bundle at nodes 2 and 3', () => n2!.received.length === before.n2 + 3 && n3!.received.length === before.n3 + 3);
      assert.deepEqual(n2!.received.slice(before.n2).map((entry) => entry.message), [{ kind: 10, seq: 2 }, { kind: 9, seq: 3 }, { kind: 10, seq: 5 }]);
      assert.deepEqual(n3!.received.slice(before.n3).map((entry) => entry.message), [{ kind: 10, seq: 2 }, { kind: 8, seq: 4 }, { kind: 10, seq: 5 }]);
      assert.equal(n1!.net.stats().bundlesSent, 1, 'one bundle for the four messages');
    } finally {
      await closeCluster(cluster);
    }
  });

  it('a 100 KiB message arrives intact, in fragments', async () => {
    const cluster = await udpuCluster('127.0.0.1');
    try {
      const payload = randomBytes(100 * 1024);
      cluster.get(1)!.net.send({ blob: payload }, 3);
      await waitFor('the large message', () => cluster.get(3)!.received.length === 1);
      const got = cluster.get(3)!.received[0]!.message as { blob: Uint8Array };
      assert.ok(Buffer.from(got.blob).equals(payload), 'payload differs');
      assert.ok(cluster.get(1)!.net.stats().links[0]!.tx > 80, 'sent as many datagrams');
    } finally {
      await closeCluster(cluster);
    }
  });

  it('two links: each message delivered once, the copy on the other link dropped as a duplicate, both links healthy', async () => {
    const cluster = await udpuCluster('127.0.0.1', 2, { linkPingMs: 20, linkTimeoutMs: 100 });
    try {
      const nets = IDS.map((id) => cluster.get(id)!.net);
      await waitFor('every (peer, link) healthy', () => nets.every(allHealthy));
      for (let seq = 0; seq < 50; seq++) nets[0]!.send(seq, 'all');
      await waitFor('50 messages at nodes 2 and 3', () => cluster.get(2)!.received.length >= 50 && cluster.get(3)!.received.length >= 50);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(cluster.get(2)!.received.map((entry) => entry.message), Array.from({ length: 50 }, (_, seq) => seq));
      assert.ok(nets[1]!.stats().wire.dropped.duplicate >= 50, 'every message came twice, once per link');
      const status = nets[0]!.linkStatus();
      assert.equal(status.length, 2);
      for (const link of status) {
        assert.deepEqual(link.peers.map((peer) => [peer.node, peer.healthy]), [[2, true], [3, true]]);
        assert.ok(link.peers.every((peer) => peer.lastHeardAgoMs !== null && peer.lastHeardAgoMs < 100));
        assert.equal(link.mode, 'udpu');
        assert.equal(link.sendErrors, 0);
      }
    } finally {
      await closeCluster(cluster);
    }
  });

  it('pings make idle links healthy and never reach the application', async () => {
    const cluster = await udpuCluster('127.0.0.1', 1, { linkPingMs: 10, linkTimeoutMs: 50 });
    try {
      const nets = IDS.map((id) => cluster.get(id)!.net);
      await waitFor('every (peer, link) healthy', () => nets.every(allHealthy));
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const id of IDS) assert.deepEqual(cluster.get(id)!.received, []);
      assert.ok(nets[0]!.stats().pingsReceived > 5);
      assert.ok(nets[0]!.stats().pingsSent > 5);
    } finally {
      await closeCluster(cluster);
    }
  });

  it('a peer that goes silent is reported faulty with a link event, and healthy again when it comes back', async () => {
    const ports = await freeUdpPorts(2, '127.0.0.1');
    const nodes = [
      { id: 1, addrs: [`127.0.0.1:${ports[0]}`] },
      { id: 2, addrs: [`127.0.0.1:${ports[1]}`] },
    ];
    const key = generateKey();
    const open = (id: number, incarnation: number) =>
      ClusterNet.open({
        wire: { cluster: 'transport-test', nodeId: id, incarnation, security: { mode: 'secure', key }, knownNodes: [1, 2] },
        links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: ports[id - 1]! }],
        nodes,
        linkPingMs: 20,
        linkTimeoutMs: 150,
      });
    const n1 = await open(1, 1);
    let n2 = await open(2, 1);
    try {
      const events: { healthy: boolean; node: number; status: LinkStatus }[] = [];
      n1.on('link', (status, change) => events.push({ healthy: change.healthy, node: change.node, status }));
      await waitFor('node 2 healthy at node 1', () => events.some((event) => event.healthy));
      await n2.close();
      await waitFor('node 2 faulty at node 1', () => events.some((event) => !event.healthy));
      const faulty = events.find((event) => !event.healthy)!;
      assert.equal(faulty.node, 2);
      assert.equal(faulty.status.peers[0]!.healthy, false);
      assert.equal(n1.linkStatus()[0]!.peers[0]!.healthy, false);
      n2 = await open(2, 2);
      await waitFor('node 2 healthy again', () => n1.linkStatus()[0]!.peers[0]!.healthy);
      assert.deepEqual(events.map((event) => event.healthy), [true, false, true]);
    } finally {
      await Promise.all([n1.close(), n2.close()]);
    }
  });

  it('a throwing message listener is counted and logged, and the receive loop goes on', async () => {
    const logged: string[] = [];
    const cluster = await udpuCluster('127.0.0.1', 1, { log: (message) => logged.push(message) });
    try {
      const n2 = cluster.get(2)!;
      let calls = 0;
      n2.net.on('message', () => {
        calls += 1;
        if (calls === 1) throw new Error('application bug');
      });
      cluster.get(1)!.net.send('first', 2);
      cluster.get(1)!.net.send('second', 2);
      await waitFor('both messages', () => calls === 2);
      assert.equal(n2.net.stats().listenerErrors, 1);
      assert.equal(logged.length, 1);
      assert.match(logged[0]!, /listener threw/);
    } finally {
      await closeCluster(cluster);
    }
  });

  it('send never throws on a transient network error; it is counted on the link', async () => {
    const [port] = await freeUdpPorts(1, '127.0.0.1');
    // An IPv4 link whose peer sits at a broadcast address: the kernel refuses (EACCES) without
    // SO_BROADCAST, and nothing leaves the host.
    const net = await ClusterNet.open(
      baseOptions(1, {
        links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: port! }],
        nodes: [
          { id: 1, addrs: [`127.0.0.1:${port}`] },
          { id: 2, addrs: ['127.255.255.255:9'] },
        ],
      }),
    );
    try {
      net.send('x', 2);
      await waitFor('the send error to be counted', () => net.linkStatus()[0]!.sendErrors > 0);
      const status = net.linkStatus()[0]!;
      assert.ok(Object.keys(status.sendErrorsByCode).length > 0);
      assert.ok(status.lastSendError);
    } finally {
      await net.close();
    }
  });

  it('binding to an address that is not local fails with SANODE_ADDRESS_NOT_LOCAL naming the address', async () => {
    // 203.0.113.0/24 is TEST-NET-3: never assigned to this host. Binding sends nothing.
    await assert.rejects(
      ClusterNet.open(baseOptions(1, { links: [{ mode: 'udpu', bindAddr: '203.0.113.77', port: 5405 }], nodes: [{ id: 1, addrs: ['203.0.113.77'] }, { id: 2, addrs: ['203.0.113.78'] }] })),
      withCode('SANODE_ADDRESS_NOT_LOCAL', '203.0.113.77'),
    );
    await assert.rejects(
      ClusterNet.open(baseOptions(1, { links: [{ mode: 'mcast', bindAddr: '203.0.113.77', port: 5405, mcastAddr: '239.255.1.1', ttl: 0 }], nodes: [{ id: 1, addrs: [] }, { id: 2, addrs: [] }] })),
      withCode('SANODE_ADDRESS_NOT_LOCAL', '203.0.113.77'),
    );
  });

  it('a port already in use fails with SANODE_PORT_IN_USE naming the port, and links opened before it are closed', async () => {
    const [taken, first] = await freeUdpPorts(2, '127.0.0.1');
    const holder = await ClusterNet.open(baseOptions(2, { links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: taken! }], nodes: [{ id: 1, addrs: ['127.0.0.1:1'] }, { id: 2, addrs: [`127.0.0.1:${taken}`] }] }));
    try {
      const twoLinks = baseOptions(1, {
        links: [
          { mode: 'udpu', bindAddr: '127.0.0.1', port: first! },
          { mode: 'udpu', bindAddr: '127.0.0.1', port: taken! },
        ],
        nodes: [
          { id: 1, addrs: [`127.0.0.1:${first}`, `127.0.0.1:${taken}`] },
          { id: 2, addrs: ['127.0.0.1:1', '127.0.0.1:1'] },
        ],
      });
      await assert.rejects(ClusterNet.open(twoLinks), withCode('SANODE_PORT_IN_USE', String(taken)));
      // Link 0 was bound before link 1 failed; it must have been released.
      const again = await ClusterNet.open(baseOptions(1, { links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: first! }] }));
      await again.close();
    } finally {
      await holder.close();
    }
  });

  it('bad options are ConfigErrors that name the field', async () => {
    const cases: [Partial<ClusterNetOptions>, string][] = [
      [{ links: [] }, 'links'],
      [{ links: new Array(9).fill({ mode: 'udpu', bindAddr: '127.0.0.1', port: 1 }) }, 'links'],
      [{ links: [{ mode: 'tcp' as 'udpu', bindAddr: '127.0.0.1', port: 1 }] }, 'links[0].mode'],
      [{ links: [{ mode: 'udpu', bindAddr: 'localhost', port: 1 }] }, 'links[0].bindAddr'],
      [{ links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: 70000 }] }, 'links[0].port'],
      [{ links: [{ mode: 'mcast', bindAddr: '127.0.0.1', port: 1 }] }, 'links[0].mcastAddr'],
      [{ links: [{ mode: 'mcast', bindAddr: '127.0.0.1', port: 1, mcastAddr: '10.0.0.1' }] }, 'links[0].mcastAddr'],
      [{ links: [{ mode: 'mcast', bindAddr: '127.0.0.1', port: 1, mcastAddr: '239.1.1.1', ttl: 300 }] }, 'links[0].ttl'],
      [{ links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: 1, mcastAddr: '239.1.1.1' }] }, 'links[0].mcastAddr'],
      [{ nodes: [{ id: 1, addrs: ['127.0.0.1'] }, { id: 2, addrs: ['::1'] }] }, 'nodes[1].addrs[0]'],
      [{ nodes: [{ id: 1, addrs: ['127.0.0.1'] }, { id: 1, addrs: ['127.0.0.2'] }] }, 'nodes[1].id'],
      [{ nodes: [{ id: 2, addrs: ['127.0.0.1'] }] }, 'nodes'],
      [{ linkPingMs: 0 }, 'linkPingMs'],
      [{ linkPingMs: 100, linkTimeoutMs: 100 }, 'linkTimeoutMs'],
    ];
    for (const [overrides, field] of cases) {
      await assert.rejects(ClusterNet.open(baseOptions(1, overrides)), (error: unknown) => {
        assert.ok(isSanodeError(error), String(error));
        assert.equal(error.code, 'SANODE_INVALID_CONFIG');
        assert.equal(error.field, field, error.message);
        return true;
      });
    }
  });

  it('send after close throws SANODE_TRANSPORT_CLOSED; send to an unknown node is a ConfigError', async () => {
    const cluster = await udpuCluster('127.0.0.1');
    const net = cluster.get(1)!.net;
    assert.throws(() => net.send('x', 42), withCode('SANODE_INVALID_CONFIG', '42'));
    net.send('to myself', 1);
    await closeCluster(cluster);
    assert.throws(() => net.send('x', 2), withCode('SANODE_TRANSPORT_CLOSED'));
    await net.close();
  });
});
