/**
 * Fuzzes Wire.open() with a seeded mix of random bytes, mutations of valid frames and
 * authenticated frames with hostile contents. SANODE_FUZZ_FRAMES=N runs N frames (default
 * 100 000); SANODE_FUZZ_SEED=S picks the seed. A failure prints both, which reproduce it.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  clusterIdOf,
  deriveWireKey,
  DROP_REASONS,
  generateKey,
  minReassemblyBytesFor,
  sealFrame,
  Wire,
  type OpenResult,
  type WireOptions,
} from '../../lib/wire/index.js';
import { sodium } from '../../lib/wire/sodium.js';
import { assertBuckets, CLUSTER, prng } from './helpers.js';

const FRAMES = Number(process.env['SANODE_FUZZ_FRAMES'] ?? 100_000);
const SEED = Number(process.env['SANODE_FUZZ_SEED'] ?? 0xf022);
const MAX_MESSAGE_BYTES = 48 * 1024;
const MAX_DATAGRAM_BYTES = 512;
const HEAP_GROWTH_LIMIT_BYTES = 96 * 1024 * 1024;

type Mode = 'secure' | 'insecure';

it(`fuzz: ${FRAMES} hostile frames through open() (seed ${SEED})`, () => {
  const random = prng(SEED);
  const key = generateKey();
  const wireKey = deriveWireKey(key, CLUSTER);
  const clusterId = clusterIdOf(CLUSTER);
  const knownNodes = [1, 2, 3, 4];
  const common = {
    cluster: CLUSTER,
    knownNodes,
    maxDatagramBytes: MAX_DATAGRAM_BYTES,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    replayWindow: 64,
    reassemblyTimeoutMs: 300,
    maxReassemblyBytes: minReassemblyBytesFor(MAX_MESSAGE_BYTES),
  };
  const security = (mode: Mode): WireOptions['security'] => (mode === 'secure' ? { mode, key } : { mode });
  const receivers: Record<Mode, Wire> = {
    secure: new Wire({ ...common, nodeId: 2, incarnation: 1, security: security('secure') }),
    insecure: new Wire({ ...common, nodeId: 2, incarnation: 1, security: security('insecure') }),
  };
  const incarnations = new Map<number, number>([[1, 1], [3, 1]]);
  const senders: Record<Mode, Map<number, Wire>> = { secure: new Map(), insecure: new Map() };
  const senderFor = (mode: Mode, nodeId: number): Wire => {
    let sender = senders[mode].get(nodeId);
    if (sender === undefined) {
      sender = new Wire({ ...common, nodeId, incarnation: incarnations.get(nodeId)!, security: security(mode) });
      senders[mode].set(nodeId, sender);
    }
    return sender;
  };
  // Hand-crafted authenticated frames need counters the real senders never use: node 4.
  let craftedCounter = 0;
  const randomBytes = (length: number): Buffer => {
    const bytes = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) bytes[i] = random.int(256);
    return bytes;
  };
  const message = (): unknown => {
    switch (random.int(5)) {
      case 0: return random.int(1000);
      case 1: return { type: 'mcast', seq: random.int(1e9), body: randomBytes(random.int(300)) };
      case 2: return { big: randomBytes(1000 + random.int(20_000)) };
      case 3: return ['x'.repeat(random.int(2000)), null, true, { nested: [1, 2, 3] }];
      default: return randomBytes(random.int(60));
    }
  };
  const pools: Record<Mode, Buffer[]> = { secure: [], insecure: [] };
  const refill = (mode: Mode): void => {
    const pool = pools[mode];
    pool.length = 0;
    while (pool.length < 200) {
      const nodeId = random.int(4) === 0 ? 3 : 1;
      pool.push(...senderFor(mode, nodeId).seal(message()));
    }
  };
  const pick = (mode: Mode): Buffer => {
    const pool = pools[mode];
    if (pool.length === 0 || random.int(400) === 0) refill(mode);
    return pool[random.int(pool.length)]!;
  };
  const reseal = (frame: Buffer): void => {
    // What anyone can do to an insecure frame: recompute its checksum after tampering.
    if (frame.length < 45) return;
    const checked = frame.length - 16;
    sodium.crypto_generichash(frame.subarray(checked), frame.subarray(0, checked));
  };

  let nowMs = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  const tally: Record<string, number> = {};
  let maxReassemblyBytes = 0;
  for (let n = 0; n < FRAMES; n++) {
    const mode: Mode = random.int(3) === 0 ? 'insecure' : 'secure';
    const receiver = receivers[mode];
    const strategy = random.int(12);
    let frame: Buffer;
    let sources: Buffer[] = [];
    let authentic = false;
    switch (strategy) {
      case 0: // random bytes, sometimes with a plausible header
        frame = randomBytes(random.int(700));
        if (random.int(2) === 0 && frame.length >= 28) pick(mode).copy(frame, 0, 0, 28);
        break;
      case 1: { // bit flips
        const source = pick(mode);
        sources = [source];
        frame = Buffer.from(source);
        for (let flips = 1 + random.int(8); flips > 0; flips--) {
          const bit = random.int(frame.length * 8);
          frame[bit >> 3]! ^= 1 << (bit & 7);
        }
        break;
      }
      case 2: { // truncation
        const source = pick(mode);
        sources = [source];
        frame = Buffer.from(source.subarray(0, random.int(source.length)));
        break;
      }
      case 3: { // extension
        const source = pick(mode);
        sources = [source];
        frame = Buffer.concat([source, randomBytes(1 + random.int(64))]);
        break;
      }
      case 4: { // splice of two frames
        const first = pick(mode);
        const second = pick(random.int(4) === 0 ? (mode === 'secure' ? 'insecure' : 'secure') : mode);
        sources = [first, second];
        frame = Buffer.concat([first.subarray(0, random.int(first.length)), second.subarray(random.int(second.length))]);
        break;
      }
      case 5: { // header field edits
        const source = pick(mode);
        sources = [source];
        frame = Buffer.from(source);
        const field = random.int(6);
        if (field === 0) frame[3] = random.int(256);
        else if (field === 1) frame.writeUInt32BE(random.int(2) === 0 ? clusterId ^ 1 : random.int(2 ** 32), 4);
        else if (field === 2) frame.writeUInt32BE(random.int(6), 8);
        else if (field === 3) frame.writeUInt32BE(random.int(2 ** 32), 12 + 4 * random.int(2));
        else if (field === 4) frame.writeUInt32BE(random.int(2 ** 32), 20 + 4 * random.int(2));
        else frame[2] = random.int(256);
        break;
      }
      case 6:
      case 7: { // authenticated fragments with hostile fragment fields and contents
        const count = [0, 1, 2, 3, 50, 300, 2 ** 32 - 1][random.int(7)]!;
        const index = random.int(3) === 0 ? random.int(2 ** 32) : random.int(Math.max(count, 1));
        const counter = random.int(8) === 0 ? random.int(craftedCounter + 1) : (craftedCounter += 1 + random.int(3));
        frame = sealFrame(
          { clusterId, nodeId: 4, incarnation: 1, counter: counter + index, fragment: { index, count } },
          randomBytes(random.int(MAX_DATAGRAM_BYTES - 52)),
          mode === 'secure' ? wireKey : null,
        );
        authentic = true;
        break;
      }
      case 8: { // authenticated single frame whose body is garbage for the decoder
        frame = sealFrame(
          { clusterId, nodeId: 4, incarnation: 1, counter: (craftedCounter += 1) },
          randomBytes(1 + random.int(200)),
          mode === 'secure' ? wireKey : null,
        );
        authentic = true;
        break;
      }
      case 9: { // a sender restarts now and then
        if (random.int(50) === 0) {
          const nodeId = random.int(2) === 0 ? 1 : 3;
          incarnations.set(nodeId, incarnations.get(nodeId)! + 1);
          senders.secure.delete(nodeId);
          senders.insecure.delete(nodeId);
          refill('secure');
          refill('insecure');
        }
        frame = pick(mode);
        authentic = true;
        break;
      }
      default: // valid frames, replayed and duplicated across links
        frame = pick(mode);
        authentic = true;
    }
    if (mode === 'insecure' && !authentic && random.int(2) === 0) reseal(frame);

    let result: OpenResult;
    try {
      result = receiver.open(frame, nowMs, random.int(3));
    } catch (error) {
      assert.fail(`open() threw at frame ${n} (seed ${SEED}, strategy ${strategy}): ${String(error)}`);
    }
    tally[result.kind === 'dropped' ? result.reason : result.kind] = (tally[result.kind === 'dropped' ? result.reason : result.kind] ?? 0) + 1;
    if (mode === 'secure' && !authentic && result.kind !== 'dropped') {
      assert.ok(
        sources.some((source) => source.equals(frame)),
        `a mutated frame was accepted at frame ${n} (seed ${SEED}, strategy ${strategy})`,
      );
    }
    maxReassemblyBytes = Math.max(maxReassemblyBytes, receiver.stats().reassemblyBytes);
    nowMs += random.int(3);
    if (n % 97 === 0) {
      receivers.secure.expire(nowMs);
      receivers.insecure.expire(nowMs);
    }
    if (n % 1000 === 0) {
      assertBuckets(receivers.secure);
      assertBuckets(receivers.insecure);
    }
  }
  for (const receiver of Object.values(receivers)) {
    assertBuckets(receiver);
    assert.equal(receiver.stats().received > 0, true);
  }
  assert.ok(maxReassemblyBytes <= common.maxReassemblyBytes);
  const total = Object.values(receivers).reduce((sum, r) => sum + r.stats().received, 0);
  assert.equal(total, FRAMES);
  // Every outcome was reached, or the fuzzer is not reaching the code it claims to test.
  for (const outcome of ['message', 'partial', ...DROP_REASONS.filter((r) => r !== 'reassembly-timeout')]) {
    assert.ok((tally[outcome] ?? 0) > 0, `no frame ended as ${outcome}: ${JSON.stringify(tally)}`);
  }
  assert.ok(receivers.secure.stats().dropped['reassembly-timeout'] + receivers.insecure.stats().dropped['reassembly-timeout'] > 0);
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  if (process.env["SANODE_FUZZ_VERBOSE"]) console.log(JSON.stringify({ tally, heapGrowth, secure: receivers.secure.stats(), insecure: receivers.insecure.stats() }));
  assert.ok(heapGrowth < HEAP_GROWTH_LIMIT_BYTES, `heap grew by ${heapGrowth} bytes`);
});

