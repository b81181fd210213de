/**
 * IPv6 on real interfaces: two nodes in two namespaces joined by two veth pairs, link 0 udpu
 * over fd77:0::/64 and link 1 multicast (group ff15::5a:1, interface found from bindAddr) over
 * fd77:1::/64. Only unique-local addresses, only inside the lab.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { JsonLines, NetnsLab, netnsUnavailable } from '../helpers/netns.js';

interface Line {
  ev: string;
  link?: number;
  node?: number;
  healthy?: boolean;
  lastSeq?: number;
  error?: string;
  senders?: Record<string, { count: number; max: number; missing: number[]; duplicates: number }>;
}

describe('IPv6 links in network namespaces', () => {
  it('udpu and mcast over IPv6: both links turn healthy and every streamed message arrives once', async (t) => {
    const reason = await netnsUnavailable();
    if (reason !== undefined) return t.skip(reason);
    const lab = new NetnsLab();
    try {
      const ids = [1, 2];
      const ns = [await lab.addNamespace('a'), await lab.addNamespace('b')];
      for (let link = 0; link < 2; link++) {
        await lab.addVeth(ns[0]!, lab.name(`a${link}`), ns[1]!, lab.name(`b${link}`));
        for (const id of ids) await lab.addAddress(ns[id - 1]!, lab.name(`${id === 1 ? 'a' : 'b'}${link}`), `fd77:${link}::${id}/64`);
      }
      const keyHex = randomBytes(32).toString('hex');
      const nodes = ids.map((id) => ({ id, addrs: [`fd77:0::${id}`, `fd77:1::${id}`] }));
      const script = fileURLToPath(new URL('./netns-node.js', import.meta.url));
      const children = ids.map((id) => {
        const config = {
          nodeId: id,
          keyHex,
          nodes,
          links: [
            { mode: 'udpu', bindAddr: `fd77:0::${id}`, port: 5405 },
            { mode: 'mcast', bindAddr: `fd77:1::${id}`, port: 5407, mcastAddr: 'ff15::5a:1', ttl: 1 },
          ],
        };
        const child = lab.spawn(ns[id - 1]!, [process.execPath, script, JSON.stringify(config)]);
        return { id, child, out: new JsonLines<Line>(child.stdout) };
      });
      for (const { id, out } of children) {
        const ready = await out.waitFor(`node ${id} ready`, (line) => line.ev === 'ready' || line.ev === 'fatal', 10_000);
        assert.equal(ready.ev, 'ready', `node ${id}: ${ready.error}`);
      }
      for (const { id, out } of children) {
        for (let link = 0; link < 2; link++) {
          await out.waitFor(`node ${id}: link ${link} healthy`, (line) => line.ev === 'link' && line.link === link && line.healthy === true, 5000);
        }
      }
      for (const { child } of children) child.stdin.write(`${JSON.stringify({ cmd: 'stream', intervalMs: 2 })}\n`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lastSeq = new Map<number, number>();
      for (const { id, child, out } of children) {
        const mark = out.lines.length;
        child.stdin.write(`${JSON.stringify({ cmd: 'stop' })}\n`);
        lastSeq.set(id, (await out.waitFor('stopped', (line) => line.ev === 'stopped', 2000, mark)).lastSeq!);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const { id, child, out } of children) {
        const mark = out.lines.length;
        child.stdin.write(`${JSON.stringify({ cmd: 'summary' })}\n`);
        const summary = await out.waitFor('summary', (line) => line.ev === 'summary', 2000, mark);
        const other = id === 1 ? 2 : 1;
        const got = summary.senders![String(other)]!;
        assert.ok(lastSeq.get(other)! > 50);
        assert.deepEqual(got, { count: lastSeq.get(other), max: lastSeq.get(other), missing: [], duplicates: 0 });
      }
      for (const { child } of children) child.stdin.end(`${JSON.stringify({ cmd: 'exit' })}\n`);
    } finally {
      await lab.cleanup();
    }
  });
});
