/**
 * One totem node in its own OS process, driven over stdin/stdout with JSON lines. Used by the
 * real-process tests and by bench/totem.ts, so both measure the same thing.
 *
 * stdout events: {ev:'ready'} {ev:'view', seq, rep, members, atMs (epoch ms, comparable across processes)} {ev:'digest', delivered, hash}
 *                {ev:'sent', count} {ev:'latency', samplesMs:[…]} {ev:'stall', lateMs}
 *                {ev:'load', sent, refused, samplesMs:[…]} {ev:'cpu', userMs, systemMs, rssBytes}
 * stdin commands: {cmd:'broadcast', count, size} {cmd:'digest'} {cmd:'leave'} {cmd:'latency', count, size, intervalMs}
 *                 {cmd:'load', rate, durationMs, size} (paced broadcasts, latency of each) {cmd:'cpu'}
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { TotemRuntime } from '../../lib/runtime/totem-runtime.js';

export interface TotemProcessConfig {
  nodeId: number;
  nodes: { id: number; addrs: string[] }[];
  port: number;
  stateDir: string;
  profile: 'lan' | 'fast' | 'wan';
  key?: string; // hex; insecure when absent (tests only)
  /** ClusterNet's bundling (default on); off measures one datagram per message, as before it. */
  bundle?: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as TotemProcessConfig;

function emit(event: object): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const me = config.nodes.find((n) => n.id === config.nodeId);
if (me === undefined) throw new Error(`node ${config.nodeId} is not in the node list`);

const runtime = await TotemRuntime.start({
  nodeId: config.nodeId,
  stateDir: config.stateDir,
  profile: config.profile,
  net: {
    wire: {
      cluster: 'totem-test',
      security: config.key === undefined ? { mode: 'insecure' } : { mode: 'secure', key: Buffer.from(config.key, 'hex') },
    },
    links: [{ mode: 'udpu', bindAddr: me.addrs[0]!, port: config.port }],
    nodes: config.nodes,
    ...(config.bundle === undefined ? {} : { bundle: config.bundle }),
  },
});

const digest = createHash('sha256');
let delivered = 0;
const LATENCY_MAGIC = 0x6c617463; // 'latc'
const latencyStartedMs = new Map<number, number>();
const latencySamplesMs: number[] = [];
let latencyWanted = 0;
const LOAD_MAGIC = 0x6c6f6164; // 'load'
let loadStartedMs: Float64Array | undefined;
const loadSamplesMs: number[] = [];

runtime.on('view', (view) => {
  emit({ ev: 'view', seq: view.id.seq, rep: view.id.rep, members: view.members, atMs: performance.timeOrigin + performance.now() });
});
runtime.on('stall', (stall) => emit({ ev: 'stall', lateMs: stall.lateMs }));
runtime.on('deliver', (d) => {
  delivered += 1;
  digest.update(`${d.sender}/${d.senderIncarnation}/${d.msgId}/`);
  digest.update(d.payload);
  // Latency probes carry a magic prefix and their number: a message can be delivered inside the
  // broadcast() call itself (when this node holds the token), before any id is returned.
  const bytes = Buffer.from(d.payload.buffer, d.payload.byteOffset, d.payload.byteLength);
  if (d.sender === config.nodeId && bytes.length >= 12 && bytes.readUInt32BE(0) === LATENCY_MAGIC) {
    const started = latencyStartedMs.get(bytes.readUInt32BE(4));
    if (started !== undefined) {
      latencySamplesMs.push(performance.now() - started);
      if (latencySamplesMs.length === latencyWanted) emit({ ev: 'latency', samplesMs: latencySamplesMs.splice(0) });
    }
  } else if (d.sender === config.nodeId && loadStartedMs !== undefined && bytes.length >= 8 && bytes.readUInt32BE(0) === LOAD_MAGIC) {
    const started = loadStartedMs[bytes.readUInt32BE(4)];
    if (started !== undefined) loadSamplesMs.push(performance.now() - started);
  }
});

/**
 * Broadcasts at `rate` messages/s for `durationMs` (catching up each millisecond, as a steady
 * producer would), then reports the latency from broadcast() to this node's own delivery of
 * every message. A refusal (queue full) is counted, not retried: the load is what was offered.
 */
async function runLoad(rate: number, durationMs: number, size: number): Promise<void> {
  const total = Math.floor((rate * durationMs) / 1000);
  loadStartedMs = new Float64Array(total);
  loadSamplesMs.length = 0;
  const payload = Buffer.alloc(Math.max(8, size), 9);
  payload.writeUInt32BE(LOAD_MAGIC, 0);
  let sent = 0;
  let refused = 0;
  const startMs = performance.now();
  while (sent + refused < total) {
    const due = Math.min(total, Math.floor(((performance.now() - startMs) * rate) / 1000));
    while (sent + refused < due) {
      payload.writeUInt32BE(sent + refused, 4);
      loadStartedMs[sent + refused] = performance.now();
      // The runtime keeps the payload until it is sent: each message needs its own copy.
      if (runtime.broadcast(Buffer.from(payload)).ok) sent += 1;
      else refused += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const deadline = performance.now() + 10_000;
  while (loadSamplesMs.length < sent && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  emit({ ev: 'load', sent, refused, samplesMs: loadSamplesMs.splice(0) });
  loadStartedMs = undefined;
}

/** Queue `count` messages, waiting whenever the send queue is full (flow control pushes back). */
async function broadcastMany(count: number, size: number): Promise<void> {
  const payload = Buffer.alloc(size, config.nodeId);
  let sent = 0;
  while (sent < count) {
    const result = runtime.broadcast(payload);
    if (result.ok) {
      sent += 1;
    } else if (result.reason === 'queue-full') {
      await new Promise((resolve) => setTimeout(resolve, 2));
    } else {
      break;
    }
  }
  emit({ ev: 'sent', count: sent });
}

async function measureLatency(count: number, size: number, intervalMs: number): Promise<void> {
  latencyWanted = count;
  latencyStartedMs.clear();
  for (let i = 0; i < count; i += 1) {
    const payload = Buffer.alloc(Math.max(12, size), 7);
    payload.writeUInt32BE(LATENCY_MAGIC, 0);
    payload.writeUInt32BE(i, 4);
    latencyStartedMs.set(i, performance.now());
    runtime.broadcast(payload);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as { cmd: string; count?: number; size?: number; intervalMs?: number; rate?: number; durationMs?: number };
  switch (command.cmd) {
    case 'broadcast':
      void broadcastMany(command.count ?? 1, command.size ?? 64);
      break;
    case 'latency':
      void measureLatency(command.count ?? 100, command.size ?? 64, command.intervalMs ?? 5);
      break;
    case 'load':
      void runLoad(command.rate ?? 1000, command.durationMs ?? 1000, command.size ?? 64);
      break;
    case 'cpu': {
      const cpu = process.cpuUsage();
      emit({ ev: 'cpu', userMs: cpu.user / 1000, systemMs: cpu.system / 1000, rssBytes: process.memoryUsage.rss() });
      break;
    }
    case 'digest':
      emit({ ev: 'digest', delivered, hash: digest.copy().digest('hex') });
      break;
    case 'leave':
      void runtime.leave().then(() => process.exit(0));
      break;
    default:
      emit({ ev: 'error', message: `unknown command ${command.cmd}` });
  }
});
lines.on('close', () => void runtime.close().then(() => process.exit(0)));
emit({ ev: 'ready', incarnation: runtime.incarnation });
