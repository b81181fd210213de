import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Defragmenter, FRAGMENT_CHUNK_BYTES, FRAGMENT_MARK, needsFragments, splitPayload } from '../../lib/node/fragments.js';

/** Large messages split under the ring's order and put back together (lib/runtime/fragments.ts). */
const payload = (bytes: number, seed: number): Uint8Array => Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff);

test('a large payload splits into chunk-sized fragments and comes back byte for byte, only at its last fragment', () => {
  const whole = payload(3 * FRAGMENT_CHUNK_BYTES + 5, 1);
  const fragments = splitPayload(whole, 7);
  assert.equal(fragments.length, 4);
  const d = new Defragmenter(1 << 20);
  for (const f of fragments.slice(0, -1)) assert.equal(d.accept(2, f), undefined);
  assert.deepEqual(d.accept(2, fragments.at(-1)!), whole);
  assert.deepEqual(d.stats, { assembled: 1, abandoned: 0, dropped: 0 });
});

test("senders' fragments interleave freely; each sender's own must be contiguous and in order", () => {
  const a = splitPayload(payload(2 * FRAGMENT_CHUNK_BYTES, 2), 1);
  const b = splitPayload(payload(2 * FRAGMENT_CHUNK_BYTES, 3), 1);
  const d = new Defragmenter(1 << 20);
  assert.equal(d.accept(1, a[0]!), undefined);
  assert.equal(d.accept(2, b[0]!), undefined);
  const plain = Uint8Array.of(0x92, 1, 2);
  assert.equal(d.accept(3, plain), plain, 'a plain payload passes through untouched');
  assert.ok(d.accept(2, b[1]!) !== undefined);
  assert.ok(d.accept(1, a[1]!) !== undefined);
  const c = splitPayload(payload(3 * FRAGMENT_CHUNK_BYTES, 4), 2);
  d.accept(1, c[0]!);
  assert.equal(d.accept(1, c[2]!), undefined, 'a gap is never papered over');
  assert.equal(d.accept(1, c[1]!), undefined);
  assert.equal(d.accept(1, c[2]!), undefined, 'the message with a gap is gone, not completed later');
  assert.deepEqual(d.stats, { assembled: 2, abandoned: 1, dropped: 3 });
});

test('a sender that leaves the view abandons its partial message; so does one over maxBytes', () => {
  const small = new Defragmenter(FRAGMENT_CHUNK_BYTES);
  const big = splitPayload(payload(3 * FRAGMENT_CHUNK_BYTES, 5), 1);
  assert.equal(small.accept(4, big[0]!), undefined);
  assert.equal(small.accept(4, big[1]!), undefined);
  assert.equal(small.stats.abandoned, 1, 'over maxBytes');

  const d = new Defragmenter(1 << 20);
  const leaving = splitPayload(payload(2 * FRAGMENT_CHUNK_BYTES, 6), 1);
  const staying = splitPayload(payload(2 * FRAGMENT_CHUNK_BYTES, 7), 1);
  d.accept(5, leaving[0]!);
  d.accept(2, staying[0]!);
  d.onView([1, 2, 3]);
  assert.equal(d.stats.abandoned, 1);
  assert.equal(d.accept(5, leaving[1]!), undefined, "the departed sender's rest is a stray");
  assert.ok(d.accept(2, staying[1]!) !== undefined, 'a sender that stays completes its message');
});

test("a restarted sender's new incarnation never completes its earlier run's message", () => {
  const d = new Defragmenter(1 << 20);
  const before = splitPayload(payload(2 * FRAGMENT_CHUNK_BYTES, 8), 1);
  assert.equal(d.accept(2, before[0]!, 100), undefined);
  assert.equal(d.accept(2, before[1]!, 101), undefined, 'same key and index, other incarnation');
  assert.deepEqual(d.stats, { assembled: 0, abandoned: 1, dropped: 1 });
});

test("an application payload starting with the fragment mark is sent as one fragment, so it is never misread", () => {
  const odd = Uint8Array.of(FRAGMENT_MARK, 1, 2, 3);
  assert.equal(needsFragments(odd), true);
  assert.equal(needsFragments(Uint8Array.of(0x92, 1)), false);
  assert.equal(needsFragments(new Uint8Array(FRAGMENT_CHUNK_BYTES + 1)), true);
  const fragments = splitPayload(odd, 9);
  assert.equal(fragments.length, 1);
  assert.deepEqual(new Defragmenter(1000).accept(1, fragments[0]!), odd);
});
