import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, isSanodeError } from '../../lib/errors/index.js';
import {
  clusterIdOf,
  deriveWireKey,
  FRAME_OVERHEAD_BYTES,
  generateKey,
  minReassemblyBytesFor,
  sealFrame,
  Wire,
  type OpenResult,
} from '../../lib/wire/index.js';
import { assertBuckets, CLUSTER, makeWire, NODES, prng, securePair, shuffle } from './helpers.js';

const MODES = ['secure', 'insecure'] as const;

function pairFor(mode: (typeof MODES)[number]): { a: Wire; b: Wire } {
  if (mode === 'secure') return securePair();
  return { a: makeWire(1, { mode: 'insecure' }), b: makeWire(2, { mode: 'insecure' }) };
}

function only(frames: Buffer[]): Buffer {
  assert.equal(frames.length, 1);
  return frames[0]!;
}

function expectDrop(result: OpenResult, reason: string): void {
  assert.equal(result.kind, 'dropped', `expected a drop (${reason}), got ${JSON.stringify(result)}`);
  if (result.kind === 'dropped') assert.equal(result.reason, reason);
}

describe('wire: round trip', () => {
  for (const mode of MODES) {
    it(`${mode}: a message sealed by one node opens on another with sender and incarnation`, () => {
      const { a, b } = pairFor(mode);
      const message = { type: 'mcast', seq: 7, body: Buffer.from('hello'), nested: [1, 'two', null, true] };
      const frame = only(a.seal(message));
      assert.ok(frame.length <= a.maxDatagramBytes);
      const result = b.open(frame, 0);
      assert.equal(result.kind, 'message');
      if (result.kind !== 'message') return;
      assert.equal(result.from, 1);
      assert.equal(result.incarnation, 1);
      assert.deepEqual(result.message, message);
      assert.equal(a.stats().sent, 1);
      assert.equal(b.stats().accepted, 1);
      assertBuckets(b);
    });
  }

  it('secure: the payload is not visible in the frame', () => {
    const { a } = securePair();
    const frame = only(a.seal('a very recognisable secret string'));
    assert.equal(frame.includes(Buffer.from('recognisable')), false);
  });

  it('decoded binary fields do not alias the reused decrypt buffer', () => {
    const { a, b } = securePair();
    const first = b.open(only(a.seal({ data: Buffer.from('first-first') })), 0);
    b.open(only(a.seal({ data: Buffer.from('second-second-second') })), 0);
    assert.equal(first.kind, 'message');
    if (first.kind === 'message') {
      assert.equal(Buffer.from((first.message as { data: Uint8Array }).data).toString(), 'first-first');
    }
  });
});

describe('wire: rejecting bad frames', () => {
  for (const mode of MODES) {
    it(`${mode}: flipping any single bit of a sealed frame gets it dropped, and leaves no trace`, () => {
      const { a, b } = pairFor(mode);
      const frame = only(a.seal({ t: 'x', n: 42 }));
      for (let bit = 0; bit < frame.length * 8; bit++) {
        const copy = Buffer.from(frame);
        copy[bit >> 3]! ^= 1 << (bit & 7);
        const result = b.open(copy, 0);
        assert.equal(result.kind, 'dropped', `bit ${bit} flipped was accepted: ${JSON.stringify(result)}`);
        if (result.kind === 'dropped') assert.equal(result.from, undefined, `bit ${bit}: 'from' on an unauthenticated frame`);
      }
      assert.equal(b.stats().dropped['replay'], 0, 'no forged frame may reach the replay window');
      // The window did not move for any forgery, so the genuine frame still opens.
      assert.equal(b.open(frame, 0).kind, 'message');
      assertBuckets(b);
    });

    it(`${mode}: every truncation is dropped as malformed or bad-auth, never thrown`, () => {
      const { a, b } = pairFor(mode);
      const frame = only(a.seal({ t: 'truncate me', pad: 'x'.repeat(40) }));
      for (let length = 0; length < frame.length; length++) {
        const result = b.open(frame.subarray(0, length), 0);
        assert.equal(result.kind, 'dropped');
        if (result.kind === 'dropped') assert.ok(['malformed', 'bad-auth'].includes(result.reason), `length ${length}: ${result.reason}`);
      }
      assertBuckets(b);
    });
  }

  it('a frame sealed with another key is bad-auth', () => {
    const a = makeWire(1, { mode: 'secure', key: generateKey() });
    const b = makeWire(2, { mode: 'secure', key: generateKey() });
    expectDrop(b.open(only(a.seal('hi')), 0), 'bad-auth');
  });

  it("another cluster's frame is wrong-cluster, even under the same key", () => {
    const key = generateKey();
    const other = new Wire({ cluster: 'other', nodeId: 1, incarnation: 1, security: { mode: 'secure', key }, knownNodes: NODES });
    const b = makeWire(2, { mode: 'secure', key });
    expectDrop(b.open(only(other.seal('hi')), 0), 'wrong-cluster');
    assert.notEqual(clusterIdOf('other'), clusterIdOf(CLUSTER));
  });

  it('a secure node drops insecure frames as bad-auth, and an insecure node drops secure ones', () => {
    const key = generateKey();
    const secure = makeWire(1, { mode: 'secure', key });
    const insecure = makeWire(2, { mode: 'insecure' });
    expectDrop(secure.open(only(insecure.seal('hi')), 0), 'bad-auth');
    expectDrop(insecure.open(only(secure.seal('hi')), 0), 'bad-auth');
  });

  it('a frame from a node outside knownNodes is unknown-node; so is one bearing our own id', () => {
    const key = generateKey();
    const stranger = makeWire(9, { mode: 'secure', key });
    const b = makeWire(2, { mode: 'secure', key });
    expectDrop(b.open(only(stranger.seal('hi')), 0), 'unknown-node');
    const twin = makeWire(2, { mode: 'secure', key });
    expectDrop(b.open(only(twin.seal('hi')), 0), 'unknown-node');
    assertBuckets(b);
  });

  it('a datagram longer than maxDatagramBytes is oversize', () => {
    const key = generateKey();
    const a = makeWire(1, { mode: 'secure', key }, { maxDatagramBytes: 1400 });
    const b = makeWire(2, { mode: 'secure', key });
    const frame = only(a.seal('y'.repeat(1300)));
    assert.ok(frame.length > 1200);
    expectDrop(b.open(frame, 0), 'oversize');
  });

  it('an authenticated frame whose body is not msgpack is malformed, with its sender', () => {
    const key = generateKey();
    const b = makeWire(2, { mode: 'secure', key });
    const fields = { clusterId: clusterIdOf(CLUSTER), nodeId: 1, incarnation: 1, counter: 0 };
    // 0xc1 is the one byte MessagePack never uses; msgpackr decodes it to a sentinel, not an error.
    const result = b.open(sealFrame(fields, Buffer.from([0xc1]), deriveWireKey(key, CLUSTER)), 0);
    assert.deepEqual(result, { kind: 'dropped', reason: 'malformed', from: 1 });
    const trailing = b.open(sealFrame({ ...fields, counter: 1 }, Buffer.from([0x01, 0x02]), deriveWireKey(key, CLUSTER)), 0);
    assert.deepEqual(trailing, { kind: 'dropped', reason: 'malformed', from: 1 });
  });

  it('garbage of every kind handed to open() is dropped, never thrown', () => {
    const { b } = securePair();
    for (const input of [new Uint8Array(0), Buffer.alloc(2000), Buffer.alloc(45, 0xff), null, undefined, 'string', 42, {}]) {
      const result = b.open(input as unknown as Uint8Array, Number.NaN, -5);
      assert.equal(result.kind, 'dropped');
    }
    assertBuckets(b);
  });
});

describe('wire: replay protection', () => {
  it('a frame opened twice is a replay the second time, and the replay names its sender', () => {
    const { a, b } = securePair();
    const frame = only(a.seal('once'));
    assert.equal(b.open(frame, 0).kind, 'message');
    assert.deepEqual(b.open(frame, 0), { kind: 'dropped', reason: 'replay', from: 1 });
  });

  it('a copy arriving on a second link is a duplicate; again on the first link, a replay', () => {
    const { a, b } = securePair();
    const frame = only(a.seal('redundant'));
    assert.equal(b.open(frame, 0, 0).kind, 'message');
    expectDrop(b.open(frame, 0, 1), 'duplicate');
    expectDrop(b.open(frame, 0, 0), 'replay');
    assert.equal(b.stats().dropped.duplicate, 1);
    assert.equal(b.stats().dropped.replay, 1);
  });

  it('frames out of order inside the window are accepted once; below the window they are replays', () => {
    const { a, b } = securePair({ replayWindow: 64 });
    const frames = Array.from({ length: 100 }, (_, i) => only(a.seal(i)));
    for (let i = 70; i < 100; i++) assert.equal(b.open(frames[i]!, 0).kind, 'message');
    assert.equal(b.open(frames[50]!, 0).kind, 'message', 'inside the window (99 - 64 < 50)');
    expectDrop(b.open(frames[50]!, 0), 'replay');
    expectDrop(b.open(frames[35]!, 0), 'replay'); // exactly at the floor: 99 - 64
    assert.equal(b.open(frames[36]!, 0).kind, 'message');
    expectDrop(b.open(frames[0]!, 0), 'replay');
    assertBuckets(b);
  });

  it('a restarted node (higher incarnation) is accepted; its old incarnation is then a replay', () => {
    const key = generateKey();
    const before = makeWire(1, { mode: 'secure', key }, { incarnation: 5 });
    const b = makeWire(2, { mode: 'secure', key });
    const oldFrames = [only(before.seal('a')), only(before.seal('b')), only(before.seal('c'))];
    assert.equal(b.open(oldFrames[0]!, 0).kind, 'message');
    assert.equal(b.open(oldFrames[1]!, 0).kind, 'message');
    const after = makeWire(1, { mode: 'secure', key }, { incarnation: 6 });
    const fresh = b.open(only(after.seal('restarted')), 0);
    assert.deepEqual(fresh, { kind: 'message', from: 1, incarnation: 6, message: 'restarted' });
    expectDrop(b.open(oldFrames[2]!, 0), 'replay');
    assertBuckets(b);
  });

  it("a receiver started with a peer's incarnation floor drops older incarnations from the first frame", () => {
    const key = generateKey();
    const dead = makeWire(1, { mode: 'secure', key }, { incarnation: 5 });
    const captured = only(dead.seal('captured'));
    const b = makeWire(2, { mode: 'secure', key }, { incarnationFloors: new Map([[1, 6]]) });
    expectDrop(b.open(captured, 0), 'replay');
    const live = makeWire(1, { mode: 'secure', key }, { incarnation: 6 });
    assert.equal(b.open(only(live.seal('live')), 0).kind, 'message');
    const later = makeWire(1, { mode: 'secure', key }, { incarnation: 7 });
    assert.equal(b.open(only(later.seal('restarted')), 0).kind, 'message');
    assertBuckets(b);
    assert.throws(() => makeWire(2, { mode: 'secure', key }, { incarnationFloors: new Map([[1, -1]]) }), /incarnationFloors/);
  });
});

describe('wire: limits and fragmentation', () => {
  it('sealing a message over maxMessageBytes throws SANODE_MESSAGE_TOO_LARGE naming the limit', () => {
    const { a } = securePair({ maxMessageBytes: 1000 });
    assert.throws(
      () => a.seal('z'.repeat(2000)),
      (error: unknown) =>
        isSanodeError(error) &&
        error.code === 'SANODE_MESSAGE_TOO_LARGE' &&
        /maxMessageBytes \(1000\)/.test(error.message) &&
        /2003 bytes/.test(error.message),
    );
    assert.equal(a.stats().sent, 0);
  });

  it('every sealed frame fits maxDatagramBytes, and counters advance once per frame', () => {
    const { a } = securePair();
    const frames = a.seal({ blob: Buffer.alloc(50_000, 7) });
    assert.ok(frames.length > 40);
    for (const frame of frames) assert.ok(frame.length <= 1200);
    assert.equal(a.stats().sent, frames.length);
    const counters = frames.map((f) => f.readUInt32BE(24));
    assert.deepEqual(counters, counters.map((_, i) => i));
  });

  for (const mode of MODES) {
    it(`${mode}: two senders' ~200 KiB messages, fragments shuffled and interleaved, both reassemble`, () => {
      const key = generateKey();
      const security = mode === 'secure' ? ({ mode: 'secure', key } as const) : ({ mode: 'insecure' } as const);
      const a = makeWire(1, security);
      const c = makeWire(3, security);
      const b = makeWire(2, security);
      const random = prng(0x5eed);
      const blobA = Buffer.alloc(200 * 1024);
      const blobC = Buffer.alloc(200 * 1024 + 333);
      for (let i = 0; i < blobA.length; i++) blobA[i] = random.int(256);
      for (let i = 0; i < blobC.length; i++) blobC[i] = random.int(256);
      const frames = shuffle([...a.seal({ from: 'a', blobA }), ...c.seal({ from: 'c', blobC })], random);
      const messages: OpenResult[] = [];
      let partials = 0;
      for (const frame of frames) {
        const result = b.open(frame, 10);
        if (result.kind === 'message') messages.push(result);
        else if (result.kind === 'partial') partials++;
        else assert.fail(`dropped: ${JSON.stringify(result)}`);
      }
      assert.equal(messages.length, 2);
      assert.equal(partials, frames.length - 2);
      const byFrom = new Map(messages.map((m) => [m.kind === 'message' ? m.from : 0, m]));
      const fromA = byFrom.get(1);
      const fromC = byFrom.get(3);
      assert.ok(fromA?.kind === 'message' && fromC?.kind === 'message');
      assert.ok(Buffer.from((fromA.message as { blobA: Uint8Array }).blobA).equals(blobA));
      assert.ok(Buffer.from((fromC.message as { blobC: Uint8Array }).blobC).equals(blobC));
      const s = b.stats();
      assert.equal(s.pendingReassemblies, 0);
      assert.equal(s.reassemblyBytes, 0);
      assert.equal(s.reassembliesCompleted, 2);
      assertBuckets(b);
    });
  }

  it('a partial message times out after reassemblyTimeoutMs; its held frames move to reassembly-timeout', () => {
    const { a, b } = securePair({ reassemblyTimeoutMs: 500 });
    const frames = a.seal({ blob: Buffer.alloc(10_000) });
    const held = frames.length - 1;
    for (let i = 0; i < held; i++) assert.equal(b.open(frames[i]!, 1000).kind, 'partial');
    b.expire(1499);
    assert.equal(b.stats().pendingReassemblies, 1, 'not yet: 499 ms after the first fragment');
    b.expire(1500);
    const s = b.stats();
    assert.equal(s.pendingReassemblies, 0);
    assert.equal(s.reassemblyBytes, 0);
    assert.equal(s.reassembliesExpired, 1);
    assert.equal(s.dropped['reassembly-timeout'], held);
    assert.equal(s.partial, 0);
    assertBuckets(b);
    // The straggler starts a new pending message that can only time out too.
    assert.equal(b.open(frames[held]!, 1600).kind, 'partial');
    b.expire(2100);
    assert.equal(b.stats().reassembliesExpired, 2);
    assert.equal(b.stats().dropped['reassembly-timeout'], held + 1);
    assertBuckets(b);
  });

  it('reassembly memory stays under maxReassemblyBytes; the oldest partial messages are evicted', () => {
    const maxMessageBytes = 64 * 1024;
    const key = generateKey();
    const bound = minReassemblyBytesFor(maxMessageBytes); // the smallest accepted: one largest message
    const b = makeWire(2, { mode: 'secure', key }, { maxMessageBytes, maxReassemblyBytes: bound });
    const senders = [makeWire(1, { mode: 'secure', key }, { maxMessageBytes }), makeWire(3, { mode: 'secure', key }, { maxMessageBytes })];
    let evictedSeen = 0;
    for (let round = 0; round < 6; round++) {
      for (const sender of senders) {
        const frames = sender.seal({ round, blob: Buffer.alloc(40_000, round) });
        // All but the last fragment: each message stays partial and pins memory.
        for (const frame of frames.slice(0, -1)) {
          b.open(frame, round);
          assert.ok(b.stats().reassemblyBytes <= bound, `over the bound: ${b.stats().reassemblyBytes} > ${bound}`);
          assertBuckets(b);
        }
        evictedSeen = b.stats().reassembliesEvicted;
      }
    }
    assert.ok(evictedSeen >= 10, `expected evictions, saw ${evictedSeen}`);
    assert.ok(b.stats().dropped['reassembly-timeout'] > 0);
    // A complete message still gets through with the reassembler under pressure.
    const last = senders[0]!.seal({ blob: Buffer.alloc(60_000, 1) });
    const results = last.map((frame) => b.open(frame, 100));
    assert.equal(results.at(-1)!.kind, 'message');
    assertBuckets(b);
  });

  it('a restart discards the old incarnation\'s partial messages', () => {
    const key = generateKey();
    const before = makeWire(1, { mode: 'secure', key }, { incarnation: 1 });
    const b = makeWire(2, { mode: 'secure', key });
    const frames = before.seal({ blob: Buffer.alloc(5000) });
    b.open(frames[0]!, 0);
    b.open(frames[1]!, 0);
    const after = makeWire(1, { mode: 'secure', key }, { incarnation: 2 });
    assert.equal(b.open(only(after.seal('back')), 0).kind, 'message');
    const s = b.stats();
    assert.equal(s.pendingReassemblies, 0);
    assert.equal(s.reassembliesEvicted, 1);
    assert.equal(s.dropped['reassembly-timeout'], 2);
    assertBuckets(b);
  });

  it('an authenticated fragment claiming too many fragments is oversize; bad fragment fields are malformed', () => {
    const key = generateKey();
    const b = makeWire(2, { mode: 'secure', key }, { maxMessageBytes: 10_000 });
    const wireKey = deriveWireKey(key, CLUSTER);
    let counter = 0;
    const fragment = (index: number, count: number, bytes = 100): OpenResult =>
      b.open(
        sealFrame(
          { clusterId: clusterIdOf(CLUSTER), nodeId: 1, incarnation: 1, counter: counter++ + index, fragment: { index, count } },
          Buffer.alloc(bytes, 1),
          wireKey,
        ),
        0,
      );
    expectDrop(fragment(0, 1_000_000), 'oversize');
    expectDrop(fragment(0, 200, 1000), 'oversize'); // 199 full fragments of 1000 bytes > 10 000
    expectDrop(fragment(5, 5), 'malformed'); // index out of range
    expectDrop(fragment(0, 1), 'malformed'); // a one-fragment message is never sent
    expectDrop(fragment(0, 0), 'malformed');
    assertBuckets(b);
  });
});

describe('wire: counter exhaustion', () => {
  it('sealing past the last counter throws SANODE_COUNTER_EXHAUSTED with the recovery, and seals nothing', () => {
    const { a, b } = securePair({ counterStart: Number.MAX_SAFE_INTEGER - 1 });
    assert.equal(b.open(only(a.seal('last')), 0).kind, 'message');
    const sentBefore = a.stats().sent;
    assert.throws(
      () => a.seal('one too many'),
      (error: unknown) => isSanodeError(error) && error.code === 'SANODE_COUNTER_EXHAUSTED' && /restart the node.*new incarnation/.test(error.message),
    );
    assert.equal(a.stats().sent, sentBefore);
  });
});

describe('wire: options are validated with the field named', () => {
  const key = generateKey();
  const base = { cluster: CLUSTER, nodeId: 1, incarnation: 1, security: { mode: 'secure', key }, knownNodes: NODES } as const;
  const cases: [string, Record<string, unknown>][] = [
    ['security', { security: undefined }],
    ['security.mode', { security: { mode: 'plain' } }],
    ['security.key', { security: { mode: 'secure', key: Buffer.alloc(16) } }],
    ['nodeId', { nodeId: 0 }],
    ['nodeId', { nodeId: 2 ** 32 }],
    ['incarnation', { incarnation: 0 }],
    ['incarnation', { incarnation: 2 ** 53 }],
    ['cluster', { cluster: '' }],
    ['knownNodes', { knownNodes: 'all' }],
    ['knownNodes[1]', { knownNodes: [1, -1] }],
    ['maxDatagramBytes', { maxDatagramBytes: 100 }],
    ['maxMessageBytes', { maxMessageBytes: 0 }],
    ['replayWindow', { replayWindow: 1.5 }],
    ['reassemblyTimeoutMs', { reassemblyTimeoutMs: -1 }],
    ['maxReassemblyBytes', { maxReassemblyBytes: 1024 }],
  ];
  for (const [field, override] of cases) {
    it(`${field}: ${JSON.stringify(override, (_, v) => (v === undefined ? 'undefined' : v))}`, () => {
      assert.throws(
        () => new Wire({ ...base, ...override } as never),
        (error: unknown) => error instanceof ConfigError && error.field === field && error.message.startsWith(`${field}: `),
      );
    });
  }

  it('insecure mode is accepted only when asked for by name', () => {
    assert.equal(new Wire({ ...base, security: { mode: 'insecure' } }).secure, false);
    assert.equal(new Wire(base).secure, true);
  });

  it('frame overhead is what the docs say', () => {
    assert.equal(FRAME_OVERHEAD_BYTES, 44);
  });
});
