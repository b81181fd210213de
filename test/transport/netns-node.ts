/**
 * One ClusterNet in its own process, driven by a test over stdin/stdout lines of JSON (not a test
 * file itself). Started inside a network namespace by redundant-links.test.ts:
 *
 *   ip netns exec NS node netns-node.js '<config json>'
 *
 * Config: { nodeId, keyHex, links, nodes, linkPingMs?, linkTimeoutMs? }.
 * Commands in:  {cmd:'stream', intervalMs} | {cmd:'stop'} | {cmd:'summary'} | {cmd:'reset'} |
 *               {cmd:'status'} | {cmd:'exit'}
 * Events out:   {ev:'ready'} | {ev:'link', link, node, healthy, atMs} | {ev:'stopped', lastSeq} |
 *               {ev:'summary', senders, stats} | {ev:'status', links} | {ev:'fatal', error}
 *
 * Streaming sends {seq} to 'all' every intervalMs, numbered from 1 after each 'reset'. The
 * summary says, per sender, how many distinct numbers arrived, the highest, the gaps and the
 * duplicates, so the test can prove no message was lost or doubled.
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { ClusterNet, type ClusterNetOptions } from '../../lib/transport/index.js';

interface Config {
  nodeId: number;
  keyHex: string;
  links: ClusterNetOptions['links'];
  nodes: ClusterNetOptions['nodes'];
  linkPingMs?: number;
  linkTimeoutMs?: number;
}

/** A child outliving its test would be a leak; no test needs it longer than this. */
const MAX_LIFETIME_MS = 120_000;
const MAX_MISSING_LISTED = 50;

class SenderLog {
  readonly seen = new Set<number>();
  max = 0;
  duplicates = 0;
  note(seq: number): void {
    if (this.seen.has(seq)) this.duplicates += 1;
    this.seen.add(seq);
    if (seq > this.max) this.max = seq;
  }
  summary() {
    const missing: number[] = [];
    for (let seq = 1; seq <= this.max && missing.length < MAX_MISSING_LISTED; seq++) if (!this.seen.has(seq)) missing.push(seq);
    return { count: this.seen.size, max: this.max, missing, duplicates: this.duplicates };
  }
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as Config;
  const net = await ClusterNet.open({
    wire: {
      cluster: 'netns-test',
      nodeId: config.nodeId,
      // Wall clock only to make incarnations grow across restarts, as the runtime would.
      incarnation: Date.now(),
      security: { mode: 'secure', key: Buffer.from(config.keyHex, 'hex') },
      knownNodes: config.nodes.map((node) => node.id),
    },
    links: config.links,
    nodes: config.nodes,
    linkPingMs: config.linkPingMs,
    linkTimeoutMs: config.linkTimeoutMs,
  });
  let senders = new Map<number, SenderLog>();
  let seq = 0;
  let streamTimer: NodeJS.Timeout | undefined;
  const startMs = performance.now();

  net.on('message', (from, message) => {
    const value = (message as { seq?: unknown } | null)?.seq;
    if (typeof value !== 'number') return;
    let log = senders.get(from);
    if (log === undefined) senders.set(from, (log = new SenderLog()));
    log.note(value);
  });
  net.on('link', (_status, change) => emit({ ev: 'link', ...change, atMs: Math.round(performance.now() - startMs) }));

  const lifetime = setTimeout(() => void shutdown(3), MAX_LIFETIME_MS);
  async function shutdown(code: number): Promise<void> {
    clearTimeout(lifetime);
    if (streamTimer !== undefined) clearInterval(streamTimer);
    await net.close();
    process.exit(code);
  }

  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    let command: { cmd?: string; intervalMs?: number };
    try {
      command = JSON.parse(line) as typeof command;
    } catch {
      return;
    }
    switch (command.cmd) {
      case 'stream':
        if (streamTimer !== undefined) clearInterval(streamTimer);
        streamTimer = setInterval(() => net.send({ seq: ++seq }, 'all'), Math.max(1, command.intervalMs ?? 5));
        return;
      case 'stop':
        if (streamTimer !== undefined) clearInterval(streamTimer);
        streamTimer = undefined;
        emit({ ev: 'stopped', lastSeq: seq });
        return;
      case 'reset':
        senders = new Map();
        seq = 0;
        emit({ ev: 'reset' });
        return;
      case 'summary': {
        const summary: Record<string, ReturnType<SenderLog['summary']>> = {};
        for (const [from, log] of senders) summary[from] = log.summary();
        const stats = net.stats();
        emit({ ev: 'summary', senders: summary, stats: { links: stats.links, dropped: stats.wire.dropped, listenerErrors: stats.listenerErrors } });
        return;
      }
      case 'status':
        emit({ ev: 'status', links: net.linkStatus() });
        return;
      case 'exit':
        void shutdown(0);
        return;
    }
  });
  // The parent went away: do not linger in the namespace.
  input.on('close', () => void shutdown(0));
  emit({ ev: 'ready', local: net.localEndpoints });
}

main().catch((error: unknown) => {
  emit({ ev: 'fatal', error: String(error), code: (error as { code?: string }).code });
  process.exit(2);
});
