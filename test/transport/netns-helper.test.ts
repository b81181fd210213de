/**
 * The namespace helper (test/helpers/netns.ts) keeps its promises: names carry the prefix, only
 * private addresses are accepted, and cleanup removes everything even after a failure.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cleanupAllWithPrefix, isPrivateAddress, JsonLines, NetnsLab, netnsUnavailable, run } from '../helpers/netns.js';
import { PassThrough } from 'node:stream';

describe('netns test helper', () => {
  it('accepts private addresses only', () => {
    for (const address of ['10.1.2.3', '172.16.0.1', '172.31.255.1', '192.168.7.1', 'fd00::1', 'fdab:1::2']) assert.ok(isPrivateAddress(address), address);
    for (const address of ['8.8.8.8', '172.32.0.1', '192.0.2.2', '127.0.0.1', 'fe80::1', '2001:db8::1', 'nonsense']) assert.ok(!isPrivateAddress(address), address);
  });

  it('names carry the prefix and fit an interface name', () => {
    const lab = new NetnsLab();
    assert.match(lab.prefix, /^snt-[0-9a-z]{5}$/);
    assert.equal(lab.name('n1l0').length <= 15, true);
    assert.throws(() => lab.name('much-too-long-suffix'), /longer than 15/);
    assert.throws(() => new NetnsLab('lab-'), /must start with snt-/);
  });

  it('refuses to clean up with a bare or foreign prefix', async () => {
    await assert.rejects(cleanupAllWithPrefix('snt-'), /refusing/);
    await assert.rejects(cleanupAllWithPrefix('veth'), /refusing/);
  });

  it('JsonLines waits, bounded, for a matching line', async () => {
    const stream = new PassThrough();
    const lines = new JsonLines<{ n: number }>(stream);
    stream.write('{"n":1}\nnot json\n{"n"');
    stream.write(':2}\n');
    assert.deepEqual(await lines.waitFor('n=2', (line) => line.n === 2, 1000), { n: 2 });
    await assert.rejects(lines.waitFor('n=3', (line) => line.n === 3, 50), /timed out after 50 ms/);
    stream.end();
    await assert.rejects(lines.waitFor('n=4', (line) => line.n === 4, 1000), /stream ended/);
  });

  it('cleanup removes namespaces, interfaces and children even when the test fails half way', async (t) => {
    const reason = await netnsUnavailable();
    if (reason !== undefined) return t.skip(reason);
    const lab = new NetnsLab();
    let childPid: number | undefined;
    try {
      await assert.rejects(
        (async () => {
          const a = await lab.addNamespace('a');
          const b = await lab.addNamespace('b');
          await lab.addVeth(a, lab.name('x0'), b, lab.name('y0'));
          await lab.addAddress(a, lab.name('x0'), '10.199.0.1/24');
          await assert.rejects(lab.addAddress(a, lab.name('x0'), '8.8.8.8/32'), /not a private address/);
          await assert.rejects(lab.addVeth(a, 'eth9', b, lab.name('y1')), /does not carry/);
          const child = lab.spawn(a, ['sleep', '30']);
          childPid = child.pid;
          const addrs = (await lab.exec(a, ['ip', '-br', 'addr'])).stdout;
          assert.match(addrs, /10\.199\.0\.1\/24/);
          throw new Error('the test body fails here');
        })(),
        /fails here/,
      );
    } finally {
      await lab.cleanup();
    }
    const namespaces = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(!namespaces.includes(lab.prefix), `namespaces left behind: ${namespaces}`);
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    assert.ok(!links.includes(lab.prefix), 'host interfaces left behind');
    assert.ok(childPid !== undefined);
    assert.throws(() => process.kill(childPid!, 0), /ESRCH/, 'the spawned child was killed');
  });
});
