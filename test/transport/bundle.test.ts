/**
 * ClusterNet's bundles (several messages in one sealed datagram), on loopback only. Node 1 is a
 * real ClusterNet; node 2 is a raw socket with its own Wire, so the test sees every datagram
 * node 1 sends (its size, its frame, its contents) and can send node 1 bundles no ClusterNet
 * would make.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { ClusterNet, type ClusterNetStats } from '../../lib/transport/index.js';
import { Wire } from '../../lib/wire/index.js';
import { FLAG_FRAGMENT } from '../../lib/wire/frame.js';
import { freeUdpPorts, generateKey, waitFor } from './support.js';

const KIND_APP = 0;
const KIND_PING = 1;
const KIND_BUNDLE = 2;
const CAP_BUNDLE = 1;

interface Lab {
  net: ClusterNet;
  fake: Wire;
  socket: dgram.Socket;
  /** Every datagram node 1 sent to node 2, opened once as it arrived (opening again is a replay). */
  datagrams: { datagram: Buffer; result: ReturnType<Wire['open']> }[];
  /** What node 1 delivered, in order, and the count of each 'batch'. */
  received: unknown[];
  batches: number[];
  sendToNet(datagrams: readonly Uint8Array[]): void;
  /** Node 2's ping; `caps` says whether it takes bundles. */
  ping(caps: number): void;
  close(): Promise<void>;
}

async function lab(maxDatagramBytes = 1200): Promise<Lab> {
  const [port1, port2] = await freeUdpPorts(2, '127.0.0.1');
  const key = generateKey();
  const wire = (nodeId: number) => ({ cluster: 'bundle-test', nodeId, incarnation: 1, security: { mode: 'secure' as const, key }, knownNodes: [1, 2], maxDatagramBytes });
  const fake = new Wire({ ...wire(2), replayWindow: 65536 });
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(port2, '127.0.0.1', () => resolve()));
  const datagrams: Lab['datagrams'] = [];
  socket.on('message', (datagram) => datagrams.push({ datagram, result: fake.open(datagram, 0, 0) }));
  const net = await ClusterNet.open({
    wire: wire(1),
    links: [{ mode: 'udpu', bindAddr: '127.0.0.1', port: port1! }],
    nodes: [
      { id: 1, addrs: [`127.0.0.1:${port1}`] },
      { id: 2, addrs: [`127.0.0.1:${port2}`] },
    ],
  });
  const received: unknown[] = [];
  const batches: number[] = [];
  net.on('message', (_from, message) => received.push(message));
  net.on('batch', (count) => batches.push(count));
  const sendToNet = (frames: readonly Uint8Array[]): void => {
    for (const frame of frames) socket.send(frame, port1!, '127.0.0.1');
  };
  return {
    net,
    fake,
    socket,
    datagrams,
    received,
    batches,
    sendToNet,
    ping: (caps) => sendToNet(fake.seal([KIND_PING, 0, [1], caps])),
    close: async () => {
      await net.close();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

/** Opens what node 1 sent, in order; pings are left out. */
function opened(l: Lab): { envelope: unknown[]; bytes: number; fragment: boolean }[] {
  const out: { envelope: unknown[]; bytes: number; fragment: boolean }[] = [];
  for (const { datagram, result } of l.datagrams) {
    if (result.kind === 'partial') {
      out.push({ envelope: [], bytes: datagram.length, fragment: true });
      continue;
    }
    assert.equal(result.kind, 'message', `every datagram authenticates on its own, got ${JSON.stringify(result)}`);
    const envelope = (result as { message: unknown[] }).message;
    if (envelope[0] === KIND_PING) continue;
    out.push({ envelope, bytes: datagram.length, fragment: (datagram[3]! & FLAG_FRAGMENT) !== 0 });
  }
  return out;
}

/** The messages inside node 1's envelopes, unpacked as a receiver does. */
function messagesOf(envelopes: unknown[][]): unknown[] {
  const out: unknown[] = [];
  for (const envelope of envelopes) {
    if (envelope[0] === KIND_APP) {
      out.push(envelope[2]);
      continue;
    }
    assert.equal(envelope[0], KIND_BUNDLE);
    const shapes = envelope[2] as string[][];
    const items = envelope[3] as unknown[];
    for (let k = 0; k < items.length; k += 3) {
      const shape = items[k + 1] as number;
      if (shape < 0) out.push(items[k + 2]);
      else out.push(Object.fromEntries(shapes[shape]!.map((key, v) => [key, (items[k + 2] as unknown[])[v]])));
    }
  }
  return out;
}

const stats = (l: Lab): ClusterNetStats => l.net.stats();

describe('ClusterNet bundles', () => {
  it('packs one batch into few datagrams, each under maxDatagramBytes and sealed on its own, and keeps the order', async () => {
    const l = await lab(400);
    try {
      l.ping(CAP_BUNDLE);
      await waitFor('node 1 to learn that node 2 takes bundles', () => stats(l).pingsReceived >= 1);
      const batch: { to: number | 'all'; msg: unknown }[] = [];
      for (let i = 0; i < 60; i++) {
        if (i % 3 === 0) batch.push({ to: 2, msg: { kind: 10, seq: i, payload: Buffer.from([i, i + 1]) } });
        else if (i % 3 === 1) batch.push({ to: 'all', msg: { kind: 8, seq: i, arus: [i, i], busy: 0 } });
        else batch.push({ to: 'all', msg: ['plain', i] });
        // One too large to share a datagram, in the middle: it goes alone, in its place.
        if (i === 30) batch.push({ to: 2, msg: { big: 'x'.repeat(1000) } });
      }
      l.datagrams.length = 0;
      l.net.sendBatch(batch);
      await waitFor('the batch to arrive', () => messagesOf(opened(l).filter((d) => !d.fragment).map((d) => d.envelope)).length >= 60);
      await waitFor('the large message to arrive', () => opened(l).some((d) => d.fragment));
      const frames = opened(l);
      for (const frame of frames) assert.ok(frame.bytes <= 400, `a datagram of ${frame.bytes} bytes is over maxDatagramBytes 400`);
      const bundles = frames.filter((f) => !f.fragment);
      assert.ok(bundles.every((f) => f.envelope[0] === KIND_BUNDLE), 'every small message went in a bundle');
      assert.ok(bundles.length < 20, `61 messages packed into ${bundles.length} bundles`);
      assert.equal(stats(l).bundledMessages, 60);
      const order = messagesOf(bundles.map((f) => f.envelope));
      assert.deepEqual(order, batch.filter((b) => !(typeof b.msg === 'object' && b.msg !== null && 'big' in b.msg)).map((b) => b.msg));
    } finally {
      await l.close();
    }
  });

  it('a peer that never said it takes bundles (an older node) gets one plain datagram per message', async () => {
    const l = await lab();
    try {
      l.ping(0);
      await waitFor('node 1 to hear node 2', () => stats(l).pingsReceived >= 1);
      l.datagrams.length = 0;
      l.net.sendBatch([1, 2, 3].map((seq) => ({ to: 2, msg: { kind: 10, seq } })));
      await waitFor('three datagrams', () => opened(l).length >= 3);
      assert.deepEqual(opened(l).map((f) => f.envelope), [1, 2, 3].map((seq) => [KIND_APP, 2, { kind: 10, seq }]));
      assert.equal(stats(l).bundlesSent, 0);
    } finally {
      await l.close();
    }
  });

  it('unpacks a bundle in order, skips what is for another node, and ends with one batch event', async () => {
    const l = await lab();
    try {
      const shapes = [['kind', 'seq']];
      const items = [0, 0, [10, 1], 3, 0, [10, 2], 1, -1, 'raw', 0, 0, [10, 3]];
      l.sendToNet(l.fake.seal([KIND_BUNDLE, 0, shapes, items]));
      await waitFor('delivery', () => l.batches.length === 1);
      assert.deepEqual(l.received, [{ kind: 10, seq: 1 }, 'raw', { kind: 10, seq: 3 }]);
      assert.deepEqual(l.batches, [3]);
      assert.equal(stats(l).notForUs, 1);
      assert.equal(stats(l).bundlesReceived, 1);
    } finally {
      await l.close();
    }
  });

  it('a malformed bundle is one counted drop and delivers nothing; a forged one fails authentication alone', async () => {
    const l = await lab();
    try {
      const bad: unknown[][] = [
        [KIND_BUNDLE, 0, [], []], // no items
        [KIND_BUNDLE, 0, [], [0, -1]], // not triples
        [KIND_BUNDLE, 0, [['a']], [0, 1, [1]]], // shape index out of range
        [KIND_BUNDLE, 0, [['a', 'b']], [0, 0, [1]]], // values and keys differ in length
        [KIND_BUNDLE, 0, [['__proto__']], [0, 0, [{ polluted: true }]]], // would set the prototype
        [KIND_BUNDLE, 0, [[7]], [0, 0, [1]]], // a key that is not a string
        [KIND_BUNDLE, 0, 'shapes', [0, -1, 1]], // shapes not a list
        [KIND_BUNDLE, 0, [], [-5, -1, 1]], // a negative destination
        [KIND_BUNDLE, 0, [], [0, -1, 'fine', 0, 2.5, 'bad index']], // one bad item spoils the whole bundle
      ];
      for (const envelope of bad) l.sendToNet(l.fake.seal(envelope));
      await waitFor('every malformed bundle to be counted', () => stats(l).malformed === bad.length);
      // A bundle whose tag was tampered with: the wire refuses it before anything is decoded.
      const [forged] = l.fake.seal([KIND_BUNDLE, 0, [], [0, -1, 'forged']]);
      forged![forged!.length - 1]! ^= 0xff;
      l.sendToNet([forged!]);
      await waitFor('the forged bundle to fail authentication', () => stats(l).wire.dropped['bad-auth'] === 1);
      // Node 1 goes on: a good bundle after them all is delivered.
      l.sendToNet(l.fake.seal([KIND_BUNDLE, 0, [], [0, -1, 'after']]));
      await waitFor('the good bundle', () => l.received.length === 1);
      assert.deepEqual(l.received, ['after'], 'nothing of a malformed or forged bundle was delivered');
      assert.equal(stats(l).malformed, bad.length);
      assert.equal(stats(l).bundlesReceived, 1);
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    } finally {
      await l.close();
    }
  });

  it('errors stay with their message: the rest of the batch still goes', async () => {
    const l = await lab();
    try {
      l.ping(CAP_BUNDLE);
      await waitFor('node 1 to learn that node 2 takes bundles', () => stats(l).pingsReceived >= 1);
      l.datagrams.length = 0;
      const errors: number[] = [];
      l.net.sendBatch(
        [
          { to: 2, msg: 'first' },
          { to: 99, msg: 'to nobody' },
          { to: 2, msg: () => 'not encodable' },
          { to: 2, msg: 'last' },
        ],
        (_error, index) => errors.push(index),
      );
      assert.deepEqual(errors, [1]);
      await waitFor('the bundle', () => opened(l).length >= 1);
      // msgpackr encodes a function as nothing (undefined): only the unknown node is refused.
      assert.deepEqual(messagesOf(opened(l).map((f) => f.envelope)), ['first', undefined, 'last']);
      assert.throws(() => l.net.sendBatch([{ to: 99, msg: 'x' }]), /not in nodes/);
    } finally {
      await l.close();
    }
  });
});
