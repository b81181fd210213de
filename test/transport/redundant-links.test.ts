/**
 * Redundant links on real kernels: three nodes, each in its own network namespace, joined by TWO
 * separate bridges (link 0: udpu on 10.231.0.0/24, link 1: mcast 239.192.77.1 on 10.232.0.0/24),
 * both bridges in a fourth "switch" namespace. Nothing exists in the host namespace and nothing
 * has a route out, so no packet can leave the lab.
 *
 * Each node runs netns-node.js in a child process and streams numbered messages to all. Taking
 * one node's interface on one link down must lose no message, must be reported as a faulty link,
 * and bringing it back up must be reported as healthy again.
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { JsonLines, NetnsLab, netnsUnavailable } from '../helpers/netns.js';

const IDS = [1, 2, 3] as const;
const LINK_COUNT = 2;
const STREAM_INTERVAL_MS = 2;
const DETECT_LIMIT_MS = 4000;
const RECOVER_LIMIT_MS = 6000;

interface Line {
  ev: string;
  link?: number;
  node?: number;
  healthy?: boolean;
  atMs?: number;
  lastSeq?: number;
  senders?: Record<string, { count: number; max: number; missing: number[]; duplicates: number }>;
  stats?: { links: { link: number; sendErrors: number; sendErrorsByCode: Record<string, number>; tx: number; rx: number }[] };
  error?: string;
}

interface Child {
  id: number;
  ns: string;
  process: ChildProcessWithoutNullStreams;
  out: JsonLines<Line>;
  stderr: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ifname = (lab: NetnsLab, id: number, link: number) => lab.name(`n${id}l${link}`);

describe('redundant links in network namespaces', () => {
  let skipReason: string | undefined;
  let lab: NetnsLab | undefined;
  const children = new Map<number, Child>();

  before(async () => {
    skipReason = await netnsUnavailable();
    if (skipReason !== undefined) return;
    lab = new NetnsLab();
    try {
      const sw = await lab.addNamespace('sw');
      for (let link = 0; link < LINK_COUNT; link++) await lab.addBridge(sw, lab.name(`b${link}`));
      const keyHex = randomBytes(32).toString('hex');
      const nodes = IDS.map((id) => ({ id, addrs: [`10.231.0.${id}`, `10.232.0.${id}`] }));
      for (const id of IDS) {
        const ns = await lab.addNamespace(`n${id}`);
        for (let link = 0; link < LINK_COUNT; link++) {
          const port = lab.name(`s${id}l${link}`);
          await lab.addVeth(ns, ifname(lab, id, link), sw, port);
          await lab.attach(sw, port, lab.name(`b${link}`));
          await lab.addAddress(ns, ifname(lab, id, link), `${nodes[id - 1]!.addrs[link]}/24`);
        }
        const config = {
          nodeId: id,
          keyHex,
          nodes,
          links: [
            { mode: 'udpu', bindAddr: `10.231.0.${id}`, port: 5405 },
            { mode: 'mcast', bindAddr: `10.232.0.${id}`, port: 5407, mcastAddr: '239.192.77.1', ttl: 1 },
          ],
        };
        const script = fileURLToPath(new URL('./netns-node.js', import.meta.url));
        const child = lab.spawn(ns, [process.execPath, script, JSON.stringify(config)]);
        const entry: Child = { id, ns, process: child, out: new JsonLines<Line>(child.stdout), stderr: [] };
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => entry.stderr.push(chunk));
        children.set(id, entry);
      }
      for (const child of children.values()) {
        const ready = await child.out.waitFor(`node ${child.id} ready`, (line) => line.ev === 'ready' || line.ev === 'fatal', 10_000);
        if (ready.ev === 'fatal') throw new Error(`node ${child.id} failed to start: ${ready.error}`);
      }
      // Every (peer, link) healthy everywhere before any fault is injected.
      for (const child of children.values()) {
        for (const peer of IDS.filter((id) => id !== child.id)) {
          for (let link = 0; link < LINK_COUNT; link++) {
            await child.out.waitFor(
              `node ${child.id}: link ${link} to node ${peer} healthy`,
              (line) => line.ev === 'link' && line.node === peer && line.link === link && line.healthy === true,
              5000,
            );
          }
        }
      }
    } catch (error) {
      const details = [...children.values()].map((child) => `node ${child.id} stderr: ${child.stderr.join('')}`).join('\n');
      await lab.cleanup();
      throw new Error(`lab setup failed: ${(error as Error).message}\n${details}`, { cause: error });
    }
  });

  after(async () => {
    for (const child of children.values()) child.process.stdin.end(`${JSON.stringify({ cmd: 'exit' })}\n`);
    await lab?.cleanup();
  });

  function send(child: Child, command: Record<string, unknown>): void {
    child.process.stdin.write(`${JSON.stringify(command)}\n`);
  }

  /** Streams from every node, takes `link` down on node `victim`, then up again, and checks. */
  async function cutAndRestore(t: TestContext, link: number, victim: number): Promise<void> {
    const all = [...children.values()];
    const marks = new Map(all.map((child) => [child.id, child.out.lines.length]));
    for (const child of all) send(child, { cmd: 'reset' });
    await Promise.all(all.map((child) => child.out.waitFor('reset', (line) => line.ev === 'reset', 2000, marks.get(child.id))));
    for (const child of all) send(child, { cmd: 'stream', intervalMs: STREAM_INTERVAL_MS });
    await sleep(300);

    // Fault: every (victim, other) pair must be seen faulty on `link`, from both sides.
    const downMarks = new Map(all.map((child) => [child.id, child.out.lines.length]));
    const downAtMs = performance.now();
    await lab!.setLink(children.get(victim)!.ns, ifname(lab!, victim, link), 'down');
    const pairs = IDS.filter((id) => id !== victim).flatMap((other) => [
      [victim, other],
      [other, victim],
    ]);
    const waitHealth = (healthy: boolean, limitMs: number, marksAt: Map<number, number>) =>
      Promise.all(
        pairs.map(([observer, peer]) =>
          children
            .get(observer!)!
            .out.waitFor(
              `node ${observer}: link ${link} to node ${peer} ${healthy ? 'healthy' : 'faulty'}`,
              (line) => line.ev === 'link' && line.link === link && line.node === peer && line.healthy === healthy,
              limitMs,
              marksAt.get(observer!),
            ),
        ),
      );
    await waitHealth(false, DETECT_LIMIT_MS, downMarks);
    const detectedMs = performance.now() - downAtMs;
    // The other link must never have been reported faulty meanwhile.
    for (const child of all) {
      const flaps = child.out.lines.slice(marks.get(child.id)).filter((line) => line.ev === 'link' && line.link !== link && line.healthy === false);
      assert.deepEqual(flaps, [], `node ${child.id} reported the surviving link faulty`);
    }
    await sleep(300);

    const upMarks = new Map(all.map((child) => [child.id, child.out.lines.length]));
    const upAtMs = performance.now();
    await lab!.setLink(children.get(victim)!.ns, ifname(lab!, victim, link), 'up');
    await waitHealth(true, RECOVER_LIMIT_MS, upMarks);
    const recoveredMs = performance.now() - upAtMs;
    await sleep(200);

    const stopMarks = new Map(all.map((child) => [child.id, child.out.lines.length]));
    for (const child of all) send(child, { cmd: 'stop' });
    const lastSeq = new Map<number, number>();
    for (const child of all) {
      const stopped = await child.out.waitFor('stopped', (line) => line.ev === 'stopped', 2000, stopMarks.get(child.id));
      lastSeq.set(child.id, stopped.lastSeq!);
    }
    // Let the last datagrams land.
    await sleep(300);
    const summaryMarks = new Map(all.map((child) => [child.id, child.out.lines.length]));
    for (const child of all) send(child, { cmd: 'summary' });
    for (const child of all) {
      const summary = await child.out.waitFor('summary', (line) => line.ev === 'summary', 2000, summaryMarks.get(child.id));
      for (const sender of IDS.filter((id) => id !== child.id)) {
        const got = summary.senders![String(sender)];
        const sent = lastSeq.get(sender)!;
        assert.ok(sent > 100, `node ${sender} streamed only ${sent} messages`);
        assert.deepEqual(
          { count: got?.count, max: got?.max, missing: got?.missing, duplicates: got?.duplicates },
          { count: sent, max: sent, missing: [], duplicates: 0 },
          `node ${child.id} from node ${sender}: every message exactly once`,
        );
      }
      if (child.id === victim) {
        const errors = summary.stats!.links[link]!;
        t.diagnostic(`node ${victim} link ${link} send errors while down: ${JSON.stringify(errors.sendErrorsByCode)}`);
      }
    }
    t.diagnostic(
      `link ${link} on node ${victim}: faulty seen on both sides after ${Math.round(detectedMs)} ms, healthy again after ${Math.round(recoveredMs)} ms; ` +
        `messages per sender: ${[...lastSeq.entries()].map(([id, n]) => `${id}:${n}`).join(' ')}`,
    );
  }

  it('link 0 (udpu) down on node 1: no message lost, link 0 reported faulty, then healthy once it is up again', async (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    await cutAndRestore(t, 0, 1);
  });

  it('link 1 (mcast) down on node 2: no message lost, link 1 reported faulty, then healthy once it is up again', async (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    await cutAndRestore(t, 1, 2);
  });
});
